"""Which claim rule routes best (``elmol_nlu.calibration.claim_threshold``), measured on dev without retraining.

Each skill's P(out of skill) is taken once on its own dev split and held-out negatives (what the rule fits
on) and on every utterance to route; then each rule's thresholds route them as the predictor does (the
claiming skill with the lowest P(out of skill) answers, else the base).
"""

from __future__ import annotations

import numpy as np

from elmol_nlu.calibration import CLAIM_RULES, claim_threshold


def route(probs: dict[str, np.ndarray], thresholds: dict[str, float], base: str) -> list[str]:
    names = list(probs)
    p = np.stack([probs[n] for n in names], axis=1)  # (N, skills)
    claims = p < np.array([thresholds[n] for n in names])
    best = np.where(claims, 1.0 - p, -1.0).argmax(axis=1)
    return [names[b] if claims[i, b] else base for i, b in enumerate(best)]


def compare(fit_on: dict[str, tuple[np.ndarray, np.ndarray]], probs: dict[str, np.ndarray], gold: list[str],
            base: str) -> dict[str, dict]:
    """Per rule: its thresholds and the share of utterances routed to the right model."""
    out = {}
    for rule in CLAIM_RULES:
        thresholds = {name: claim_threshold(own, foreign, rule) for name, (own, foreign) in fit_on.items()}
        right = [r == g for r, g in zip(route(probs, thresholds, base), gold, strict=True)]
        out[rule] = {"thresholds": thresholds, "routed_right": round(100 * float(np.mean(right)), 2)}
    return out
