"""Where a served request's time goes: py-spy samples the real server under a Poisson load.

    python -m experiments.bench.profile_server --target int8-loop --rate 170 --seconds 15

Starts ``python -m service`` with a target's settings (those of ``bench.server``) on ``--server-cpu``,
sends Poisson arrivals at ``--rate``/s from ``--client-cpu`` while ``py-spy record`` (the ``profile``
extra) samples the server at 1 kHz, then prints the busy time per request and its share by part
(onnxruntime per session, CRF, the rest of the predictor, the HTTP stack), from the inclusive samples of
the frames named below. Shares overlap only where one part calls another (none of those listed do).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import open_loop
from experiments.bench.process import serve_command, service_command
from experiments.bench.server import TARGETS

log = logging.getLogger("bench.profile_server")

# part -> frames whose inclusive samples it counts (function names as py-spy prints them)
PARTS = {
    "onnxruntime: language-model encoder and NLU heads": ("heads_outputs", "Encoder.encode"),
    "CRF: Viterbi and posteriors": ("ViterbiDecoder.decode", "CRFPosterior.posterior",
                                    "CRFPosterior.span_probability", "CRFPosterior.sequence_probability"),
    "whole predictor (the two above included)": ("Predictor.parse_batch",),
    "HTTP stack: uvicorn, Starlette, FastAPI, middleware": ("RequestResponseCycle.run_asgi",),
}


def inclusive(raw: Path) -> tuple[int, collections.Counter]:
    """Samples in all, and per function name (each counted once per stack)."""
    total, counts = 0, collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        total += int(n)
        counts.update({frame.split(" (")[0]: int(n) for frame in set(stack.split(";"))})
    return total, counts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.profile_server", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--target", default="int8", choices=[t for t in TARGETS if t != "bare"])
    p.add_argument("--rate", type=float, default=170.0, help="requests/s (Poisson)")
    p.add_argument("--seconds", type=float, default=15.0, help="sampled seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("py-spy not found: pip install -e '.[profile]'")
    os.sched_setaffinity(0, {args.client_cpu})
    texts = load_texts(DEFAULT_DATA, args.seed)
    precision, env = TARGETS[args.target]
    command = lambda port: service_command(args.model_dir, 1, port, precision)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp, serve_command(command, {args.server_cpu}, env=env) as (url, pid):
        asyncio.run(open_loop(url, texts, args.rate, 3.0, seed=args.seed))  # warm caches and connections
        raw = Path(tmp) / "samples.txt"
        spy = subprocess.Popen([py_spy, "record", "-p", str(pid), "-r", "1000", "-d", str(int(args.seconds)),
                                "-f", "raw", "-o", str(raw), "--nonblocking"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        outcomes = asyncio.run(open_loop(url, texts, args.rate, args.seconds, seed=args.seed + 1))
        if spy.wait(timeout=60) != 0 or not raw.exists():
            raise SystemExit("py-spy failed (it needs ptrace: root, or kernel.yama.ptrace_scope=0)")
        total, counts = inclusive(raw)
    served = sum(o.status == 200 for o in outcomes)
    print(f"\n{args.target} at {args.rate:g}/s for {args.seconds:g} s: {served} of {len(outcomes)} answered 200; "
          f"server busy {total} ms of samples = {total / max(served, 1):.2f} ms per answered request\n")
    print("| part | share of busy time | ms per request |\n|---|---|---|")
    for part, frames in PARTS.items():
        n = sum(counts[f] for f in frames)
        print(f"| {part} | {100 * n / total:.0f}% | {n / max(served, 1):.2f} |")
    rest = total - sum(counts[f] for f in (*PARTS["whole predictor (the two above included)"],
                                           *PARTS["HTTP stack: uvicorn, Starlette, FastAPI, middleware"]))
    print(f"| the rest: event loop, HTTP parsing, batcher scheduling, threads | {100 * rest / total:.0f}% | "
          f"{rest / max(served, 1):.2f} |")


if __name__ == "__main__":
    main()
