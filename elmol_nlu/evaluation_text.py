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
MIX = Path("data/mix")  # MixSNIPS and MixATIS (multi-intent), each in SNIPS's folder layout, when present
EVALUATION_PARTITIONS = ("dev", "test")


def evaluation_texts(massive: Path = MASSIVE, snips: Path = SNIPS, mix: Path = MIX) -> list[str]:
    """Every dev and test utterance of MASSIVE en-US, SNIPS and the multi-intent sets under ``mix`` (the sets
    whose figures we report). A multi-intent utterance joins single-intent ATIS or SNIPS dev/test utterances:
    SNIPS's are here already; MixATIS is not committed (ATIS's licence), so it counts where it was built."""
    texts = [e.text for p in EVALUATION_PARTITIONS for e in read_massive(massive, p)]
    texts += [e.text for p in EVALUATION_PARTITIONS for e in read_bio_folder(snips / p)]
    for folder in sorted(mix.glob("*/*")) if mix.is_dir() else []:
        if folder.name in EVALUATION_PARTITIONS and (folder / "seq.in").is_file():
            texts += [e.text for e in read_bio_folder(folder)]
    return texts


def evaluation_keys(massive: Path = MASSIVE, snips: Path = SNIPS, mix: Path = MIX) -> set[str]:
    return {match_key(t) for t in evaluation_texts(massive, snips, mix)}
