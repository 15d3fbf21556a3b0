"""Tables and learning curves from the reproduction's ``runs.csv``.

    python -m experiments.reproduce_report --runs reports/reproduce/full/runs.csv

Error is 1 - (intent accuracy + slot F1) / 2, in percent. The relative error reduction (RER) of A
over B is (error_B - error_A) / error_B, computed per (domain, n) cell from the errors averaged over
the seeds both have, then averaged over the cells; its spread is the standard deviation over cells.
Writes ``summary.json``, ``tables.md`` and ``learning_curves.png`` next to the CSV; only completed
runs count, and every table says how many cells it rests on.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.results_csv import read_rows, run_key

log = logging.getLogger("reproduce_report")
EMBEDDINGS = ("none", "fasttext", "elmol", "elmo", "elmol-kd", "elmol-kd+fasttext", "elmol-kd-ln", "elmol-kd-frozen")
# ELMoL-KD's layers with FastText appended (ELMo's recipe of contextual beside static vectors); with each layer
# normalised before the scalar mix; never unfrozen
VARIANTS = {"ELMoL-KD + FastText": "elmol-kd+fasttext", "ELMoL-KD, normalised mix": "elmol-kd-ln",
            "ELMoL-KD, never unfrozen": "elmol-kd-frozen"}
LOW_DATA = (100, 200, 500)


def unique_runs(rows: list[dict]) -> list[dict]:
    """The first row of each run: two workers may both finish the run they started at the same time."""
    seen: dict[tuple, dict] = {}
    for row in rows:
        seen.setdefault(run_key(row), row)
    return list(seen.values())


def error(row: dict) -> float:
    return 100 - (float(row["intent_acc"]) + float(row["slot_f1"])) / 2


def errors_by_cell(rows: list[dict]) -> dict[tuple, dict[int, float]]:
    """{(embedding, arm, domain, n): {seed: error}}."""
    cells: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        key = (r["embedding"], int(r["supervised_pretraining"]), r["domain"], int(r["n"]))
        cells[key][int(r["seed"])] = error(r)
    return cells


def rer(cells: dict, a: tuple[str, int], b: tuple[str, int], sizes: tuple[int, ...]) -> dict:
    """Relative error reduction of configuration a = (embedding, arm) over b, in percent."""
    values = []
    for emb, arm, domain, n in cells:
        if (emb, arm) != a or n not in sizes or (b[0], b[1], domain, n) not in cells:
            continue
        ea, eb = cells[(emb, arm, domain, n)], cells[(b[0], b[1], domain, n)]
        seeds = sorted(set(ea) & set(eb))
        if seeds:
            mean_a, mean_b = np.mean([ea[s] for s in seeds]), np.mean([eb[s] for s in seeds])
            values.append(100 * (mean_b - mean_a) / mean_b)
    if not values:
        return {"cells": 0}
    return {"mean": round(float(np.mean(values)), 2), "std": round(float(np.std(values)), 2), "cells": len(values)}


def comparisons(cells: dict) -> dict[str, dict]:
    out = {}
    for sizes, label in ((LOW_DATA, "n=100-500"), ((1000,), "n=1000")):
        for arm in (1, 0):
            tag = f"{label}, {'with' if arm else 'without'} supervised pretraining"
            out[f"ELMoL over FastText ({tag})"] = rer(cells, ("elmol", arm), ("fasttext", arm), sizes)
            out[f"ELMo over ELMoL ({tag})"] = rer(cells, ("elmo", arm), ("elmol", arm), sizes)
            out[f"ELMoL over none ({tag})"] = rer(cells, ("elmol", arm), ("none", arm), sizes)
            # the new encoder (make pretrain-kd) against the paper's peers and the encoder it was pretrained from
            out[f"ELMoL-KD over FastText ({tag})"] = rer(cells, ("elmol-kd", arm), ("fasttext", arm), sizes)
            out[f"ELMoL-KD over ELMo ({tag})"] = rer(cells, ("elmol-kd", arm), ("elmo", arm), sizes)
            out[f"ELMoL-KD over ELMoL ({tag})"] = rer(cells, ("elmol-kd", arm), ("elmol", arm), sizes)
            for name, emb in VARIANTS.items():  # other ways of using the new encoder
                for peer, peer_emb in (("FastText", "fasttext"), ("ELMo", "elmo"), ("ELMoL-KD", "elmol-kd")):
                    out[f"{name} over {peer} ({tag})"] = rer(cells, (emb, arm), (peer_emb, arm), sizes)
        for emb in EMBEDDINGS:
            out[f"supervised transfer over none, {emb} ({label})"] = rer(cells, (emb, 1), (emb, 0), sizes)
    return out


def curve_table(cells: dict, arm: int) -> list[dict]:
    """Mean error over domains and seeds per (embedding, n), with the std over seeds of the domain mean."""
    rows = []
    for emb in EMBEDDINGS:
        for n in sorted({k[3] for k in cells}):
            domains = {k[2]: v for k, v in cells.items() if k[0] == emb and k[1] == arm and k[3] == n}
            seeds = sorted(set.intersection(*(set(v) for v in domains.values()))) if domains else []
            if not seeds:
                continue
            per_seed = [np.mean([v[s] for v in domains.values()]) for s in seeds]
            rows.append({"embedding": emb, "n": n, "error": round(float(np.mean(per_seed)), 2),
                         "std": round(float(np.std(per_seed)), 2), "seeds": len(seeds), "domains": len(domains)})
    return rows


def plot(cells: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = sorted({k[2] for k in cells})
    arms = [arm for arm in (1, 0) if any(k[1] == arm for k in cells)]
    fig, axes = plt.subplots(len(arms), len(domains), figsize=(3.2 * len(domains), 3.2 * len(arms)), sharex=True,
                             squeeze=False)
    for row, arm in enumerate(arms):
        for col, domain in enumerate(domains):
            ax = axes[row][col]
            for emb in EMBEDDINGS:
                pts = sorted((k[3], list(v.values())) for k, v in cells.items() if k[:3] == (emb, arm, domain))
                if pts:
                    ns, means = [p[0] for p in pts], np.array([np.mean(p[1]) for p in pts])
                    stds = np.array([np.std(p[1]) for p in pts])
                    ax.plot(ns, means, marker="o", label=emb)
                    ax.fill_between(ns, means - stds, means + stds, alpha=0.15)
            ax.set_xscale("log")
            ax.set_title(f"{domain}, {'transfer' if arm else 'no transfer'}", fontsize=9)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("error % = 100 - (intent + slot F1)/2")
            if row == len(arms) - 1:
                ax.set_xlabel("target-domain examples n")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("MASSIVE en-US new-domain learning curves (mean and std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(summary: dict) -> str:
    lines = [f"Runs completed: {summary['runs']}.", "", "| comparison | RER % (mean ± std over cells) | cells |",
             "|---|---|---|"]
    for name, r in summary["rer"].items():
        if r["cells"]:
            lines.append(f"| {name} | {r['mean']:+.2f} ± {r['std']:.2f} | {r['cells']} |")
    for arm in ("with", "without"):
        table = summary[f"curve_{arm}"]
        sizes = sorted({r["n"] for r in table})
        if not sizes:
            continue
        lines += ["", f"Error % by n, {arm} supervised pretraining (mean over domains ± std over seeds; "
                  "seeds s / domains d):", "",
                  "| embedding | " + " | ".join(f"n={n}" for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
        for emb in EMBEDDINGS:
            cells = {r["n"]: r for r in table if r["embedding"] == emb}
            if cells:
                vals = [f"{cells[n]['error']:.2f} ± {cells[n]['std']:.2f} ({cells[n]['seeds']}s/{cells[n]['domains']}d)"
                        if n in cells else "–" for n in sizes]
                lines.append(f"| {emb} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("reports/reproduce/full/runs.csv"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rows = unique_runs(read_rows(args.runs))
    cells = errors_by_cell(rows)
    summary = {"runs": len(rows), "rer": comparisons(cells), "curve_with": curve_table(cells, 1),
               "curve_without": curve_table(cells, 0)}
    out = args.runs.parent
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "tables.md").write_text(markdown(summary))
    if rows:
        plot(cells, out / "learning_curves.png")
    log.info("%d runs; wrote summary.json, tables.md and learning_curves.png in %s", len(rows), out)
    return summary


if __name__ == "__main__":
    main()
