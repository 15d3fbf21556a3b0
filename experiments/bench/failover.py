"""Requests lost while replicas stop and start behind HAProxy (compose profile ``scale``), with and without drain.

    python -m experiments.bench.failover                    # ELMOL_DRAIN_S 0 and 3, 15 stop/start cycles each
    python -m experiments.bench.failover --drain 3 --cycles 40

For each drain setting the profile comes up with 2 replicas (a 1 s latency budget, so that sheds on a busy
machine do not blur the count), then, ``--cycles`` times, one replica (alternately) is stopped and started
while one client sends ``/parse`` back to back on one kept-alive connection through HAProxy, and for a few
seconds after each. Prints, per setting, the requests sent and those not answered 200, by status (0: no
answer at all). A benchmark of a race: a zero is a rate, not a bound.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.replicas import scale_stack

log = logging.getLogger("bench.failover")


def status(client: httpx.Client, text: str) -> int:
    try:
        return client.post("/parse", json={"text": text}).status_code
    except httpx.HTTPError:
        return 0


def while_running(client: httpx.Client, texts: list[str], command: list[str], after_s: float) -> list[int]:
    """Statuses of requests sent back to back while ``command`` runs, then for ``after_s`` seconds."""
    out: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(subprocess.run, command, capture_output=True, text=True, timeout=60)
        while not running.done():
            out.append(status(client, texts[len(out) % len(texts)]))
    if running.result().returncode != 0:
        raise RuntimeError(f"{command} failed: {running.result().stderr}")
    until = time.monotonic() + after_s
    while time.monotonic() < until:
        out.append(status(client, texts[len(out) % len(texts)]))
    return out


def run(drain_s: str, cycles: int, texts: list[str]) -> Counter:
    settings = {"ELMOL_DRAIN_S": drain_s, "ELMOL_LATENCY_BUDGET_MS": "1000"}
    with scale_stack(None, settings) as stack:
        replicas = stack.run("ps", "-q", "api").split()
        statuses: Counter = Counter()
        with httpx.Client(base_url=stack.url("lb", 8080), timeout=10) as client:
            for cycle in range(cycles):
                replica = replicas[cycle % 2]
                for command in (["docker", "stop", replica], ["docker", "start", replica]):
                    # after a start: long enough for HAProxy to take the replica back (DNS, then /ready)
                    statuses.update(while_running(client, texts, command, after_s=4.0))
                log.info("drain %s s, cycle %d/%d: %s", drain_s, cycle + 1, cycles, dict(statuses))
    return statuses


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.failover", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drain", nargs="+", default=["0", "3"], help="ELMOL_DRAIN_S values to compare")
    p.add_argument("--cycles", type=int, default=15, help="stop/start cycles per setting")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = load_texts(DEFAULT_DATA, 0)
    results = {d: run(d, args.cycles, texts) for d in args.drain}
    print(f"\n{args.cycles} stop/start cycles per setting, one client back to back through HAProxy\n")
    print("| ELMOL_DRAIN_S | requests | not 200 | by status (0: no answer) |\n|---|---|---|---|")
    for drain, statuses in results.items():
        bad = {s: n for s, n in sorted(statuses.items()) if s != 200}
        print(f"| {drain} | {sum(statuses.values())} | {sum(bad.values())} | {bad or '-'} |")


if __name__ == "__main__":
    main()
