"""What the confidences cost: parse time with and without the CRF posterior, side by side in one run.

    python -m experiments.bench.confidence_cost [--out reports/confidence/cost.json]

In process, two predictors over the same model directory (``confidences`` on and off) parse the same
utterances alternately at batch 1; over HTTP, two real servers (ELMOL_SLOT_CONFIDENCE true and false)
pinned to the same CPU answer alternate sequential ``POST /parse`` requests from a client on another CPU,
and their server-side times (``X-Process-Time-Ms``) are compared. Alternating makes both see the same
machine noise; the ratio of medians is the figure (the issue's bound: at most 1.10).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import httpx

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime import Predictor
from experiments.bench.corpus import DEFAULT_DATA, load_texts, take
from experiments.bench.over_http import pinning, send
from experiments.bench.process import serve
from experiments.bench.report import context
from experiments.bench.stats import summarize

log = logging.getLogger("bench.confidence_cost")
MAX_RATIO = 1.10


def in_process(model_dir: Path, texts: list[str], n: int, warmup: int) -> dict:
    predictors = {on: Predictor.load(model_dir, precision="auto", confidences=on) for on in (True, False)}
    timings: dict[bool, list[float]] = {True: [], False: []}
    for i, text in enumerate(take(texts, warmup + n)):
        for on in ((True, False) if i % 2 else (False, True)):  # alternate who goes first
            started = time.perf_counter()
            predictors[on].parse(text)
            if i >= warmup:
                timings[on].append(1000 * (time.perf_counter() - started))
    return {"with": summarize(timings[True]), "without": summarize(timings[False]),
            "precision": predictors[True].precision}


def over_http(model_dir: Path, texts: list[str], n: int, warmup: int, server_cpu: int, client_cpu: int) -> dict:
    server_cpus, client_cpus = pinning(server_cpu, client_cpu)
    before = os.sched_getaffinity(0)
    timings: dict[bool, list[float]] = {True: [], False: []}
    with (serve(model_dir, 1, server_cpus, env={"ELMOL_SLOT_CONFIDENCE": "true"}) as with_url,
          serve(model_dir, 1, server_cpus, env={"ELMOL_SLOT_CONFIDENCE": "false"}) as without_url,
          httpx.Client(base_url=with_url, timeout=10.0) as with_client,
          httpx.Client(base_url=without_url, timeout=10.0) as without_client):
        clients = {True: with_client, False: without_client}
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        try:
            for i, text in enumerate(take(texts, warmup + n)):
                for on in ((True, False) if i % 2 else (False, True)):
                    server_ms, _ = send(clients[on], text)
                    if i >= warmup:
                        timings[on].append(server_ms)
        finally:
            os.sched_setaffinity(0, before)
    return {"with": summarize(timings[True]), "without": summarize(timings[False]),
            "server_cpus": sorted(server_cpus or []), "client_cpus": sorted(client_cpus or [])}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.confidence_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path("reports/confidence/cost.json"))
    p.add_argument("--seed", type=int, default=0, help="order of the utterances")
    p.add_argument("--n", type=int, default=2000, help="timed parses of each kind, in process and over HTTP")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    texts = load_texts(args.data, args.seed)
    result = context(load_manifest(args.model_dir))
    result["in_process"] = in_process(args.model_dir, texts, args.n, args.warmup)
    result["http_server_side"] = over_http(args.model_dir, texts, args.n, args.warmup, args.server_cpu,
                                           args.client_cpu)
    print(f"{'batch 1, ms':<24}{'p50 with':>10}{'p50 without':>13}{'ratio':>8}{'p99 with':>10}{'p99 without':>13}")
    for name in ("in_process", "http_server_side"):
        w, wo = result[name]["with"], result[name]["without"]
        result[name]["p50_ratio"] = w["p50"] / wo["p50"]
        result[name]["within_bound"] = result[name]["p50_ratio"] <= MAX_RATIO
        print(f"{name:<24}{w['p50']:>10.3f}{wo['p50']:>13.3f}{result[name]['p50_ratio']:>8.3f}{w['p99']:>10.3f}"
              f"{wo['p99']:>13.3f}")
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return result


if __name__ == "__main__":
    main()
