"""Scores of our models and the classic CRF recipe on MASSIVE test, clean and with typos (``experiments.typos``).

    python -m experiments.typos_eval --model-dir models/default [more model dirs]   # reports/typos.json

The classic recipe is re-run here, trained on MASSIVE train with the hyper-parameters its own run chose on
dev (reports/baseline_classic.json), so both sides of the comparison come from the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from elmol_nlu.datasets import load_split
from elmol_nlu.runtime.evaluate import predictor_metrics
from elmol_nlu.runtime.predictor import Predictor
from elmol_nlu.scoring import metrics
from experiments.typos import MASSIVE, MIN_LETTERS, NOISY, NOISY_DEV, RATE, SEED

log = logging.getLogger("experiments.typos")
COLUMNS = ("intent_acc", "slot_f1", "exact_match")


def drops(clean: dict, noisy: dict) -> dict:
    return {k: round(clean[k] - noisy[k], 2) for k in COLUMNS}


def classic(train: list, sets: dict[str, list]) -> dict[str, dict]:
    from experiments.baselines.classic import ClassicNLU, fit_intent, fit_slots

    chosen = json.loads(Path("reports/baseline_classic.json").read_text())["hyperparameters"]
    vectorizer, classifier = fit_intent(train, chosen["C"], seed=0)
    model = ClassicNLU(vectorizer, classifier, fit_slots(train, chosen["c1"], chosen["c2"]))
    return {name: metrics(gold, model.predict(gold)) for name, gold in sets.items()}


def evaluate(model_dirs: list[Path], out: Path, split: str = "test") -> dict:
    noisy = NOISY if split == "test" else NOISY_DEV
    sets = {"clean": load_split(MASSIVE, split), "noisy": load_split(noisy, split)}
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                             text=True).stdout.strip(),
                    "split": split,
                    "noise": {"rate": RATE, "min_letters": MIN_LETTERS, "seed": SEED, "file": str(noisy)},
                    "models": {}}
    for model_dir in model_dirs:
        # as served (spelling correction on, when the directory has its vocabulary), then without it
        for spelling, suffix in ((True, ""), (False, " (no spelling correction)")):
            predictor = Predictor.load(model_dir, precision="int8", spelling=spelling)
            if not spelling and predictor.manifest.raw.get("spelling") is None:
                continue
            scores = {name: predictor_metrics(predictor, gold) for name, gold in sets.items()}
            key = str(model_dir) + suffix
            report["models"][key] = {"name": predictor.manifest.name, "spelling": spelling and
                                     predictor.encoder.spelling is not None, **scores,
                                     "drop": drops(scores["clean"], scores["noisy"])}
            log.info("%s: %s", key, report["models"][key]["drop"])
    scores = classic(load_split(MASSIVE, "train"), sets)
    report["models"]["classic"] = {"name": "TF-IDF + CRF (classic recipe)", **scores,
                                   "drop": drops(scores["clean"], scores["noisy"])}
    crf_drop = report["models"]["classic"]["drop"]
    for entry in report["models"].values():
        entry["drop_vs_classic"] = {k: round(entry["drop"][k] / crf_drop[k], 2) if crf_drop[k] else None
                                    for k in COLUMNS}
    out.write_text(json.dumps(report, indent=1) + "\n")
    log.info("classic: %s; written to %s", crf_drop, out)
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, nargs="+", default=[Path("models/default")])
    p.add_argument("--split", choices=["test", "dev"], default="test",
                   help="dev: what choices are made on (reports/typos-dev.json by default)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = args.out or Path("reports/typos.json" if args.split == "test" else "reports/typos-dev.json")
    evaluate(args.model_dir, out, args.split)


if __name__ == "__main__":
    main()
