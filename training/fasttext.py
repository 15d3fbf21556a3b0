"""FastText baseline embeddings, trained here on the same unlabeled corpus as the language models.

    python -m training.fasttext --out runs/fasttext

Pretrained FastText vectors cannot be downloaded here, so the baseline is trained on
``data/unlabeled`` with gensim (skip-gram, character n-grams 3-6). The NLU network reads static
vectors from a table; ``vectors.npz`` holds one row for every word of the corpus vocabulary and of
the annotated datasets' texts, each computed by FastText from its subwords when it was never seen in
the corpus, exactly what FastText would give at inference time. Labels are never read.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from elmol_nlu.datasets import read_bio_folder, read_massive
from elmol_nlu.text import normalize, tokenize
from training import corpus as C  # noqa: N812

log = logging.getLogger("fasttext")


def dataset_words(massive: Path, snips: Path) -> set[str]:
    """Every normalised word of the annotated texts (all splits): the rows the NLU may look up."""
    texts = [e.text for e in read_massive(massive)]
    for split in ("train", "dev", "test"):
        if (snips / split).exists():
            texts += [e.text for e in read_bio_folder(snips / split)]
    return {normalize(t.text) for text in texts for t in tokenize(text)}


def train_fasttext(sentences: list[list[str]], dim: int, epochs: int, min_count: int, seed: int, workers: int):
    from gensim.models import FastText  # training-only dependency

    model = FastText(vector_size=dim, window=5, min_count=min_count, sg=1, min_n=3, max_n=6,
                     seed=seed, workers=workers)
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return model


def vector_table(model, words: Iterable[str]) -> tuple[list[str], np.ndarray]:
    ordered = sorted(set(words))
    return ordered, np.stack([model.wv[w] for w in ordered]).astype(np.float32)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--massive", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--snips", type=Path, default=Path("data/snips"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dim", type=int, default=300)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=1, help="gensim workers (1 makes the vectors repeatable)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N utterances (smoke tests)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = time.monotonic()
    lines = C.read_utterances(args.data, args.limit)
    # the same held-out split as the language models, so that all three saw the same text
    train_lines, _ = C.split_heldout(lines, 0.01, args.seed)
    sentences = [C.words_of(line, 40) for line in train_lines]
    model = train_fasttext(sentences, args.dim, args.epochs, args.min_count, args.seed, args.threads)
    words, vectors = vector_table(model, set(model.wv.index_to_key) | dataset_words(args.massive, args.snips))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "vectors.npz"
    np.savez_compressed(path, words=np.array(words), vectors=vectors)
    log.info("%d sentences, %d corpus words, table of %d x %d in %.1f minutes: %s", len(sentences),
             len(model.wv.index_to_key), *vectors.shape, (time.monotonic() - started) / 60, path)
    return path


if __name__ == "__main__":
    main()
