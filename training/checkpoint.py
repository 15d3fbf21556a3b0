"""Checkpoints are plain dicts of tensors, config and vocabularies; written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from elmol_nlu.vocab import UNK, Vocab
from training.nlu import JointNLU, NLUConfig


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint behind


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_joint_model(path: Path) -> JointNLU:
    """The joint model of a ``train_nlu`` (or reproduction source) checkpoint, with its word vocabulary if any."""
    state = load_checkpoint(path)
    words = Vocab(state["words"], unk=UNK) if state.get("words") else None
    model = JointNLU(NLUConfig.from_dict(state["config"]), state["tags"], words)
    model.load_state_dict(state["model"])
    return model
