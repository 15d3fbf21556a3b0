"""The results table of the README, from the shipped model's manifest and the latency benchmark's JSON.

    python -m experiments.bench.results --latency reports/latency.json

Writes ``reports/results.md`` (the table) and ``reports/training_curve.png`` (dev metrics per epoch, or per
step of a distillation).
Ours come from the manifest; every peer from a committed report under reports/ (the classic recipe's re-run, the
MiniLM teacher's, and reports/published.json for XLM-R). `make docs-tables` writes the same rows into the README.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import matplotlib

from elmol_nlu.paths import DEFAULT_MODEL_DIR

matplotlib.use("Agg")
import matplotlib.pyplot as plt

log = logging.getLogger("bench.results")

# peers whose figures are not ours to recompute: the MiniLM teacher `make distil` fine-tuned on MASSIVE train (its
# committed re-run) and the published XLM-R figure, read from reports/ like the classic recipe's re-run, never typed in
PEER_REPORTS = {"teacher": Path("distillation/summary.json"), "published": Path("published.json")}


def peer_rows(reports: Path) -> list[str]:
    """The MiniLM teacher's and XLM-R's rows, from their reports under ``reports`` (missing reports: no row)."""
    rows = []
    if (path := reports / PEER_REPORTS["teacher"]).exists():
        t = json.loads(path.read_text())["teacher"]["test"]
        rows.append(f"| all-MiniLM-L6 fine-tuned jointly on MASSIVE train (`make distil`'s teacher) | "
                    f"{t['intent_acc']:.2f} | {t['slot_f1']:.2f} | {t['exact_match']:.2f} | – |")
    if (path := reports / PEER_REPORTS["published"]).exists():
        for name, m in json.loads(path.read_text())["massive_en_us_test"].items():
            d = m["digits"]
            rows.append(f"| {name}, published | {m['intent_acc']:.{d}f} | {m['slot_f1']:.{d}f} | "
                        f"{m['exact_match']:.{d}f} | – |")
    return rows


def single_p50(latency: dict | None, precision: str) -> str:
    """p50 ms at batch 1, one thread, in process, of one precision's graph, if the benchmark timed it."""
    parts = [p for p in (latency or {}).get("inprocess", [])
             if p.get("precision", "fp32") == precision and p["threads"] == 1]
    return f"{parts[0]['single']['all']['p50']:.2f}" if parts else "–"


def results_table(manifest: dict, latency: dict | None, baseline: dict | None, reports: Path = Path("reports")) -> str:
    test = manifest["metrics"]["test"]
    label = f"{manifest['name']} {manifest['version']}"
    rows = [f"| **{label}** fp32 (this repo) | **{test['intent_acc']:.2f}** | "
            f"**{test['slot_f1']:.2f}** | **{test['exact_match']:.2f}** | **{single_p50(latency, 'fp32')}** |"]
    int8 = manifest.get("variants", {}).get("int8")
    if int8 and int8.get("passed"):
        t = int8["test"]
        rows.append(f"| **{label}** int8, served by default (this repo) | **{t['intent_acc']:.2f}** | "
                    f"**{t['slot_f1']:.2f}** | **{t['exact_match']:.2f}** | **{single_p50(latency, 'int8')}** |")
    if baseline:
        t = baseline["metrics"]["test"]
        rows.append(f"| TF-IDF + logistic regression, CRF slots (Snips-NLU recipe), re-run here "
                    f"(`python -m experiments.baselines.classic`, our tokens and metrics) | "
                    f"{t['intent_acc']:.2f} | {t['slot_f1']:.2f} | {t['exact_match']:.2f} | "
                    f"{baseline['timings']['batch1_ms']['p50']:.2f} |")
    rows += peer_rows(reports)
    head = ["| model | intent acc | slot F1 | exact match | ms / utterance (p50, batch 1) |",
            "|---|---|---|---|---|"]
    return "\n".join(head + rows)


def latency_table(latency: dict) -> str:
    served = latency["inprocess"][0]
    single = served["single"]
    precision = served.get("precision", "fp32")
    lines = ["| measurement | p50 ms | p99 ms |", "|---|---|---|",
             f"| in process ({precision}), batch 1, all test utterances | {single['all']['p50']:.2f} | "
             f"{single['all']['p99']:.2f} |"]
    for bucket, s in single["by_tokens"].items():
        if s["n"]:
            lines.append(f"| in process, batch 1, {bucket} tokens | {s['p50']:.2f} | {s['p99']:.2f} |")
    for gap, s in served.get("after_idle_ms", {}).items():
        lines.append(f"| in process, batch 1, after {gap} ms idle | {s['p50']:.2f} | {s['p99']:.2f} |")
    for gap, s in served.get("after_busy_wait_ms", {}).items():
        lines.append(f"| in process, batch 1, after {gap} ms busy-waiting | {s['p50']:.2f} | {s['p99']:.2f} |")
    for name, s in served.get("interleaved_ms", {}).items():
        lines.append(f"| in process, batch 1, {name} | {s['p50']:.2f} | {s['p99']:.2f} |")
    if http := latency.get("http"):
        lines.append(f"| HTTP ({http.get('precision', 'fp32')}), server-side (`X-Process-Time-Ms`) | "
                     f"{http['server_ms']['p50']:.2f} | "
                     f"{http['server_ms']['p99']:.2f} |")
        lines.append(f"| HTTP, client round trip | {http['round_trip_ms']['p50']:.2f} | "
                     f"{http['round_trip_ms']['p99']:.2f} |")
    return "\n".join(lines)


def plot_history(history: list[dict], out: Path) -> None:
    """Dev metrics per epoch of train_nlu, or per evaluation step of a distillation (training.distil)."""
    unit = "epoch" if "epoch" in history[0] else "step"
    xs = [h[unit] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("intent_acc", "intent accuracy"), ("slot_f1", "slot F1"), ("exact_match", "exact match")):
        ax.plot(xs, [h[key] for h in history], marker=".", label=label)
    title = "Joint NLU training (dev)" if unit == "epoch" else "Distillation from the supervised model (dev)"
    ax.set(xlabel=unit, ylabel="MASSIVE en-US dev (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--latency", type=Path, default=Path("reports/latency.json"))
    p.add_argument("--baseline", type=Path, default=Path("reports/baseline_classic.json"))
    p.add_argument("--out", type=Path, default=Path("reports"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    manifest = json.loads((args.model_dir / "manifest.json").read_text())
    latency = json.loads(args.latency.read_text()) if args.latency.exists() else None
    baseline = json.loads(args.baseline.read_text()) if args.baseline.exists() else None
    args.out.mkdir(parents=True, exist_ok=True)
    table = results_table(manifest, latency, baseline, args.baseline.parent)
    parts = ["## MASSIVE en-US test (2,974 utterances)", "", table]
    if latency:
        parts += ["", f"## Latency ({latency['date']}, onnxruntime {latency['onnxruntime']}, 1 thread)", "",
                  latency_table(latency)]
    (args.out / "results.md").write_text("\n".join(parts) + "\n")
    if history := manifest.get("training", {}).get("history"):
        plot_history(history, args.out / "training_curve.png")
    log.info("wrote %s", args.out / "results.md")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
