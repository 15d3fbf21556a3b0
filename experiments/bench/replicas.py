"""Throughput through HAProxy over 1 and 2 replicas (compose profile ``scale``), and the latency HAProxy adds.

    python -m experiments.bench.replicas               # containers on any CPU
    python -m experiments.bench.replicas --cpuset 0    # containers confined to CPU 0 (the generator's too, by default)

The profile comes up once, with 2 replicas and every port published on an ephemeral 127.0.0.1 port. Each
round then measures, with a closed loop of ``--clients`` back-to-back senders for ``--seconds``: HAProxy over
both replicas; HAProxy over one (the other stopped, which HAProxy notices within 2 s); that replica
straight, without HAProxy. Rounds alternate so that the machine's drift spreads over all three. Then, with
one replica, Poisson arrivals at ``--rate``/s go straight to it and through HAProxy in turns: the difference
of their round trips is what HAProxy adds to a request. The generator runs on ``--client-cpu``. Prints
Markdown tables (medians over rounds, and each round); the stack is always taken down (images kept).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from elmol_nlu.paths import PROJECT_ROOT
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import Outcome, closed_loop, open_loop

REPO = PROJECT_ROOT
CONFIGS = ("HAProxy, 2 replicas", "HAProxy, 1 replica", "1 replica, no HAProxy")


class Stack:
    """``docker compose`` on the profile under a unique project name, with the override the benchmark needs."""

    def __init__(self, override: Path) -> None:
        self.project = f"elmol-bench-{secrets.token_hex(4)}"
        self.base = ["docker", "compose", "-p", self.project, "-f",
                     str(REPO / "docker-compose.yml"), "-f", str(override), "--profile", "scale"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ELMOL_", "COMPOSE_"))}

    def run(self, *args: str, timeout: float = 120) -> str:
        return subprocess.run([*self.base, *args], cwd=REPO, env=self.env, check=True, capture_output=True,
                              text=True, timeout=timeout).stdout

    def url(self, service: str, port: int, index: int = 1) -> str:
        return "http://" + self.run("port", "--index", str(index), service, str(port)).strip()


@contextmanager
def scale_stack(cpuset: str | None, settings: dict[str, str] | None = None) -> Iterator[Stack]:
    """The profile with 2 replicas, every port on an ephemeral 127.0.0.1 port; ``settings``: ELMOL_* for compose."""
    pin = [f'    cpuset: "{cpuset}"'] if cpuset else []
    override = ["services:", "  api:", *pin, "    ports:", '      - "127.0.0.1::8000"',
                "  lb:", *pin, "    ports: !override", '      - "127.0.0.1::8080"']
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "compose.bench.yml"
        path.write_text("\n".join(override) + "\n")
        stack = Stack(path)
        stack.env.update(settings or {})
        try:
            stack.run("up", "-d", "--build", "--wait", "--scale", "api=2", "lb", timeout=900)
            yield stack
        finally:
            subprocess.run([*stack.base, "down", "-v", "--remove-orphans"], cwd=REPO, env=stack.env,
                           capture_output=True, timeout=300)


def wait_served_by_both(lb: str, seconds: float = 30) -> None:
    """After a replica starts: until HAProxy has it back (in Docker's DNS, then its /ready checked each second)."""
    deadline = time.monotonic() + seconds
    while httpx.get(f"{lb}/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "HAProxy answers no /ready"
        time.sleep(0.5)
    time.sleep(5)  # the replica loads its model in about a second; HAProxy resolves and checks every second


def pct(ms: list[float], q: float) -> float:
    return float(np.percentile(ms, q)) if ms else math.nan


def throughput(url: str, texts: list[str], args: argparse.Namespace) -> dict:
    asyncio.run(closed_loop(url, texts, args.clients, 2.0))  # warm up connections and caches
    load = os.getloadavg()[0]
    outcomes, _ = asyncio.run(closed_loop(url, texts, args.clients, args.seconds))
    ok = [o.round_trip_ms for o in outcomes if o.status == 200]
    return {"ok_per_s": len(ok) / args.seconds, "shed": sum(o.status == 503 for o in outcomes) / len(outcomes),
            "other": sum(o.status not in (200, 503) for o in outcomes), "p50": pct(ok, 50), "p99": pct(ok, 99),
            "load": load}


def one_round(stack: Stack, texts: list[str], args: argparse.Namespace) -> dict[str, dict]:
    lb, second = stack.url("lb", 8080), f"{stack.project}-api-2"
    out = {CONFIGS[0]: throughput(lb, texts, args)}
    subprocess.run(["docker", "stop", second], check=True, capture_output=True, timeout=60)
    time.sleep(3)  # out of HAProxy's rotation (its DNS and /ready checks run every second)
    out[CONFIGS[1]] = throughput(lb, texts, args)
    out[CONFIGS[2]] = throughput(stack.url("api", 8000), texts, args)
    subprocess.run(["docker", "start", second], check=True, capture_output=True, timeout=60)
    wait_served_by_both(lb)
    return out


def added_latency(stack: Stack, texts: list[str], args: argparse.Namespace) -> list[str]:
    """Low-rate round trips straight to one replica and through HAProxy (over it alone), in alternating turns."""
    second = f"{stack.project}-api-2"
    subprocess.run(["docker", "stop", second], check=True, capture_output=True, timeout=60)
    time.sleep(3)
    runs: dict[str, list[Outcome]] = {"replica": [], "HAProxy": []}
    for turn in range(args.turns):
        for name, url in (("replica", stack.url("api", 8000)), ("HAProxy", stack.url("lb", 8080))):
            runs[name] += asyncio.run(open_loop(url, texts, args.rate, args.seconds / 2, seed=turn))
    rows = []
    for name, outcomes in runs.items():
        ok = [o for o in outcomes if o.status == 200]
        rt, server = [o.round_trip_ms for o in ok], [o.server_ms for o in ok]
        others = Counter(o.status for o in outcomes if o.status != 200)  # 0: no answer (transport error)
        rows.append(f"| {name} | {len(ok)}/{len(outcomes)} | {dict(sorted(others.items())) or '-'} | "
                    f"{pct(rt, 50):.2f} | {pct(rt, 99):.2f} | {pct(server, 50):.2f} | {pct(server, 99):.2f} |")
    return rows


def print_tables(rounds: list[dict[str, dict]]) -> None:
    print("\n| target | 200s per s, median (rounds) | shed 503 | round trip p50 ms | p99 ms |\n|---|---|---|---|---|")
    for config in CONFIGS:
        rs = [r[config] for r in rounds]
        med = {k: statistics.median(r[k] for r in rs) for k in ("ok_per_s", "shed", "p50", "p99")}
        each = ", ".join(f"{r['ok_per_s']:.0f}" for r in rs)
        print(f"| {config} | **{med['ok_per_s']:.0f}** ({each}) | {100 * med['shed']:.1f}% | {med['p50']:.1f} | "
              f"{med['p99']:.1f} |")
    others = sum(r[c]["other"] for r in rounds for c in CONFIGS)
    loads = [r[c]["load"] for r in rounds for c in CONFIGS]
    print(f"\nanswers other than 200/503: {others}; 1-min load average at the measurements: "
          f"{min(loads):.2f}-{max(loads):.2f}")
    if any(r[c]["shed"] > 0.99 for r in rounds for c in CONFIGS):
        print("a measurement got only 503s: a replica stuck shedding (docs/SCALING.md); its figures are void")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.replicas", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8, help="closed-loop senders")
    p.add_argument("--seconds", type=float, default=10.0, help="per closed loop; per latency turn, half")
    p.add_argument("--rate", type=float, default=50.0, help="requests/s for the added-latency comparison")
    p.add_argument("--turns", type=int, default=3, help="alternating replica/HAProxy turns at --rate")
    p.add_argument("--cpuset", help="CPUs for the containers (docker's cpuset), e.g. 0; default: any")
    p.add_argument("--client-cpu", type=int, default=0, help="CPU of the load generator; -1: any")
    args = p.parse_args(argv)
    if args.client_cpu >= 0:
        os.sched_setaffinity(0, {args.client_cpu})
    texts = load_texts(DEFAULT_DATA, 0)
    print(f"closed loop, {args.clients} clients, {args.seconds:g} s, {args.rounds} rounds; containers on CPUs "
          f"{args.cpuset or 'any'}, generator on {args.client_cpu if args.client_cpu >= 0 else 'any'}", flush=True)
    with scale_stack(args.cpuset) as stack:
        rounds = [one_round(stack, texts, args) for _ in range(args.rounds)]
        print_tables(rounds)
        latency = added_latency(stack, texts, args)
    print(f"\nat {args.rate:g} requests/s (Poisson), {args.turns} turns of {args.seconds / 2:g} s each\n")
    print("| path | answered 200 | other statuses | round trip p50 ms | p99 ms | server p50 ms | server p99 ms |")
    print("\n".join(["|---|---|---|---|---|---|---|", *latency]))


if __name__ == "__main__":
    main()
