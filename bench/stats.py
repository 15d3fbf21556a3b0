"""Percentile summaries of timings in milliseconds."""

from __future__ import annotations

import numpy as np

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
