"""Tables and learning curves of the skill study (training/skill_study.py) from its ``runs.csv``.

Error is 100 minus a metric; the error reduction of ours against another arm is (theirs - ours) / theirs,
of the means over the five scenarios (and the seeds run) at each size.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

METRICS = ("intent_acc", "slot_f1", "exact_match")
LABELS = {"transfer": "ours (transfer, shared encoder)", "own-encoder": "ours, encoder fine-tuned too",
          "scratch": "same network from scratch", "minilm": "all-MiniLM-L6-v2 fine-tuned",
          "crf": "TF-IDF + CRF (classic recipe)"}
PEERS = ("crf", "minilm", "scratch", "own-encoder")  # what each of ours (transfer) is compared with, run for run


def label(arm: str) -> str:
    """``transfer@kd`` is the transfer arm with the recipe or base named kd (skill_study --variant)."""
    base, _, variant = arm.partition("@")
    return LABELS[base] + (f" [{variant}]" if variant else "")


def arms_of(runs: list[dict]) -> list[str]:
    order = list(LABELS)
    return sorted({r["arm"] for r in runs}, key=lambda a: (order.index(a.partition("@")[0]), a))


def ours_of(runs: list[dict]) -> list[str]:
    return [a for a in arms_of(runs) if a.partition("@")[0] == "transfer"]


def load_runs(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def means(runs: list[dict]) -> dict:
    """{arm: {n: {metric: mean, "runs": k, "seeds": [...], "train_seconds": mean}}} over scenarios and seeds."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["arm"], int(r["n"]))].append(r)
    out: dict[str, dict] = defaultdict(dict)
    for (arm, n), rows in sorted(groups.items()):
        out[arm][n] = {m: round(statistics.mean(float(r[m]) for r in rows), 2) for m in METRICS}
        out[arm][n].update(runs=len(rows), seeds=sorted({int(r["seed"]) for r in rows}),
                           domains=sorted({r["domain"] for r in rows}),
                           train_seconds=round(statistics.mean(float(r["train_seconds"]) for r in rows), 1))
    return dict(out)


def error_reduction(ours: dict, theirs: dict) -> dict:
    """Per metric: percent of the other arm's error that ours removes (negative: ours errs more)."""
    return {m: round(100 * ((100 - theirs[m]) - (100 - ours[m])) / (100 - theirs[m]), 1) if theirs[m] < 100 else None
            for m in METRICS}


def matched(runs: list[dict], a: str, b: str) -> dict[int, tuple[dict, dict, int]]:
    """{n: (means of a, means of b, pairs)} over the (scenario, seed) pairs both arms ran: means over
    different runs are not compared."""
    by_key = {(r["arm"], r["domain"], int(r["n"]), int(r["seed"])): r for r in runs}
    out = {}
    for n in sorted({int(r["n"]) for r in runs}):
        pairs = [(by_key[(a, d, n, s)], by_key[(b, d, n, s)]) for (arm, d, m, s) in by_key
                 if arm == a and m == n and (b, d, n, s) in by_key]
        if pairs:
            mean_of = [{m: statistics.mean(float(p[i][m]) for p in pairs) for m in METRICS} for i in (0, 1)]
            out[n] = (*mean_of, len(pairs))
    return out


def per_domain(runs: list[dict], n: int) -> str:
    """Intent accuracy / slot F1 by scenario and arm at size n, means over the seeds run."""
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        if int(r["n"]) == n:
            cells[(r["domain"], r["arm"])].append(r)
    arms = [a for a in arms_of(runs) if any(arm == a for _, arm in cells)]
    lines = [f"| scenario (n = {n}) | " + " | ".join(label(a) for a in arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for domain in sorted({d for d, _ in cells}):
        row = []
        for a in arms:
            rows = cells.get((domain, a), [])
            row.append(" / ".join(f"{statistics.mean(float(r[m]) for r in rows):.1f}" for m in METRICS)
                       + f" ({len(rows)})" if rows else "-")
        lines.append(f"| {domain} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def markdown(table: dict, runs: list[dict]) -> str:
    lines = ["| arm | n | runs | intent acc | slot F1 | exact match | train s |", "|---|---|---|---|---|---|---|"]
    for arm in arms_of(runs):
        for n, row in sorted(table.get(arm, {}).items()):
            lines.append(f"| {label(arm)} | {n} | {row['runs']} | {row['intent_acc']:.2f} | {row['slot_f1']:.2f} | "
                         f"{row['exact_match']:.2f} | {row['train_seconds']:.0f} |")
    lines += ["", "Error reduction of ours (transfer, shared encoder) against each arm, in % of its error, over the "
              "runs both made (same scenarios, seeds and samples):", "",
              "| ours | against | n | pairs | intent | slot F1 | exact match |", "|---|---|---|---|---|---|---|"]
    for mine in ours_of(runs):
        for other in (a for a in arms_of(runs) if a.partition("@")[0] in PEERS):
            for n, (ours, theirs, pairs) in matched(runs, mine, other).items():
                r = error_reduction(ours, theirs)
                cells = " | ".join("-" if r[m] is None else f"{r[m]:+.1f}" for m in METRICS)
                lines.append(f"| {label(mine)} | {label(other)} | {n} | {pairs} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, METRICS, strict=True):
        for arm in table:
            sizes = sorted(table[arm])
            ax.plot(sizes, [table[arm][n][metric] for n in sizes], marker="o", label=label(arm))
        ax.set_xscale("log")
        ax.set_xticks([100, 200, 500], ["100", "200", "500"])
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel("training utterances")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("New skills: MASSIVE email, iot, transport, lists, weather (held out of the base), test splits")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path) -> dict:
    runs = load_runs(out / "runs.csv")
    table = means(runs)
    summary = {"means": table, "error_reduction": {
        mine: {other: {n: {**error_reduction(ours, theirs), "pairs": pairs}
                       for n, (ours, theirs, pairs) in matched(runs, mine, other).items()}
               for other in arms_of(runs) if other.partition("@")[0] in PEERS}
        for mine in ours_of(runs)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    sizes = sorted({int(r["n"]) for r in runs})
    by_domain = "\n".join(per_domain(runs, n) for n in sizes)
    (out / "tables.md").write_text(markdown(table, runs) + "\nIntent accuracy / slot F1 / exact match by scenario "
                                   "(runs):\n\n" + by_domain)
    plot(table, out / "learning_curves.png")
    return summary
