"""A skill's lexical intent model: one linear layer over TF-IDF n-grams of the words and the shared encoder's
pooled layers, beside the neural heads.

Why: with a few hundred examples, a linear model over word and character n-grams (the classic recipe) learns
a new domain's intents better than the heads' MLP does, and the frozen encoder's pooled layers add what the
n-grams miss (a probe on MASSIVE's held-out scenarios, dev: 95.0% at n = 500 against 94.5% for n-grams alone;
``experiments/intent_probe.py``). Training fits it (``training.lexical``); serving computes it here, in numpy,
from the words and the layers the encoder graph already gave the heads.

Terms: each word (lower case) and each pair of neighbours (``w`` terms), and the 2-4 character n-grams of each
word padded with a space on either side (``c`` terms). Each group's TF-IDF vector (sublinear term frequency,
smoothed idf) has unit length. The pooled layers (max and mean of each layer over the words) are standardised
and scaled by 1/sqrt(dimensions), so that the two kinds of features weigh alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from elmol_nlu.text import normalize

GROUPS = ("w", "c")
CHAR_NGRAMS = (2, 3, 4)
WORD_CACHE = 50_000  # words whose columns are kept (the table is emptied when full)


def word_terms(word: str) -> list[str]:
    """The terms one normalised word gives alone: itself and its padded character n-grams."""
    padded = f" {word} "
    return [f"w {word}", *(f"c {padded[i : i + n]}" for n in CHAR_NGRAMS for i in range(len(padded) - n + 1))]


def terms(words: list[str]) -> list[str]:
    """The terms of one tokenised utterance, with repeats (their counts are the term frequencies)."""
    w = [normalize(x) for x in words]
    return [t for x in w for t in word_terms(x)] + [f"w {a} {b}" for a, b in pairwise(w)]


def pooled_layers(layers: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Max and mean over each sentence's words of every layer: (L, B, T, E) and (B,) -> (B, 2 * L * E)."""
    _, batch, time, _ = layers.shape
    if batch == 1:  # the served case (one sentence a call): no mask, a third of the numpy calls
        x = layers[:, 0, : int(lengths[0])]
        return np.concatenate([x.max(axis=1), x.mean(axis=1)], axis=1).reshape(1, -1).astype(np.float32)
    mask = (np.arange(time)[None, :] < lengths[:, None])[None, :, :, None]  # (1, B, T, 1)
    maxed = np.where(mask, layers, -np.inf).max(axis=2)  # (L, B, E)
    mean = (layers * mask).sum(axis=2) / lengths[None, :, None]
    return np.concatenate([maxed, mean], axis=2).transpose(1, 0, 2).reshape(batch, -1).astype(np.float32)


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64))


@dataclass(frozen=True)
class LexicalIntents:
    """The fitted model: term columns, idf, group of each term, pooled-feature standardisation, weights."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (F,)
    group: np.ndarray  # (F,) index into GROUPS
    mean: np.ndarray  # (D,) of the pooled layers
    scale: np.ndarray  # (D,) 1 / (std * sqrt(D))
    weights: np.ndarray  # (F + D, I)
    bias: np.ndarray  # (I,)
    _word_cache: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def word_columns(self, word: str) -> list[int]:
        """The known columns of ``word_terms``, cached per word: a service sees the same words again and again, and
        a small hot table spares the large vocabulary's lookups (and the cache misses they cost the graphs)."""
        cols = self._word_cache.get(word)
        if cols is None:
            if len(self._word_cache) >= WORD_CACHE:
                self._word_cache.clear()
            cols = [c for c in map(self.vocabulary.get, word_terms(word)) if c is not None]
            self._word_cache[word] = cols
        return cols

    def tfidf(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """One sentence's term columns (sorted) and TF-IDF values, each group of unit length; unseen terms dropped."""
        w = [normalize(x) for x in words]
        pairs = map(self.vocabulary.get, [f"w {a} {b}" for a, b in pairwise(w)])
        found = [c for x in w for c in self.word_columns(x)] + [c for c in pairs if c is not None]
        if not found:
            return _EMPTY
        cols, counts = np.unique(np.array(found), return_counts=True)
        values = (1.0 + np.log(counts)) * self.idf[cols]
        groups = self.group[cols]
        return cols, values / np.sqrt(np.bincount(groups, values * values, minlength=len(GROUPS)))[groups]

    def term_matrix(self, sentences: list[list[str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``tfidf`` of each sentence: (columns, values) lists."""
        pairs = [self.tfidf(words) for words in sentences]
        return [c for c, _ in pairs], [v for _, v in pairs]

    def dense(self, pooled: np.ndarray) -> np.ndarray:
        return (pooled - self.mean) * self.scale

    def save(self, path: Path) -> None:
        names = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        np.savez_compressed(path, terms=np.array(names), idf=self.idf, group=self.group, mean=self.mean,
                            scale=self.scale, weights=self.weights, bias=self.bias)

    @classmethod
    def load(cls, path: Path) -> LexicalIntents:
        with np.load(path) as z:
            return cls({str(t): i for i, t in enumerate(z["terms"])}, z["idf"], z["group"], z["mean"], z["scale"],
                       z["weights"].astype(np.float32), z["bias"].astype(np.float32))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class LexicalHead:
    """A skill's lexical model and the weight of its log-probabilities in the intent logits served.

    The served logits are ``(1 - w) * neural + w * lexical``: the weighted mean of the two models'
    log-probabilities (a product of experts) up to a constant per row, which softmax, and so every probability,
    claim and answer, ignores. The standardisation and the weight are folded into the matrices once.
    """

    model: LexicalIntents
    weight: float

    def __post_init__(self) -> None:
        m, w = self.model, self.weight
        n = len(m.idf)
        dense = m.weights[n:]
        object.__setattr__(self, "_terms", (w * m.weights[:n]).astype(np.float32))
        object.__setattr__(self, "_dense", (w * m.scale[:, None] * dense).astype(np.float32))
        object.__setattr__(self, "_bias", (w * (m.bias - (m.mean * m.scale) @ dense)).astype(np.float32))

    def intent_logits(self, neural: np.ndarray, sentences: list[list[str]], pooled: np.ndarray) -> np.ndarray:
        """Served intent logits (B, I) from the heads' (B, I), the tokenised sentences and their pooled layers (B, D);
        with weight 1 and any neural logits, the lexical model's own logits."""
        out = pooled @ self._dense
        out += self._bias
        out += (1.0 - self.weight) * neural
        for row, words in enumerate(sentences):
            cols, values = self.model.tfidf(words)
            if len(cols):
                out[row] += values.astype(np.float32) @ self._terms[cols]
        return out
