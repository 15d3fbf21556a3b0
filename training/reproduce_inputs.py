"""Joint models over each embedding choice, and what they read: LM encoders, FastText vectors, vocabularies."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.text import normalize
from elmol_nlu.vocab import PAD, UNK, Vocab
from training.checkpoint import load_checkpoint
from training.embedders import CHARACTER_ONLY
from training.lm import LMConfig
from training.nlu import JointNLU, NLUConfig


def load_lm_encoder(path: Path) -> tuple[LMConfig, dict[str, torch.Tensor]]:
    state = load_checkpoint(path)
    weights = {k.removeprefix("encoder."): v for k, v in state["model"].items() if k.startswith("encoder.")}
    return LMConfig.from_dict(state["config"]), weights


def load_fasttext(path: Path) -> tuple[Vocab, torch.Tensor]:
    """The vector table with padding and unknown rows (zeros) in front, as the static embedder reads it."""
    with np.load(path) as npz:
        words, vectors = [str(w) for w in npz["words"]], npz["vectors"]
    table = np.concatenate([np.zeros((2, vectors.shape[1]), dtype=np.float32), vectors])
    return Vocab([PAD, UNK, *words], unk=UNK), torch.from_numpy(table)


def scratch_vocab(examples: list[TaggedExample]) -> Vocab:
    """Words of the training examples for embeddings learned from scratch; the rest map to unknown."""
    counts = Counter(normalize(w) for e in examples for w in e.words)
    return Vocab.from_counts(counts, 1, 1_000_000, specials=[PAD, UNK], unk=UNK)


def build_model(embedding: str, lm_paths: dict[str, Path], fasttext: Path, train: list[TaggedExample],
                intents: Vocab, tags: Vocab, base: NLUConfig | None = None) -> JointNLU:
    """A fresh joint model over one embedding choice; pretrained parts loaded, the rest random.

    ``base`` sets the network's other sizes; its label counts and embedding fields are filled in here.
    """
    base = replace(base or NLUConfig(), n_intents=len(intents), n_tags=len(tags), embedding=embedding)
    if embedding in CHARACTER_ONLY:
        lm_cfg, weights = load_lm_encoder(lm_paths[embedding])
        model = JointNLU(replace(base, lm=lm_cfg), tags.itos)
        model.encoder.load_state_dict(weights)
        return model
    if embedding in ("fasttext", "elmol+fasttext"):
        words, table = load_fasttext(fasttext)
        base = replace(base, n_words=len(words), word_dim=table.shape[1])
        if embedding == "fasttext":
            model = JointNLU(base, tags.itos, words)
            model.encoder.table.copy_(table)
            return model
        lm_cfg, weights = load_lm_encoder(lm_paths[embedding])
        model = JointNLU(replace(base, lm=lm_cfg), tags.itos, words)
        model.encoder.contextual.load_state_dict(weights)
        model.encoder.static.table.copy_(table)
        return model
    words = scratch_vocab(train)
    return JointNLU(replace(base, n_words=len(words)), tags.itos, words)


def check_exist(args: argparse.Namespace, embeddings: tuple[str, ...]) -> None:
    needed = {"elmol": (args.elmol_lm, "python -m training.pretrain_lm --out runs/elmol --epochs 4"),
              "elmo": (args.elmo_lm, "make pretrain-elmo"),
              "fasttext": (args.fasttext, "python -m training.fasttext --out runs/fasttext")}
    for emb in embeddings:
        if emb in needed and not needed[emb][0].exists():
            path, command = needed[emb]
            raise SystemExit(f"{path} is missing: make it with `{command}` (or pass its path)")


def tiny_inputs(folder: Path) -> tuple[Path, Path, Path]:
    """Tiny but real ELMoL, ELMo and FastText models from 600 utterances, for the quick tier (CI)."""
    from training import fasttext, pretrain_lm

    small = ["--limit", "600", "--epochs", "1", "--batch-tokens", "512", "--hidden", "32", "--threads", "1"]
    for name, layers, filters in (("elmol", "1", "1:8,2:8,3:16"), ("elmo", "2", "1:16,2:16,3:32")):
        if not (folder / name / "epoch1.pt").exists():
            pretrain_lm.main([*small, "--out", str(folder / name), "--layers", layers, "--filters", filters])
    vectors = folder / "fasttext" / "vectors.npz"
    if not vectors.exists():
        fasttext.main(["--limit", "2000", "--dim", "16", "--epochs", "1", "--out", str(vectors.parent)])
    return folder / "elmol" / "epoch1.pt", folder / "elmo" / "epoch1.pt", vectors
