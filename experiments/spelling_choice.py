"""How many times a word must occur to enter the spelling vocabulary, chosen on MASSIVE dev (clean and with typos).

    python -m experiments.spelling_choice --model-dir models/default     # reports/spelling_choice.json

For each ``min_count`` (and with no correction), the model (int8, as served) is scored on dev and on its noisy
copy (``python -m experiments.typos --partition dev``); the choice maximises the mean of the two selection
scores (mean of intent accuracy, slot F1 and exact match). Test is not read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
from pathlib import Path

from elmol_nlu.datasets import load_split
from elmol_nlu.runtime.evaluate import predictor_metrics
from elmol_nlu.runtime.predictor import Predictor
from elmol_nlu.spelling import SpellingCorrector, count_words
from elmol_nlu.text import normalize
from experiments.typos import MASSIVE, NOISY_DEV
from export.spelling_vocab import CORPUS

log = logging.getLogger("experiments.spelling_choice")
MIN_COUNTS = (2, 3, 5, 10)


def selection(m: dict) -> float:
    return (m["intent_acc"] + m["slot_f1"] + m["exact_match"]) / 3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=Path("models/default"))
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--out", type=Path, default=Path("reports/spelling_choice.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with gzip.open(args.corpus, "rt", encoding="utf-8") as f:
        counts = count_words(f)
    counts.update(normalize(w) for e in load_split(MASSIVE, "train") for w in e.words)  # as export counts them
    sets = {"clean": load_split(MASSIVE, "dev"), "noisy": load_split(NOISY_DEV, "dev")}
    rows = {}
    for min_count in (None, *MIN_COUNTS):
        predictor = Predictor.load(args.model_dir, precision="int8", spelling=False)
        if min_count is not None:  # before any unknown word is looked up: the cache then holds corrected vectors
            predictor.encoder.spelling = SpellingCorrector(
                {w: c for w, c in counts.items() if c >= min_count and w.isalpha()})
        scores = {name: predictor_metrics(predictor, gold) for name, gold in sets.items()}
        mean = (selection(scores["clean"]) + selection(scores["noisy"])) / 2
        rows[str(min_count or "off")] = {**scores, "score": mean}
        log.info("min_count %s: %s", min_count, rows[str(min_count or "off")])
    chosen = max(rows, key=lambda k: rows[k]["score"])
    result = {"model_dir": str(args.model_dir), "split": "dev", "noisy_file": str(NOISY_DEV), "rows": rows,
              "chosen": chosen, "rule": "max of the mean of clean and noisy dev selection scores"}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("chosen min_count %s; written to %s", chosen, args.out)


if __name__ == "__main__":
    main()
