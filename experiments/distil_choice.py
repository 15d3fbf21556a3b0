"""Dev-only choices of `make distil-ensemble`: which teachers to distil from, then whether the result replaces the
shipped model; and, for a candidate adopted, its one reading of test.

    python -m experiments.distil_choice teachers --teachers runs/teacher runs/teacher-s1   # prints the chosen dirs
    python -m experiments.distil_choice verdict --candidate runs/distil-ensemble/nlu.pt    # exit 0: adopt it
    python -m experiments.distil_choice test --candidate runs/distil-ensemble/nlu.pt       # only once adopted

Rules (fixed 2026-12-08, before any of the runs they judge):
- teachers: the ensemble of all the teachers if its dev intent accuracy is at least the first teacher's alone;
  otherwise the first teacher alone;
- verdict: the candidate replaces the shipped checkpoint if its dev selection score (mean of intent accuracy,
  slot F1 and exact match) beats the shipped model's by at least ``MARGIN`` and its dev intent accuracy is not
  lower. The margin is there because the candidate's state is the best of some twenty dev evaluations.
``test`` scores an adopted candidate on test, once, into its checkpoint (which export copies to the manifest)
and refuses a candidate the verdict did not adopt. All three write their figures to ``--out`` (JSON), so the
choice can be checked without re-running anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from elmol_nlu.datasets import load_split
from elmol_nlu.scoring import metrics
from elmol_nlu.vocab import Vocab
from training.checkpoint import load_checkpoint, load_joint_model, save_checkpoint
from training.evaluate import predict
from training.finetune import selection_score
from training.teacher_labels import intent_accuracy, teacher_dev_logits

log = logging.getLogger("experiments.distil_choice")
MARGIN = 0.3
OUT = Path("reports/distillation/ensemble")


def choose_teachers(teachers: list[Path], data: Path, student: Path) -> dict:
    intents, dev = Vocab(load_checkpoint(student)["intents"]), load_split(data, "dev")
    ids = [e.example.id for e in dev]
    each = {str(t): intent_accuracy(teacher_dev_logits([t], ids, intents), dev, intents) for t in teachers}
    alone, ensemble = each[str(teachers[0])], intent_accuracy(teacher_dev_logits(teachers, ids, intents), dev, intents)
    chosen = teachers if ensemble >= alone else teachers[:1]
    return {"rule": "the ensemble if its dev intent accuracy >= the first teacher's", "dev_intent_first": alone,
            "dev_intent_each": each, "dev_intent_ensemble": ensemble, "chosen": [str(t) for t in chosen]}


def verdict(candidate: Path, shipped: Path) -> dict:
    new, old = load_checkpoint(candidate)["metrics"]["dev"], load_checkpoint(shipped)["metrics"]["dev"]
    gain = selection_score(new) - selection_score(old)
    adopt = gain >= MARGIN and new["intent_acc"] >= old["intent_acc"]
    return {"rule": f"dev selection score +{MARGIN} or more over the shipped model, dev intent not lower",
            "candidate": str(candidate), "candidate_dev": new, "shipped_dev": old,
            "selection_score_gain": round(gain, 3), "adopt": adopt}


def score_test(candidate: Path, data: Path, out: Path) -> dict:
    chosen = json.loads((out / "verdict.json").read_text())
    if not (chosen["adopt"] and Path(chosen["candidate"]) == candidate):
        raise SystemExit(f"{candidate} was not adopted on dev ({out / 'verdict.json'}): its test is not read")
    saved = load_checkpoint(candidate)
    if "test" not in saved["metrics"]:
        model, intents, tags = load_joint_model(candidate), Vocab(saved["intents"]), Vocab(saved["tags"])
        test = load_split(data, "test")
        saved["metrics"]["test"] = metrics(test, predict(model, test, intents, tags))
        save_checkpoint(candidate, saved)
    return {"candidate": str(candidate), "test": saved["metrics"]["test"], "dev": saved["metrics"]["dev"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    t = sub.add_parser("teachers")
    t.add_argument("--teachers", type=Path, nargs="+", required=True)
    t.add_argument("--student", type=Path, default=Path("checkpoints/massive-en-nlu.pt"), help="its intent labels")
    t.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    v = sub.add_parser("verdict")
    v.add_argument("--candidate", type=Path, required=True)
    v.add_argument("--shipped", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    s = sub.add_parser("test")
    s.add_argument("--candidate", type=Path, required=True)
    s.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    for step in (t, v, s):
        step.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "teachers":
        result = choose_teachers(args.teachers, args.data, args.student)
        (args.out / "teachers.json").write_text(json.dumps(result, indent=2) + "\n")
        log.info("%s", result)
        sys.stdout.write(" ".join(result["chosen"]) + "\n")
        return 0
    if args.step == "test":
        result = score_test(args.candidate, args.data, args.out)
        (args.out / "test.json").write_text(json.dumps(result, indent=2) + "\n")
        log.info("%s", result)
        return 0
    result = verdict(args.candidate, args.shipped)
    (args.out / "verdict.json").write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s", result)
    return 0 if result["adopt"] else 1


if __name__ == "__main__":
    sys.exit(main())
