"""Test utterances (MASSIVE's, or a BIO folder's test/), shuffled reproducibly, cycled to any length."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from elmol_nlu.datasets import read_bio_folder, read_massive
from elmol_nlu.paths import PROJECT_ROOT

DEFAULT_DATA = PROJECT_ROOT / "data" / "massive" / "en-US.jsonl"


def load_texts(path: Path, seed: int) -> list[str]:
    examples = read_bio_folder(path / "test") if path.is_dir() else read_massive(path, "test")
    texts = [e.text for e in examples if e.text.strip()]
    if not texts:
        raise SystemExit(f"{path}: no test utterances")
    random.Random(seed).shuffle(texts)
    return texts


def take(texts: list[str], n: int, skip: int = 0) -> list[str]:
    """``n`` texts cycling from ``skip``, so warm-up and measured calls see different utterances."""
    return list(itertools.islice(itertools.cycle(texts), skip, skip + n))
