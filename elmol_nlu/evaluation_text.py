"""The text of every evaluation split we score on, as match keys: what no training corpus may contain.

Pretraining, distillation and teacher corpora drop any utterance whose ``match_key`` is in
``evaluation_keys()``: lower-cased, every non-alphanumeric character dropped, so "dont" matches "don't".
"""

from __future__ import annotations

from pathlib import Path

from elmol_nlu.datasets import read_bio_folder, read_massive
from elmol_nlu.text import match_key

MASSIVE = Path("data/massive/en-US.jsonl")
SNIPS = Path("data/snips")
EVALUATION_PARTITIONS = ("dev", "test")


def evaluation_texts(massive: Path = MASSIVE, snips: Path = SNIPS) -> list[str]:
    """Every dev and test utterance of MASSIVE en-US and SNIPS (the sets whose figures we report)."""
    texts = [e.text for p in EVALUATION_PARTITIONS for e in read_massive(massive, p)]
    texts += [e.text for p in EVALUATION_PARTITIONS for e in read_bio_folder(snips / p)]
    return texts


def evaluation_keys(massive: Path = MASSIVE, snips: Path = SNIPS) -> set[str]:
    return {match_key(t) for t in evaluation_texts(massive, snips)}
