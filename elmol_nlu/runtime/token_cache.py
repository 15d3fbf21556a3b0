"""Token vectors by word: the char CNN's output depends on the word alone, so each is computed once.

The training words are computed at start-up and kept in one matrix; any other word enters a bounded
LRU, so memory stays flat whatever text clients send.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from elmol_nlu.text import normalize

WARM_CHUNK = 512  # words per token-graph call while warming up


class TokenVectorCache:
    """``lookup(words)`` -> (len(words), dim) float32, computing only the words it has not seen."""

    def __init__(self, compute: Callable[[list[str]], np.ndarray], dim: int, warm_words: list[str],
                 capacity: int) -> None:
        self._compute = compute  # normalised words -> (N, dim) float32
        self.dim, self.capacity = dim, capacity
        words = sorted({normalize(w) for w in warm_words})
        chunks = [compute(words[i : i + WARM_CHUNK]) for i in range(0, len(words), WARM_CHUNK)]
        self._warm = np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
        self._warm_rows = {w: i for i, w in enumerate(words)}
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0  # words computed by the token graph (new to the cache)

    def __len__(self) -> int:
        return len(self._warm_rows) + len(self._recent)

    def lookup(self, words: list[str]) -> np.ndarray:
        keys = [normalize(w) for w in words]
        rows = [self._warm_rows.get(k, -1) for k in keys]
        if min(rows, default=0) >= 0:  # all training words, as most are: one gather, no lock
            return self._warm[rows]
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        warm = [i for i, r in enumerate(rows) if r >= 0]
        out[warm] = self._warm[[rows[i] for i in warm]]
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, row in enumerate(rows):
                if row >= 0:
                    continue
                vector = self._recent.get(keys[i])
                if vector is None:
                    missing.setdefault(keys[i], []).append(i)
                else:
                    self._recent.move_to_end(keys[i])
                    out[i] = vector
            self.misses += len(missing)
        if missing:
            self._fill(missing, out)
        return out

    def _fill(self, missing: dict[str, list[int]], out: np.ndarray) -> None:
        vectors = self._compute(list(missing))
        with self._lock:
            for (word, positions), vector in zip(missing.items(), vectors, strict=True):
                out[positions] = vector
                if self.capacity:
                    self._recent[word] = vector
            while len(self._recent) > self.capacity:
                self._recent.popitem(last=False)
