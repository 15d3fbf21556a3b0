"""Experiment rows in one CSV file, appended as runs finish and safe for parallel workers."""

from __future__ import annotations

import csv
import fcntl
from pathlib import Path

KEY_FIELDS = ("embedding", "domain", "n", "seed", "supervised_pretraining")
FIELDS = (*KEY_FIELDS, "intent_acc", "slot_f1", "exact_match", "n_train", "n_test", "epochs", "seconds")


def run_key(row: dict) -> tuple[str, ...]:
    return tuple(str(row[f]) for f in KEY_FIELDS)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def completed_keys(path: Path) -> set[tuple[str, ...]]:
    return {run_key(row) for row in read_rows(path)}


def append_row(path: Path, row: dict) -> None:
    """Append under an exclusive lock, writing the header if the file is new."""
    with open(path, "a", newline="", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="raise")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
