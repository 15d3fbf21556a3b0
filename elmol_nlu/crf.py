"""Linear-chain CRF inference, the serving twin of ``training.crf``: BIO constraints and Viterbi decoding here,
the posterior probabilities behind per-token and per-slot confidences in ``elmol_nlu.posterior``.

The loops over tokens run in ``elmol_nlu._crf`` (C, built at install) when it is built, else in numpy, which
stays the reference the tests hold it to (``compiled=False``). In numpy each token's step is a few calls
whose fixed cost is most of the time. In C, which also skips the moves BIO forbids, Viterbi takes 7 us for a
served utterance against 55, forward-backward 18 against 68 (``python -m experiments.bench.crf``).
"""

from __future__ import annotations

import numpy as np

from elmol_nlu.vocab import allowed_transition

try:
    from elmol_nlu import _crf
except ImportError:  # installed without a C compiler: the numpy loops
    _crf = None

COMPILED = _crf is not None

FORBIDDEN = -1e4
# Scores more than this far (after the temperature) below the best of their table count as this far below:
# it changes probabilities by less than e^-300, and keeps every step of forward-backward within float64.
MAX_SCORE_GAP = 300.0
# A scaled table entry below this (its row's maximum is about 1) may have lost the digits that its product with
# the other direction's table needs: then marginals and spans come from log-space tables instead.
RANGE_FLOOR = 1e-250


def _check_compiled(compiled: bool) -> bool:
    if compiled and not COMPILED:
        raise RuntimeError("elmol_nlu._crf is not built: reinstall the package where a C compiler is available")
    return compiled


def bio_masks(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which tags may start a sentence (K,) and which transitions BIO allows (K, K)."""
    start_ok = np.array([allowed_transition(None, t) for t in tags])
    return start_ok, np.array([[allowed_transition(a, b) for b in tags] for a in tags])


def constrained(tags: list[str], start: np.ndarray, transitions: np.ndarray,
                masks: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and transition scores with BIO-breaking starts and transitions forbidden; ``masks`` is
    ``bio_masks(tags)`` when the caller has it already."""
    n = len(tags)
    if transitions.shape != (n, n) or start.shape != (n,):
        raise ValueError(f"CRF parameters do not match {n} tags")
    start_ok, allowed = masks or bio_masks(tags)
    return start + np.where(start_ok, 0.0, FORBIDDEN), transitions + np.where(allowed, 0.0, FORBIDDEN)


def bounded_exp(scores: np.ndarray, allowed: np.ndarray | bool = True) -> tuple[np.ndarray, float, bool]:
    """exp(scores - shift) with scores floored at MAX_SCORE_GAP below the best allowed one, and exactly 0
    where not allowed; returns the table, its shift (the best allowed score) and whether any score was floored."""
    best = float(np.max(np.where(allowed, scores, -np.inf)))
    gap = np.where(allowed, scores - best, 0.0)
    return np.where(allowed, np.exp(np.maximum(gap, -MAX_SCORE_GAP)), 0.0), best, bool(gap.min() < -MAX_SCORE_GAP)


class ViterbiDecoder:
    """Best BIO tag sequence from emissions, with BIO-breaking transitions forbidden; scores in float32 (the
    model's emissions), ties to the lowest tag index as numpy's argmax."""

    def __init__(self, tags: list[str], start: np.ndarray, transitions: np.ndarray, end: np.ndarray,
                 compiled: bool = COMPILED) -> None:
        if end.shape != (len(tags),):
            raise ValueError(f"CRF parameters do not match {len(tags)} tags")
        self.compiled = _check_compiled(compiled)
        masks = bio_masks(tags)
        start, transitions = constrained(tags, start, transitions, masks)
        self.start, self.transitions = start.astype(np.float32), transitions.astype(np.float32)
        self.end = end.astype(np.float32)
        self._transitions_to_from = np.ascontiguousarray(self.transitions.T)
        self._rows = np.arange(len(tags))
        # which moves into each tag BIO allows, so that C looks at those alone where they are few (into I- tags)
        self._moves = (_crf.moves(self._transitions_to_from, np.ascontiguousarray(masks[1].T), len(tags))
                       if self.compiled else None)

    def decode(self, emissions: np.ndarray) -> list[int]:
        """Emissions (T, K) of one sentence (no padding) to T tag indices."""
        emissions = np.ascontiguousarray(emissions, dtype=np.float32)
        if emissions.ndim != 2 or emissions.shape[1] != len(self.end) or not len(emissions):
            raise ValueError(f"emissions of shape {emissions.shape}, expected (T >= 1, {len(self.end)})")
        if self.compiled:
            return _crf.viterbi(emissions, self.start, self._transitions_to_from, self.end, *emissions.shape,
                                self._moves)
        n_tags = len(self.end)
        score = self.start + emissions[0]
        history = np.empty((max(0, len(emissions) - 1), n_tags), dtype=np.intp)
        candidates = np.empty((n_tags, n_tags), dtype=np.float32)  # (to, from): argmax over contiguous rows
        for t in range(1, len(emissions)):
            np.add(self._transitions_to_from, score, out=candidates)
            best = candidates.argmax(axis=1)
            history[t - 1] = best
            score = candidates[self._rows, best] + emissions[t]
        tag = int((score + self.end).argmax())
        path = [tag]
        for back in history[::-1]:
            tag = int(back[tag])
            path.append(tag)
        return path[::-1]
