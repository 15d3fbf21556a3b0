"""Soak: steady open-loop load for minutes while the server's memory and file descriptors are sampled.

    python -m experiments.bench.soak --minutes 10 --load 0.5

Finds the saturation with a short closed loop, then offers ``--load`` of it (Poisson arrivals) in
windows of ``--window`` seconds, sampling the server's RSS and open file descriptors after each.
Fails (exit 1) if RSS grew more than ``--max-rss-growth`` after the warm-up window, if descriptors grew,
or if any answer was other than 200 or the shedding 503. Writes ``reports/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import closed_loop, open_loop
from experiments.bench.over_http import pinning
from experiments.bench.process import serve_command, service_command
from experiments.bench.report import context
from experiments.bench.server import rss_mb

log = logging.getLogger("bench.soak")
SETTLE_S = 1.0  # after each window, for the server to close the generator's connections before we count fds


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def verdict(samples: list[dict], max_growth: float) -> dict:
    """Growth from the end of the first (warm-up) window to the end, and what failed."""
    warm, last = samples[0], samples[-1]
    statuses = Counter()
    for s in samples:
        statuses.update(s["status"])
    rss_growth = last["rss_mb"] / warm["rss_mb"] - 1
    fd_growth = last["fds"] - warm["fds"]
    bad = {k: v for k, v in statuses.items() if k not in ("200", "503")}
    failures = [f"RSS grew {100 * rss_growth:.1f}% (> {100 * max_growth:.0f}%)"] if rss_growth > max_growth else []
    failures += [f"{fd_growth} more file descriptors"] if fd_growth > 0 else []
    failures += [f"unexpected answers {bad}"] if bad else []
    return {"rss_growth": rss_growth, "fd_growth": fd_growth, "status": dict(statuses), "failures": failures}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--load", type=float, default=0.5, help="fraction of the measured saturation")
    p.add_argument("--window", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--max-rss-growth", type=float, default=0.05)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("reports/soak.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = load_texts(DEFAULT_DATA, 0)
    server_cpus, client_cpus = pinning(args.server_cpu, args.client_cpu)
    result = {**context(load_manifest(args.model_dir)), "args": {k: str(v) for k, v in vars(args).items()}}
    with serve_command(lambda port: service_command(args.model_dir, 1, port), server_cpus) as (url, pid):
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        _, saturation = asyncio.run(closed_loop(url, texts, 8, 5.0))
        rate = args.load * saturation
        log.info("saturation %.0f/s; soaking at %.0f/s for %.1f min", saturation, rate, args.minutes)
        samples = []
        for i in range(max(2, round(60 * args.minutes / args.window))):
            outcomes = asyncio.run(open_loop(url, texts, rate, args.window, seed=i))
            time.sleep(SETTLE_S)
            samples.append({"t_s": (i + 1) * args.window, "rss_mb": rss_mb(pid), "fds": open_fds(pid),
                            "status": dict(Counter(str(o.status) for o in outcomes))})
            log.info("%4.0f s: RSS %.1f MB, %d fds, %s", samples[-1]["t_s"], samples[-1]["rss_mb"],
                     samples[-1]["fds"], samples[-1]["status"])
    result.update(saturation_per_s=saturation, rate_per_s=rate, samples=samples,
                  verdict=verdict(samples, args.max_rss_growth))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    v = result["verdict"]
    print(f"RSS {samples[0]['rss_mb']:.1f} -> {samples[-1]['rss_mb']:.1f} MB ({100 * v['rss_growth']:+.1f}%), "
          f"fds {samples[0]['fds']} -> {samples[-1]['fds']}, answers {v['status']}")
    if v["failures"]:
        sys.exit("soak failed: " + "; ".join(v["failures"]))


if __name__ == "__main__":
    main()
