"""Calibration of confidences: temperature fitting, expected calibration error, Brier score, reliability bins.

Torch-free numpy, shared by export (which fits temperatures on the dev split) and the confidence report.
A confidence is the probability the model gives to what it returned (an intent, a slot span); "correct"
says whether that was right.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

N_BINS = 15


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]; a confidence of exactly 1 falls in the last bin."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(ReliabilityBin(b / n_bins, (b + 1) / n_bins, count,
                                   float(confidence[mask].mean()) if count else math.nan,
                                   float(correct[mask].mean()) if count else math.nan))
    return bins


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Σ_bins (n_b / n) |accuracy_b - mean confidence_b| over equal-width bins."""
    total = len(confidence)
    if total == 0:
        return math.nan
    return float(sum(b.count / total * abs(b.accuracy - b.mean_confidence)
                     for b in reliability_bins(confidence, correct, n_bins) if b.count))


def brier_score(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean squared difference between confidence and the 0/1 outcome."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    return float(np.mean((confidence - correct) ** 2)) if len(confidence) else math.nan


def summary(confidence: np.ndarray, correct: np.ndarray) -> dict:
    return {"n": len(confidence), "ece": expected_calibration_error(confidence, correct),
            "brier": brier_score(confidence, correct), "accuracy": float(np.mean(correct)) if len(correct) else None,
            "mean_confidence": float(np.mean(confidence)) if len(confidence) else None,
            "bins": [asdict(b) for b in reliability_bins(confidence, correct)]}


def binary_nll(confidence: np.ndarray, correct: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(confidence, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(correct, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def intent_nll(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold intents under softmax(logits / temperature)."""
    return float(-log_softmax(np.asarray(logits, dtype=np.float64) / temperature)[np.arange(len(gold)), gold].mean())


def fit_temperature(loss: Callable[[float], float], low: float = 0.05, high: float = 20.0, steps: int = 40) -> float:
    """The temperature in [low, high] minimising ``loss`` (golden-section search over log T; losses of a
    temperature are unimodal in practice, and 40 steps narrow the bracket to a factor of 1 + 1e-7)."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = math.log(low), math.log(high)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(math.exp(c)), loss(math.exp(d))
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(math.exp(d))
    return math.exp((a + b) / 2)


CLAIM_RULES = ("balanced", "recall95", "recall92", "recall90", "recall85", "recall80")


def claim_threshold(own: np.ndarray, foreign: np.ndarray, rule: str = "balanced") -> float:
    """The P(out of skill) under which a skill claims an utterance, from that probability on its own dev
    utterances and on held-out ones that are not its own:
    - ``balanced``: the best accuracy with each side weighted equally;
    - ``recallNN``: the strictest threshold that still claims NN% of its own dev utterances.
    On a grid of 0.02 steps; ties go to the threshold nearest 0.5."""
    grid = [round(float(t), 2) for t in np.arange(0.02, 0.99, 0.02)]
    if rule == "balanced":
        return max(grid, key=lambda t: ((np.mean(own < t) + np.mean(foreign >= t)) / 2, -abs(t - 0.5)))
    if rule.startswith("recall") and rule in CLAIM_RULES:
        needed = int(rule.removeprefix("recall")) / 100
        return next((t for t in grid if np.mean(own < t) >= needed), grid[-1])
    raise ValueError(f"claim rule {rule!r} is not one of {CLAIM_RULES}")
