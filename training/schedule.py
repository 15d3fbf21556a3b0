"""Learning-rate schedules as plain functions of the step: multipliers of the base rate."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to ``floor`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def slanted_triangular(step: int, total: int, cut_fraction: float = 0.1, ratio: float = 32.0) -> float:
    """ULMFiT's slanted triangular rate (Howard and Ruder, 2018): short rise, long linear fall."""
    cut = max(1, int(total * cut_fraction))
    p = step / cut if step < cut else 1 - (step - cut) / max(1, cut * (1 / cut_fraction - 1))
    return (1 + max(0.0, p) * (ratio - 1)) / ratio


def warmup_linear(step: int, total: int, warmup: float) -> float:
    """BERT's schedule: linear rise over a ``warmup`` fraction of the steps, then linear fall to 0 at ``total``."""
    rise = max(1, round(total * warmup))
    return (step + 1) / rise if step < rise else max(0.0, (total - step) / max(1, total - rise))
