"""The unlabeled utterance corpus for language-model pretraining: split, vocabulary, batches."""

from __future__ import annotations

import gzip
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.text import char_ids, normalize, tokenize
from elmol_nlu.vocab import BOS, EOS, PAD, UNK, Vocab
from training.lm import LMBatch


def read_utterances(path: Path, limit: int | None = None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    lines = [line for line in lines if line]
    return lines[:limit] if limit else lines


def split_heldout(lines: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A fixed random ``fraction`` of the lines is held out to measure perplexity."""
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    n_heldout = max(1, int(len(lines) * fraction))
    heldout = sorted(order[:n_heldout])
    keep = sorted(order[n_heldout:])
    return [lines[i] for i in keep], [lines[i] for i in heldout]


def words_of(line: str, max_len: int) -> list[str]:
    return [normalize(t.text) for t in tokenize(line)][:max_len]


def build_word_vocab(sentences: list[list[str]], size: int, min_count: int) -> Vocab:
    counts = Counter(w for s in sentences for w in s)
    return Vocab.from_counts(counts, min_count, size, specials=[PAD, UNK, BOS, EOS], unk=UNK)


@dataclass
class EncodedCorpus:
    """Sentences as indices into a table of word types, whose characters are computed once."""

    type_chars: np.ndarray  # (n_types, max_chars)
    type_word_ids: np.ndarray  # (n_types,) softmax id of each type
    sentences: list[np.ndarray]  # type indices per sentence
    types: list[str] | None = None  # the word of each type (typo noise edits it)

    @property
    def n_tokens(self) -> int:
        return sum(len(s) for s in self.sentences)


def encode(sentences: list[list[str]], vocab: Vocab, max_chars: int) -> EncodedCorpus:
    types: dict[str, int] = {}
    encoded = [np.array([types.setdefault(w, len(types)) for w in s], dtype=np.int64) for s in sentences]
    words = list(types)
    return EncodedCorpus(
        type_chars=char_ids(words, max_chars),
        type_word_ids=np.array(vocab.indices(words), dtype=np.int64),
        sentences=[s for s in encoded if len(s)],
        types=words,
    )


def make_batch(corpus: EncodedCorpus, members: list[int], bos: int, eos: int, pad: int) -> LMBatch:
    sents = [corpus.sentences[i] for i in members]
    lengths = np.array([len(s) for s in sents])
    width = int(lengths.max())
    types = np.zeros((len(sents), width), dtype=np.int64)
    mask = np.arange(width)[None, :] < lengths[:, None]
    for i, s in enumerate(sents):
        types[i, : len(s)] = s
    words = np.where(mask, corpus.type_word_ids[types], pad)
    next_words = np.full_like(words, pad)
    prev_words = np.full_like(words, pad)
    next_words[:, :-1] = words[:, 1:]
    next_words[np.arange(len(sents)), lengths - 1] = eos
    prev_words[:, 1:] = words[:, :-1]
    prev_words[:, 0] = bos
    chars = corpus.type_chars[types] * mask[:, :, None]
    return LMBatch(
        chars=torch.from_numpy(chars),
        lengths=torch.from_numpy(lengths),
        next_words=torch.from_numpy(next_words),
        prev_words=torch.from_numpy(prev_words),
        mask=torch.from_numpy(mask),
    )


def group_by_length(lengths: list[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Indices of sentences of similar length grouped so that width × size stays within ``batch_tokens``
    (a longer sentence than that gets a batch of its own); equal lengths in ``rng``'s order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches, current, width = [], [], 0
    for i in order:
        width = max(width, lengths[i])
        if current and width * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, width = [], lengths[i]
        current.append(i)
    if current:
        batches.append(current)
    return batches


def batch_plan(corpus: EncodedCorpus, batch_tokens: int, seed: int) -> list[list[int]]:
    """Sentences of similar length grouped into batches of about ``batch_tokens`` tokens, shuffled."""
    rng = random.Random(seed)
    batches = group_by_length([len(s) for s in corpus.sentences], batch_tokens, rng)
    rng.shuffle(batches)
    return batches


def iterate(corpus: EncodedCorpus, plan: list[list[int]], vocab: Vocab, start: int = 0) -> Iterator[LMBatch]:
    bos, eos, pad = vocab.index(BOS), vocab.index(EOS), vocab.index(PAD)
    for members in plan[start:]:
        yield make_batch(corpus, members, bos, eos, pad)
