"""The teachers' intent labels as distillation reads them: one teacher's logits, or several averaged.

A teacher directory (``training.teacher``) holds ``soft_intents.npz`` (its logits on the unlabeled utterances)
and ``dev_intents.npz`` (on MASSIVE dev). Several teachers, say MiniLMs fine-tuned with different seeds, make
an ensemble: their logits are averaged per utterance, which is the geometric mean of their distributions. Their
labelling passes may have shuffled or cut the corpus differently, so utterances are matched by text and only
those every teacher labelled are kept, in the first teacher's order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.vocab import Vocab


def student_columns(saved: np.lib.npyio.NpzFile, intents: Vocab) -> list[int]:
    """The teacher's logit column of each of the student's intents, in the student's order."""
    return [list(saved["intents"]).index(name) for name in intents.itos]


def _by_key(path: Path, key: str, intents: Vocab) -> dict[str, np.ndarray]:
    saved = np.load(path)
    columns = student_columns(saved, intents)
    return {str(k): row[columns].astype(np.float32) for k, row in zip(saved[key], saved["logits"], strict=True)}


def _averaged(tables: list[dict[str, np.ndarray]], order: list[str]) -> np.ndarray:
    return np.mean([np.stack([table[k] for k in order]) for table in tables], axis=0)


def teacher_targets(teachers: Path | list[Path], intents: Vocab) -> tuple[list[list[str]], torch.Tensor]:
    """The utterances every teacher labelled (as words) and their mean logits, in the student's intent order."""
    paths = [teachers] if isinstance(teachers, Path) else list(teachers)
    tables = [_by_key(p / "soft_intents.npz", "texts", intents) for p in paths]
    order = [t for t in tables[0] if all(t in table for table in tables[1:])]  # texts are unique
    return [t.split(" ") for t in order], torch.from_numpy(_averaged(tables, order))


def top_probability(logits: torch.Tensor) -> torch.Tensor:
    """Each row's probability of its best intent (softmax at temperature 1): how sure the teacher is."""
    return torch.softmax(logits.float(), dim=1).max(dim=1).values


def confident(sentences: list[list[str]], logits: torch.Tensor, min_prob: float,
              ) -> tuple[list[list[str]], torch.Tensor]:
    """The utterances whose teacher gives its best intent at least ``min_prob`` (softmax at temperature 1).

    Why: a quarter of the corpus is dialogue turns no MASSIVE intent fits, where an ensemble's best guess is
    about a coin toss (``experiments.teacher_agreement``); a small student may spend less of itself on those."""
    if min_prob <= 0:
        return sentences, logits
    keep = top_probability(logits) >= min_prob
    return [s for s, k in zip(sentences, keep.tolist(), strict=True) if k], logits[keep]


def teacher_dev_logits(teachers: list[Path], ids: list[str], intents: Vocab) -> torch.Tensor:
    """The teachers' mean logits on MASSIVE dev, in the order of ``ids``."""
    tables = [_by_key(p / "dev_intents.npz", "ids", intents) for p in teachers]
    return torch.from_numpy(_averaged(tables, [str(i) for i in ids]))


def intent_accuracy(scores: torch.Tensor, examples: list[TaggedExample], intents: Vocab) -> float:
    """Percent of ``examples`` whose best-scoring intent (logits or probabilities, one row each) is the gold one."""
    best = scores.argmax(1).tolist()
    return round(100 * float(np.mean([intents.itos[b] == e.example.intent for b, e in zip(best, examples,
                                                                                         strict=True)])), 2)
