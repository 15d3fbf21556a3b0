"""What every table generator shares: the repository root, report loading, number formats, markdown tables."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
METRICS = ("intent_acc", "slot_f1", "exact_match")


def report(path: str) -> dict:
    """A committed JSON report, by its path from the repository root (NaN allowed, as the benches write it)."""
    return json.loads((REPO / path).read_text())


def rows_of(path: str) -> list[dict]:
    """A committed CSV report's rows."""
    with (REPO / path).open(newline="") as f:
        return list(csv.DictReader(f))


def manifest(model_dir: str) -> dict:
    return report(f"{model_dir}/manifest.json")


def f2(x: float) -> str:
    return f"{x:.2f}"


def num(x: float, digits: int = 0) -> str:
    """1,391 or 0.59: thousands separated, as the docs write them."""
    return f"{x:,.{digits}f}"


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage: 0.0169 -> 1.7%."""
    return f"{100 * x:.{digits}f}%"


def signed(x: float, digits: int = 1) -> str:
    return "–" if math.isnan(x) else f"{x:+.{digits}f}".replace("-", "−")


def scores(m: dict, digits: int = 2) -> list[str]:
    """Intent accuracy, slot F1 and exact match of a metrics dict, in percent."""
    return [f"{m[k]:.{digits}f}" for k in METRICS]


def trio(m: dict, digits: int = 2) -> str:
    return " / ".join(scores(m, digits))


def bold(cells: Iterable[str]) -> list[str]:
    return [f"**{c}**" for c in cells]


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def source(*parts: str) -> str:
    """The line under a table that names the report(s) and command(s) it comes from."""
    return "Source: " + "; ".join(parts) + "."


def when(rep: dict) -> str:
    """A report's date to the minute, e.g. 2026-12-03T13:54."""
    return rep["date"][:16]
