"""Fit a skill's lexical intent model (``elmol_nlu.lexical``): TF-IDF n-grams and the frozen encoder's pooled
layers under a multinomial logistic regression, on the same examples (out-of-skill ones included) as the heads.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.intents import split_intents
from elmol_nlu.lexical import GROUPS, LexicalIntents, pooled_layers, terms
from elmol_nlu.text import batch_char_ids
from training.nlu import JointNLU

log = logging.getLogger("training.lexical")


@torch.no_grad()
def pooled_features(model: JointNLU, sentences: list[list[str]], batch: int = 128) -> np.ndarray:
    """``pooled_layers`` of the model's encoder, as the served encoder graph gives them to the heads."""
    model.eval()
    out = []
    for start in range(0, len(sentences), batch):
        chars, lengths = batch_char_ids(sentences[start : start + batch], model.cfg.lm.max_chars)
        layers = model.encoder(torch.from_numpy(chars), torch.from_numpy(lengths))
        out.append(pooled_layers(torch.stack(layers).numpy(), lengths))
    return np.concatenate(out)


def vocabulary(sentences: list[list[str]]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """Every term of the training sentences, its smoothed idf, ln((1 + n) / (1 + df)) + 1, and its group."""
    df: dict[str, int] = {}
    for words in sentences:
        for t in set(terms(words)):
            df[t] = df.get(t, 0) + 1
    names = sorted(df)
    idf = np.log((1 + len(sentences)) / (1 + np.array([df[t] for t in names], dtype=np.float64))) + 1
    group = np.array([GROUPS.index(t[0]) for t in names], dtype=np.int8)
    return {t: i for i, t in enumerate(names)}, idf, group


def design(model: LexicalIntents, sentences: list[list[str]], pooled: np.ndarray) -> sparse.csr_matrix:
    cols, values = model.term_matrix(sentences)
    indptr = np.cumsum([0, *(len(c) for c in cols)])
    terms_part = sparse.csr_matrix((np.concatenate(values), np.concatenate(cols), indptr),
                                   shape=(len(sentences), len(model.idf)))
    return sparse.hstack([terms_part, sparse.csr_matrix(model.dense(pooled))]).tocsr()


def fit_lexical(model: JointNLU, examples: list[TaggedExample], intents: list[str], c: float,
                seed: int) -> LexicalIntents:
    """The lexical model over ``intents`` (the heads' order), fitted on ``examples``. A multi-intent label
    counts as its first intent (the lexical model backs single-intent skills)."""
    sentences = [e.words for e in examples]
    pooled = pooled_features(model, sentences)
    std = pooled.std(axis=0) + 1e-6
    vocab, idf, group = vocabulary(sentences)
    n_terms, dim = len(idf), pooled.shape[1]
    empty = LexicalIntents(vocab, idf, group, pooled.mean(axis=0), (1.0 / (std * np.sqrt(dim))).astype(np.float32),
                           np.zeros((n_terms + dim, len(intents)), np.float32), np.zeros(len(intents), np.float32))
    x = design(empty, sentences, pooled)
    y = np.array([intents.index(split_intents(e.example.intent)[0]) for e in examples])
    if len(set(y.tolist())) < 2:  # one intent and no out-of-skill examples: nothing to tell apart
        bias = np.full(len(intents), -30.0, np.float32)
        bias[y[0]] = 0.0
        return LexicalIntents(vocab, idf, group, empty.mean, empty.scale, empty.weights, bias)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        clf = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(x, y)
    weights = np.zeros((n_terms + dim, len(intents)), np.float32)
    bias = np.full(len(intents), -30.0, np.float32)  # an intent with no training example is never chosen
    if len(clf.classes_) == 2:  # sklearn keeps one column for two classes
        coef, intercept = np.stack([-clf.coef_[0], clf.coef_[0]]) / 2, np.array([-1, 1]) * clf.intercept_[0] / 2
    else:
        coef, intercept = clf.coef_, clf.intercept_
    weights[:, clf.classes_] = coef.T
    bias[clf.classes_] = intercept
    log.info("lexical intents: %d terms + %d pooled dimensions, %d intents, C=%g", n_terms, dim, len(intents), c)
    return LexicalIntents(vocab, idf, group, empty.mean, empty.scale, weights, bias)
