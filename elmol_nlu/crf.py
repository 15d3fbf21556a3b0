"""Viterbi decoding of a linear-chain CRF in numpy: the serving twin of ``training.crf``."""

from __future__ import annotations

import numpy as np

from elmol_nlu.vocab import allowed_transition

FORBIDDEN = -1e4


class ViterbiDecoder:
    """Best BIO tag sequence from emissions, with BIO-breaking transitions forbidden."""

    def __init__(self, tags: list[str], start: np.ndarray, transitions: np.ndarray, end: np.ndarray) -> None:
        n = len(tags)
        if transitions.shape != (n, n) or start.shape != (n,) or end.shape != (n,):
            raise ValueError(f"CRF parameters do not match {n} tags")
        allowed = np.array([[allowed_transition(a, b) for b in tags] for a in tags])
        start_ok = np.array([allowed_transition(None, t) for t in tags])
        self.start = (start + np.where(start_ok, 0.0, FORBIDDEN)).astype(np.float32)
        self.transitions = (transitions + np.where(allowed, 0.0, FORBIDDEN)).astype(np.float32)
        self.end = end.astype(np.float32)
        self._transitions_to_from = np.ascontiguousarray(self.transitions.T)
        self._rows = np.arange(n)

    def decode(self, emissions: np.ndarray) -> list[int]:
        """Emissions (T, K) of one sentence (no padding) to T tag indices."""
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
