"""What the review queue costs the requests: server-side latency with ELMOL_REVIEW off and on, side by side.

    python -m experiments.bench.review            # writes reports/review_load.json, prints the table

The saturation rate is found once, with review off (a closed loop of ``--clients`` senders); then each target
serves Poisson arrivals at ``--load`` (0.5: half of saturation) for ``--seconds``, the targets taking turns for
``--rounds`` rounds so that drift of the machine falls on all of them alike. ``on`` keeps the answers under the
default threshold; ``on-all`` keeps every answer (threshold 1), the heaviest case for the writer thread.
The server (one worker) runs pinned to ``--server-cpu``, the generator to ``--client-cpu``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import tempfile
import time
from pathlib import Path

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.openloop import closed_loop, open_loop
from experiments.bench.process import service_command
from experiments.bench.report import context
from experiments.bench.server import percentiles, pinned

log = logging.getLogger("bench.review")
TARGETS = {"off": {"ELMOL_REVIEW": "false"}, "on": {"ELMOL_REVIEW": "true"},
           "on-all": {"ELMOL_REVIEW": "true", "ELMOL_REVIEW_THRESHOLD": "1.0"}}
MAX_P99_RATIO = 1.10  # the issue's bar: p99 with review on within 10% of off


def served(args: argparse.Namespace, env: dict[str, str]):
    return pinned(lambda port: service_command(args.model_dir, 1, port, "auto"), args, env)


def run_target(args: argparse.Namespace, env: dict[str, str], rate: float,
               texts: list[str]) -> tuple[list[float], int, int]:
    """Served answers' server-side ms at ``rate``, requests sent, and the items kept for review meanwhile."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.sqlite3"
        with served(args, {**env, "ELMOL_REVIEW_DB": str(db)}) as (url, _):
            asyncio.run(closed_loop(url, texts, args.clients, 1.0))  # warm up
            warm = kept(db)
            outcomes = asyncio.run(open_loop(url, texts, rate, args.seconds, seed=args.seed))
            stored = kept(db) - warm
    return [o.server_ms for o in outcomes if o.status == 200], len(outcomes), stored


def kept(db: Path) -> int:
    """Items in the store once the writer has caught up (0 when review is off and there is no file)."""
    time.sleep(0.5)
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM items").fetchone()[0]


def saturation(args: argparse.Namespace, texts: list[str]) -> float:
    with served(args, TARGETS["off"]) as (url, _):
        asyncio.run(closed_loop(url, texts, args.clients, 2.0))
        return asyncio.run(closed_loop(url, texts, args.clients, args.seconds))[1]


def table(result: dict) -> str:
    rows = ["| review | answers | kept for review | server p50 ms | p99 ms | p99.9 ms | p99 vs off |",
            "|---|---|---|---|---|---|---|"]
    off = result["targets"]["off"]["server_ms"]["p99"]
    for name, t in result["targets"].items():
        ms = t["server_ms"]
        rows.append(f"| {name} | {t['served']} of {t['sent']} | {t['stored']} | {ms['p50']:.3f} | {ms['p99']:.3f} "
                    f"| {ms['p99.9']:.3f} | {ms['p99'] / off:.3f}x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--load", type=float, default=0.5, help="fraction of the saturation rate")
    p.add_argument("--seconds", type=float, default=10.0, help="per target and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("reports/review_load.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = load_texts(args.data, args.seed)
    rate = args.load * saturation(args, texts)
    log.info("offering %.0f requests/s (%.0f%% of saturation)", rate, 100 * args.load)
    pooled = {name: {"ms": [], "sent": 0, "stored": 0} for name in TARGETS}
    for r in range(args.rounds):
        for name, env in TARGETS.items():
            ms, sent, stored = run_target(args, env, rate, texts)
            pooled[name]["ms"] += ms
            pooled[name]["sent"] += sent
            pooled[name]["stored"] += stored
            log.info("round %d %s: %d served, %d kept, p99 %.3f ms", r, name, len(ms), stored,
                     percentiles(ms)["p99"])
    result = {**context(load_manifest(args.model_dir)), "args": {k: str(v) if isinstance(v, Path) else v
                                                                  for k, v in vars(args).items()},
              "rate_per_s": rate, "max_p99_ratio": MAX_P99_RATIO,
              "targets": {name: {"settings": TARGETS[name], "sent": t["sent"], "served": len(t["ms"]),
                                 "stored": t["stored"], "server_ms": percentiles(t["ms"])}
                          for name, t in pooled.items()}}
    off = result["targets"]["off"]["server_ms"]["p99"]
    result["p99_ratio"] = {name: t["server_ms"]["p99"] / off for name, t in result["targets"].items()}
    result["within_bar"] = all(v <= MAX_P99_RATIO for v in result["p99_ratio"].values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)
    print(table(result))


if __name__ == "__main__":
    main()
