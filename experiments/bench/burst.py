"""A burst of many times capacity against the real server, with /health probed on its own connection.

    python -m experiments.bench.burst                  # where the model runs: threads, hybrid (default), loop; two each
    python -m experiments.bench.burst --targets int8-loop --bursts 3

5,000 /parse a second for a second (MASSIVE test utterances), and a /health probe every 0.1 s from
another thread and connection; the server is not pinned (as in ``tests/test_overload.py``, which asserts
on the same burst). Prints per burst the statuses, the answers served past the 50 ms budget and the
slowest /health probe.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import Outcome, open_loop
from experiments.bench.process import serve
from experiments.bench.server import BUDGET_MS, INT8_TARGETS, SCHEDULERS, TARGETS


def burst(base_url: str, rate: float = 5000, seconds: float = 1.0) -> tuple[Counter, list[Outcome], list[float]]:
    """(statuses, outcomes, /health probe times in s) of one burst."""
    texts = load_texts(DEFAULT_DATA, 0)[:500]
    probes: list[float] = []

    connected = threading.Event()

    def probe() -> None:  # in its own thread and connection: the generator's event loop is saturated
        with httpx.Client(base_url=base_url, timeout=10) as client:
            # connected before the flood, as a load balancer's health check keeps its connection: what is timed
            # is the server's answer, not the accept queue under a storm of new connections (a probe that
            # connected mid-storm once took 2.2 s for its first answer, then 2-3 ms for each of the next nine)
            client.get("/health").raise_for_status()
            connected.set()
            for _ in range(10):
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                probes.append(time.perf_counter() - started)
                time.sleep(0.1)

    with ThreadPoolExecutor(1) as pool:
        probing = pool.submit(probe)
        connected.wait(10)
        outcomes = asyncio.run(open_loop(base_url, texts, rate=rate, seconds=seconds))
        probing.result()
    return Counter(o.status for o in outcomes), outcomes, probes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.burst", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--targets", nargs="+", default=SCHEDULERS, choices=INT8_TARGETS,
                   help="bench.server's targets: the batcher settings")
    p.add_argument("--bursts", type=int, default=2)
    args = p.parse_args(argv)
    for name in args.targets:
        with serve(args.model_dir, threads=1, cpus=None, env=TARGETS[name][1]) as url:
            for _ in range(args.bursts):
                statuses, outcomes, probes = burst(url)
                late = sum(o.server_ms > BUDGET_MS for o in outcomes if o.status == 200)
                print(f"{name}: {dict(sorted(statuses.items()))}, {late} served past the budget, slowest /health "
                      f"{max(probes):.2f} s")
                time.sleep(3)  # the backlog drains


if __name__ == "__main__":
    main()
