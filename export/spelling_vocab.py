"""The spelling vocabulary of a model directory (``elmol_nlu.spelling``): the words of the pretraining corpus and of
the training data, each seen ``min_count`` times or more. No evaluation text: the corpus refuses every dev and test
utterance (``training.build_corpus``), and the training words are MASSIVE train's."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

from elmol_nlu.spelling import FILE, MIN_LETTERS, count_words, write_vocabulary

log = logging.getLogger("export")
CORPUS = Path("data/unlabeled/utterances.txt.gz")
MIN_COUNT = 10  # chosen on MASSIVE dev with typos for the shipped model (reports/spelling_choice.json)


def add_spelling(out: Path, content: dict, training_words: list[str], corpus: Path = CORPUS,
                 min_count: int = MIN_COUNT) -> None:
    """Write ``out/spelling.txt`` and name it in the manifest ``content`` (files and a ``spelling`` entry)."""
    with gzip.open(corpus, "rt", encoding="utf-8") if corpus.suffix == ".gz" else open(corpus, encoding="utf-8") as f:
        counts = count_words(f)
    counts.update(training_words)
    n = write_vocabulary(counts, out / FILE, min_count)
    content["files"] = [*content["files"], FILE]
    content["spelling"] = {"file": FILE, "words": n, "min_count": min_count, "min_letters": MIN_LETTERS,
                           "sources": [str(corpus), "the training words"]}
    log.info("spelling vocabulary: %d words seen %d times or more (%.1f MB)", n, min_count,
             (out / FILE).stat().st_size / 1e6)
