"""Where one served model's slot F1 differs from another's: both model directories scored on MASSIVE dev as
served (``elmol_nlu.runtime.evaluate``), slot by slot, sorted by the gold spans the difference is worth
(support × F1 change), so that a candidate behind an incumbent shows what it is behind on. Dev only: this
aims the next recipe, it chooses nothing.

    python -m experiments.slot_gap --models models/fast runs/models/fast-kd --out reports/fast_kd_slot_gap.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from elmol_nlu.datasets import load_split
from elmol_nlu.runtime.evaluate import evaluate_dir

log = logging.getLogger("experiments.slot_gap")


def slot_gap(incumbent: dict, candidate: dict) -> list[dict]:
    """Per slot of either report: support, both F1s and the spans the change is worth, most lost first."""
    rows = []
    for name in sorted(set(incumbent["per_slot"]) | set(candidate["per_slot"])):
        a = incumbent["per_slot"].get(name, {"f1": 0.0, "support": 0})
        b = candidate["per_slot"].get(name, {"f1": 0.0, "support": 0})
        support = max(a["support"], b["support"])
        rows.append({"slot": name, "support": support, "incumbent_f1": a["f1"], "candidate_f1": b["f1"],
                     "spans_worth": round(support * (b["f1"] - a["f1"]) / 100, 2)})
    return sorted(rows, key=lambda r: r["spans_worth"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, nargs=2, required=True, metavar=("INCUMBENT", "CANDIDATE"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    dev = load_split(args.data, "dev")
    reports = [evaluate_dir(m, dev, args.precision) for m in args.models]
    summary = {str(m): {k: r[k] for k in ("intent_acc", "slot_f1", "exact_match", "model")}
               for m, r in zip(args.models, reports, strict=True)}
    gap = slot_gap(*reports)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"split": "dev", "models": summary, "slots": gap}, indent=1))
    for row in gap[:8]:
        log.info("%-20s %4d spans: %6.2f -> %6.2f", row["slot"], row["support"], row["incumbent_f1"],
                 row["candidate_f1"])


if __name__ == "__main__":
    main()
