"""Server-side processing time of one utterance at low load, in process and over HTTP, in one run.

    python -m experiments.bench.latency [--out reports/latency.json]

A benchmark, not a test: it prints percentiles and the ratio to the latency targets and writes JSON;
it fails only if something cannot run. Numbers depend on what else the machine is doing (see loadavg).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.inprocess import run_inprocess
from experiments.bench.over_http import run_http
from experiments.bench.report import context, ratios, table

log = logging.getLogger("bench.latency")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--out", type=Path, default=Path("reports/latency.json"))
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MASSIVE JSON lines; the test partition is used")
    p.add_argument("--seed", type=int, default=0, help="order of the utterances")
    p.add_argument("--n", type=int, default=2000, help="timed in-process parse calls per thread count")
    p.add_argument("--http-n", type=int, default=1000, help="timed HTTP requests; 0 skips the HTTP part")
    p.add_argument("--warmup", type=int, default=200, help="untimed calls before each measurement")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="onnxruntime threads, in process")
    p.add_argument("--precisions", nargs="+", default=["int8", "fp32"], choices=["fp32", "int8"],
                   help="model graphs to time in process, the served one first; int8 only if the model has it")
    p.add_argument("--batch-sizes", type=int, nargs="*", default=[8, 32])
    p.add_argument("--server-threads", type=int, default=1, help="onnxruntime threads of the HTTP server")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    result = context(load_manifest(args.model_dir))
    result["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    texts = load_texts(args.data, args.seed)
    log.info("%d MASSIVE test utterances from %s", len(texts), args.data)
    manifest = load_manifest(args.model_dir, verify=False)
    precisions = [p for p in args.precisions if manifest.precision_available(p)]
    result["inprocess"] = [run_inprocess(args.model_dir, texts, t, args.n, args.warmup, args.batch_sizes, p)
                           for p in precisions for t in args.threads]
    single = result["inprocess"][0]["single"]["all"]
    result["targets"] = {f"in-process {precisions[0]} T={args.threads[0]}": ratios(single["p50"], single["p99"])}
    if args.http_n > 0:
        http = run_http(args.model_dir, texts, args.http_n, args.warmup, args.server_threads,
                        args.server_cpu, args.client_cpu)
        result["http"] = http
        result["targets"]["HTTP server-side"] = ratios(http["server_ms"]["p50"], http["server_ms"]["p99"])
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request at INFO: noise, and time spent inside the measured client loop.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args = parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)
    print(table(result))


if __name__ == "__main__":
    main()
