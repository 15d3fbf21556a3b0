"""The distillation report: each run's dev curve, its dev-selected test figures and the teacher's, in one place.

    python -m training.distil_report --runs runs/distil runs/distil-p3 --teacher runs/teacher

Writes ``reports/distillation/summary.json`` (per run: config, best dev, test, steps; the teacher's dev and
test; the dev-only choice of ``--self-weight``) and ``reports/distillation/dev_curve.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from training.checkpoint import load_checkpoint

log = logging.getLogger("training.distil_report")
METRICS = ("intent_acc", "slot_f1", "exact_match")


def rounded(scores: dict) -> dict:
    return {k: round(scores[k], 2) for k in METRICS}


def run_summary(run: Path) -> dict:
    saved = load_checkpoint(run / "nlu.pt")
    d = saved["distillation"]
    return {"run": str(run), "config": saved["fit"]["distil"], "steps": d["steps"], "unlabeled": d["unlabeled"],
            "student": d["student"], "student_test": rounded(d["student_metrics"]["test"]),
            "dev": rounded(saved["metrics"]["dev"]),
            "test": rounded(saved["metrics"]["test"]) if "test" in saved["metrics"] else None,
            "history": [{"step": h["step"], **rounded(h)} for h in saved["history"]]}


def plot(runs: list[dict], teacher_dev: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(axes, METRICS, ("dev intent accuracy", "dev slot F1", "dev exact match"), strict=True):
        for r in runs:
            cfg = r["config"]
            ax.plot([h["step"] for h in r["history"]], [h[key] for h in r["history"]], marker=".",
                    label=f"{Path(r['run']).name} ({cfg.get('passes', 1)} pass, KD weight {cfg['kd_weight']})")
        ax.axhline(teacher_dev[key], color="grey", linestyle="--", label="MiniLM teacher")
        ax.set_title(title)
        ax.set_xlabel("step (one labelled + one unlabeled batch)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--teacher", type=Path, default=Path("runs/teacher"))
    p.add_argument("--out", type=Path, default=Path("reports/distillation"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    teacher = json.loads((args.teacher / "teacher.json").read_text())
    runs = [run_summary(r) for r in args.runs]
    mix = json.loads((args.runs[0] / "metrics.json").read_text())["dev_mix"]
    summary = {"teacher": {"dev": rounded(teacher["dev"]), "test": rounded(teacher["test"]),
                           "train_minutes": teacher["train_minutes"]},
               "dev_intent_of_teacher_student_mixes": mix, "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(runs, teacher["dev"], args.out / "dev_curve.png")
    for r in runs:
        log.info("%s: dev %s, test %s", r["run"], r["dev"], r["test"])


if __name__ == "__main__":
    main()
