"""Latency against offered load from a locust step-load run: ``python -m loadtest.plot [--stats-dir DIR]``.

Reads locust's ``run_stats_history.csv`` (one row a second), groups the rows by user count (one group per
step), and plots requests/s and client-side p50/p95/p99 per step; writes ``latency_vs_load.png`` and a
markdown table ``steps.md`` beside it.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

log = logging.getLogger("loadtest.plot")
PERCENTILES = ("50%", "95%", "99%")
MIN_STEP_ROWS = 5


def steps(history: Path) -> list[dict]:
    """Per user count: mean requests/s and failures/s, and the last cumulative-within-step percentiles."""
    rows = defaultdict(list)
    for row in csv.DictReader(history.open()):
        if row["Name"] == "Aggregated" and row["50%"] != "N/A" and int(row["User Count"]) > 0:
            rows[int(row["User Count"])].append(row)
    out = []
    for users, group in sorted(rows.items()):
        if len(group) < MIN_STEP_ROWS:  # passing through this user count while spawning, not a step
            continue
        settled = group[len(group) // 3:] or group  # skip the ramp into the step
        out.append({"users": users, "rps": sum(float(r["Requests/s"]) for r in settled) / len(settled),
                    "fails": sum(float(r["Failures/s"]) for r in settled) / len(settled),
                    **{p: sorted(float(r[p]) for r in settled)[len(settled) // 2] for p in PERCENTILES}})
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stats-dir", type=Path, default=Path("reports/loadtest"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    table = steps(args.stats_dir / "run_stats_history.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    for pct, style in zip(PERCENTILES, ("-o", "--^", ":s"), strict=True):
        ax.plot([s["rps"] for s in table], [s[pct] for s in table], style, label=f"p{pct[:-1]} (client, ms)")
    ax.set(xlabel="requests/s (locust, all routes)", ylabel="response time (ms, locust rounds to ms)",
           yscale="log", title="locust step load: latency vs achieved load")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.stats_dir / "latency_vs_load.png", dpi=120)
    plt.close(fig)
    lines = ["| users | requests/s | failures/s | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {s['users']} | {s['rps']:.0f} | {s['fails']:.1f} | {s['50%']:.0f} | {s['95%']:.0f} | {s['99%']:.0f} |"
              for s in table]
    (args.stats_dir / "steps.md").write_text("\n".join(lines) + "\n")
    log.info("wrote %s and %s", args.stats_dir / "latency_vs_load.png", args.stats_dir / "steps.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
