"""Server under load: saturation, then open-loop request rates around it, for our /parse and a bare app.

    python -m experiments.bench.server                      # int8 (three schedulers), fp32, and the bare app
    python -m experiments.bench.server --targets int8 --seconds 5
    python -m experiments.bench.server --targets int8 int8-loop   # where the model runs, side by side

For each target: a closed loop of ``--clients`` back-to-back senders finds the saturation rate; then
Poisson arrivals at 25/50/75/100/150% of it, each for ``--seconds``. Per step: the offered and achieved
rate, status counts, server-side p50/p99/p99.9 from each answer's X-Process-Time-Ms (microsecond
resolution, where locust rounds to whole ms), the generator's round trip (which also counts the time a
request waits in the socket before the server reads it), answers served past the budget, the
server's RSS, and its CPU: percent of one core and milliseconds per answer (the service time the load meets).
The server (one worker) is pinned to ``--server-cpu``, the generator to ``--client-cpu``.
Writes ``reports/server_load.json`` and ``reports/server_load.png``; prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import Outcome, closed_loop, open_loop
from experiments.bench.over_http import pinning
from experiments.bench.process import bare_command, serve_command, service_command
from experiments.bench.report import context

log = logging.getLogger("bench.server")
LOAD_STEPS = (0.25, 0.5, 0.75, 1.0, 1.5)
BUDGET_MS = 50.0  # the service's default latency budget
# name: (graph precision, extra settings); "bare" is the constant-answer app
TARGETS: dict[str, tuple[str, dict[str, str]]] = {
    "int8": ("int8", {}),  # the service's defaults: on the loop while few are in progress, else the thread
    "int8-threads": ("int8", {"ELMOL_LOOP_MAX_IN_PROGRESS": "0"}),  # always the batcher thread
    "fp32": ("fp32", {}),
    "int8-loop": ("int8", {"ELMOL_INFERENCE_THREADS": "0"}),  # the model on the event loop
    "int8-nofreeze": ("int8", {"ELMOL_FREEZE_HEAP": "false"}),
    "bare": ("", {}),
}
SCHEDULERS = ["int8-threads", "int8", "int8-loop"]  # where the model runs: thread, hybrid (default), loop
INT8_TARGETS = [name for name, (precision, _) in TARGETS.items() if precision == "int8"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    a = np.asarray(ms)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "p99.9": float(np.percentile(a, 99.9)), "max": float(a.max())}


def summarize_step(outcomes: list[Outcome], offered: float, seconds: float, rss: tuple[float, float],
                   cpu: tuple[float, float]) -> dict:
    """``cpu``: the server's CPU seconds over the step and the step's wall seconds. Per answered request (shed
    ones included), the CPU is the service time the load meets: half of saturation is more than half of one
    core when a lone request costs more than one in the batches that saturation runs."""
    statuses = Counter(o.status for o in outcomes)
    served = [o.server_ms for o in outcomes if o.status == 200]
    answered = sum(v for k, v in statuses.items() if k)
    return {"offered_per_s": offered, "achieved_per_s": statuses[200] / seconds, "sent": len(outcomes),
            "status": {str(k): v for k, v in sorted(statuses.items())},
            "shed": statuses[503], "errors": sum(v for k, v in statuses.items() if k != 200 and k != 503),
            "server_ms": percentiles(served),
            "round_trip_ms": percentiles([o.round_trip_ms for o in outcomes if o.status == 200]),
            "served_past_budget": sum(ms > BUDGET_MS for ms in served),
            "rss_mb_before": rss[0], "rss_mb_after": rss[1],
            "server_cpu_percent": 100 * cpu[0] / cpu[1],
            "cpu_ms_per_answer": 1000 * cpu[0] / answered if answered else None}


@contextmanager
def pinned(command: Callable[[int], list[str]], args: argparse.Namespace,
           env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``command(port)`` served on ``args.server_cpu``, this process (the load generator) on ``args.client_cpu``
    while inside; yields the server's URL and pid."""
    server_cpus, client_cpus = pinning(args.server_cpu, args.client_cpu)
    before = os.sched_getaffinity(0)
    with serve_command(command, server_cpus, env=env) as (url, pid):
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        try:
            yield url, pid
        finally:
            os.sched_setaffinity(0, before)


def sweep(command: Callable[[int], list[str]], texts: list[str], args: argparse.Namespace,
          env: dict[str, str] | None = None) -> dict:
    with pinned(command, args, env) as (url, pid):
        return measure(url, pid, texts, args)


def measure(url: str, pid: int, texts: list[str], args: argparse.Namespace) -> dict:
    asyncio.run(closed_loop(url, texts, args.clients, 2.0))  # warm up
    _, saturation = asyncio.run(closed_loop(url, texts, args.clients, args.seconds))
    log.info("%s: saturation %.0f/s with %d closed-loop clients", url, saturation, args.clients)
    steps = []
    for fraction in LOAD_STEPS:
        rate = fraction * saturation
        before, cpu, started = rss_mb(pid), cpu_seconds(pid), time.perf_counter()
        outcomes = asyncio.run(open_loop(url, texts, rate, args.seconds, seed=args.seed))
        used = (cpu_seconds(pid) - cpu, time.perf_counter() - started)
        s = {"fraction": fraction, **summarize_step(outcomes, rate, args.seconds, (before, rss_mb(pid)), used)}
        steps.append(s)
        log.info("  %.0f%%: %.0f/s offered, %.0f/s served, %d shed, %d errors, server p50 %.2f p99 %.2f ms",
                 100 * fraction, rate, s["achieved_per_s"], s["shed"], s["errors"],
                 s["server_ms"].get("p50", math.nan), s["server_ms"].get("p99", math.nan))
    return {"saturation_per_s": saturation, "clients": args.clients, "steps": steps}


def table(result: dict) -> str:
    head = (f"{'target':<14}{'load':>6}{'offered/s':>10}{'served/s':>10}{'503':>6}{'err':>5}{'late':>5}"
            f"{'p50':>8}{'p99':>8}{'p99.9':>8}{'rt p50':>8}{'rt p99':>8}{'rss MB':>8}{'cpu %':>7}{'cpu/req':>8}")
    lines = [head]
    for name, target in result["targets"].items():
        for s in target["steps"]:
            ms, rt = s["server_ms"], s["round_trip_ms"]
            lines.append(f"{name:<14}{100 * s['fraction']:>5.0f}%"
                         f"{s['offered_per_s']:>10.0f}{s['achieved_per_s']:>10.0f}"
                         f"{s['shed']:>6}{s['errors']:>5}{s['served_past_budget']:>5}"
                         + "".join(f"{ms.get(k, math.nan):>8.2f}" for k in ("p50", "p99", "p99.9"))
                         + "".join(f"{rt.get(k, math.nan):>8.2f}" for k in ("p50", "p99"))
                         + f"{s['rss_mb_after']:>8.0f}{s.get('server_cpu_percent', math.nan):>7.0f}"
                         + f"{s.get('cpu_ms_per_answer') or math.nan:>8.3f}")
    if "bare" in result["targets"]:
        bare = result["targets"]["bare"]["saturation_per_s"]
        lines += ["", "saturation: " + ", ".join(
            f"{n} {t['saturation_per_s']:.0f}/s ({t['saturation_per_s'] / bare:.2f} of bare)"
            for n, t in result["targets"].items())]
    return "\n".join(lines)


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, target in result["targets"].items():
        rates = [s["offered_per_s"] for s in target["steps"]]
        for key, style in (("p50", "-o"), ("p99", "--^")):
            ax.plot(rates, [s["server_ms"].get(key, math.nan) for s in target["steps"]], style, label=f"{name} {key}")
    ax.set(xlabel="offered load (requests/s, Poisson)", ylabel="server-side ms (served requests)", yscale="log",
           title="Latency vs offered load, one worker on one core")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--targets", nargs="+", default=["int8", "int8-threads", "int8-loop", "fp32", "bare"],
                   choices=list(TARGETS))
    p.add_argument("--seconds", type=float, default=8.0, help="per load step")
    p.add_argument("--clients", type=int, default=8, help="closed-loop senders that find the saturation")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("reports/server_load.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = load_texts(args.data, args.seed)
    result = context(load_manifest(args.model_dir))
    result["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result["budget_ms"] = BUDGET_MS
    result["targets"] = {}
    for target in args.targets:
        precision, env = TARGETS[target]
        if target == "bare":
            command = bare_command
        else:
            def command(port: int, precision: str = precision) -> list[str]:
                return service_command(args.model_dir, 1, port, precision)
        result["targets"][target] = {"settings": env, **sweep(command, texts, args, env)}
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out.with_suffix(".png"))
    log.info("wrote %s and %s", args.out, args.out.with_suffix(".png"))
    print(table(result))


if __name__ == "__main__":
    main()
