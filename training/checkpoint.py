"""Checkpoints are plain dicts of tensors, config and vocabularies; written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint behind


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
