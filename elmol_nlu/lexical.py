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

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from elmol_nlu.text import normalize

GROUPS = ("w", "c")
CHAR_NGRAMS = (2, 3, 4)


def terms(words: list[str]) -> list[str]:
    """The terms of one tokenised utterance, with repeats (their counts are the term frequencies)."""
    w = [normalize(x) for x in words]
    out = [f"w {x}" for x in w] + [f"w {a} {b}" for a, b in pairwise(w)]
    for x in w:
        padded = f" {x} "
        out += [f"c {padded[i : i + n]}" for n in CHAR_NGRAMS for i in range(len(padded) - n + 1)]
    return out


def pooled_layers(layers: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Max and mean over each sentence's words of every layer: (L, B, T, E) and (B,) -> (B, 2 * L * E)."""
    _, batch, time, _ = layers.shape
    mask = (np.arange(time)[None, :] < lengths[:, None])[None, :, :, None]  # (1, B, T, 1)
    maxed = np.where(mask, layers, -np.inf).max(axis=2)  # (L, B, E)
    mean = (layers * mask).sum(axis=2) / lengths[None, :, None]
    return np.concatenate([maxed, mean], axis=2).transpose(1, 0, 2).reshape(batch, -1).astype(np.float32)


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

    def term_matrix(self, sentences: list[list[str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each sentence's term columns and TF-IDF values (each group of unit length); unseen terms dropped."""
        cols_out, values_out = [], []
        for words in sentences:
            counts: dict[int, int] = {}
            for t in terms(words):
                col = self.vocabulary.get(t)
                if col is not None:
                    counts[col] = counts.get(col, 0) + 1
            cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
            groups = self.group[cols]
            for g in range(len(GROUPS)):
                norm = np.sqrt(np.square(values[groups == g]).sum())
                if norm > 0:
                    values[groups == g] /= norm
            cols_out.append(cols)
            values_out.append(values)
        return cols_out, values_out

    def dense(self, pooled: np.ndarray) -> np.ndarray:
        return (pooled - self.mean) * self.scale

    def logits(self, sentences: list[list[str]], pooled: np.ndarray) -> np.ndarray:
        """Intent logits (B, I) of tokenised sentences and their pooled layers (B, D)."""
        n_terms = len(self.idf)
        out = self.dense(pooled) @ self.weights[n_terms:] + self.bias
        for row, (cols, values) in enumerate(zip(*self.term_matrix(sentences), strict=True)):
            out[row] += values @ self.weights[cols]
        return out.astype(np.float32)

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


def combine(neural: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """The intent logits served: a weighted mean of the two models' log-probabilities (weight on the lexical
    model's; 1 is the lexical model alone). Log-probabilities, so that the result is a product of experts whose
    softmax the skill's temperature then calibrates."""
    return ((1.0 - weight) * log_softmax(neural) + weight * log_softmax(lexical)).astype(np.float32)


@dataclass(frozen=True)
class LexicalHead:
    """A skill's lexical model and the weight of its log-probabilities in the intent logits served."""

    model: LexicalIntents
    weight: float

    def intent_logits(self, neural: np.ndarray, sentences: list[list[str]], pooled: np.ndarray) -> np.ndarray:
        return combine(neural, self.model.logits(sentences, pooled), self.weight)
