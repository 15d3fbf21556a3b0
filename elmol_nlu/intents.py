"""Multi-intent labels: several intents of one utterance written as one label, and the set a model predicts.

An utterance may ask for two things at once ("wake me at seven and turn on the lights"). Its label is then
the intents joined by ``#`` (``alarm_set#iot_hue_lighton``), the convention of the MixATIS and MixSNIPS
benchmarks; readers of other formats write theirs the same way (Rasa's ``a+b``, a JSON list). The order in
which a file lists them carries no meaning: ``canonical`` sorts them, so that "the set exactly right" is a
string comparison. A model trained on such labels has one sigmoid output per single intent; the intents it
answers are those at or above its threshold (fitted on dev), and always its most probable one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SEPARATOR = "#"


def split_intents(label: str) -> tuple[str, ...]:
    """The single intents of a label, in the order written, without blanks or repeats."""
    parts = (p.strip() for p in label.split(SEPARATOR))
    return tuple(dict.fromkeys(p for p in parts if p))


def join_intents(names: Iterable[str]) -> str:
    """The canonical label of a set of intents: sorted, joined by ``#``."""
    return SEPARATOR.join(sorted(set(names)))


def canonical(label: str) -> str:
    return join_intents(split_intents(label)) if SEPARATOR in label else label.strip()


def is_multi(label: str) -> bool:
    return len(split_intents(label)) > 1


def single_intents(labels: Iterable[str]) -> list[str]:
    """The sorted single intents that ``labels`` use (the outputs of a multi-intent model)."""
    return sorted({name for label in labels for name in split_intents(label)})


def multi_hot(labels: list[str], names: list[str]) -> np.ndarray:
    """(len(labels), len(names)) float32 targets: 1 where the label has that intent. Unknown names raise."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(labels), len(names)), dtype=np.float32)
    for row, label in enumerate(labels):
        for name in split_intents(label):
            out[row, index[name]] = 1.0
    return out


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise logistic function in float64, stable for large |logits|."""
    z = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def found(probs: np.ndarray, threshold: float) -> list[int]:
    """Indices of the intents a multi-intent model answers, most probable first: every one at or above
    ``threshold``, and the most probable one even when none is."""
    order = np.argsort(-probs, kind="stable")
    chosen = [int(i) for i in order if probs[i] >= threshold]
    return chosen or [int(order[0])]


def fit_threshold(probs: np.ndarray, gold: list[str], names: list[str],
                  grid: Iterable[float] = np.arange(0.1, 0.91, 0.05)) -> float:
    """The threshold at which the most utterances get exactly their set of intents (on dev); ties go to the
    one nearest 0.5."""
    gold_sets = [frozenset(split_intents(label)) for label in gold]

    def right(t: float) -> int:
        return sum(frozenset(names[i] for i in found(p, t)) == g for p, g in zip(probs, gold_sets, strict=True))

    return float(max((round(float(t), 2) for t in grid), key=lambda t: (right(t), -abs(t - 0.5))))
