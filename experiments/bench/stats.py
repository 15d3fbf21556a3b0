"""Percentile summaries of timings in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from experiments.bench.corpus import take

PERCENTILES = (50, 90, 99)


def summarize(ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max in ms and the rate one sequential caller would reach."""
    if not ms:
        return {"n": 0}
    a = np.asarray(ms, dtype=np.float64)
    out: dict[str, float] = {"n": int(a.size)}
    out.update({f"p{q}": float(np.percentile(a, q)) for q in PERCENTILES})
    out["mean"] = float(a.mean())
    out["max"] = float(a.max())
    out["per_s"] = 1000.0 / out["mean"]
    return out


def time_calls(call: Callable[[str], object], texts: list[str], n: int, warmup: int) -> dict[str, float]:
    """``summarize`` of ``call(text)`` one text at a time: ``n`` calls cycling through ``texts`` after
    ``warmup`` untimed calls on the texts before them."""
    for text in take(texts, warmup):
        call(text)
    ms = []
    for text in take(texts, n, skip=warmup):
        started = time.perf_counter()
        call(text)
        ms.append(1000 * (time.perf_counter() - started))
    return summarize(ms)
