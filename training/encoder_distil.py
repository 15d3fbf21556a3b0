"""What pretraining adds to a batch: a teacher's states (encoder distillation) and typo noise.

The teacher's states come from ``training.teacher_states`` blocks, looked up by a sentence's words joined by
spaces. They are standardized per dimension (mean and standard deviation over the first block), so that the
distillation loss weighs every dimension alike and does not spend itself on the teacher's large shared
component. Typo noise edits the characters of some words and nothing else: the LM still predicts the clean
neighbours and the teacher's targets are those of the clean words, so the char CNN learns to see through it.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.noise import TypoConfig, eligible, typo
from elmol_nlu.text import char_ids
from training.corpus import EncodedCorpus
from training.lm import LMBatch

log = logging.getLogger("training.encoder_distil")


class TeacherStates:
    """Every block of one or more ``teacher_states`` folders, in memory (float16), by sentence text."""

    def __init__(self, folders: list[Path]) -> None:
        texts, words, sentences, offsets = [], [], [], [0]
        for folder in folders:
            for path in sorted(folder.glob("block-*.npz")):
                with np.load(path) as block:
                    texts.extend(str(t) for t in block["texts"])
                    words.append(block["words"])
                    sentences.append(block["sentence"])
                    offsets.extend((offsets[-1] + block["offsets"][1:]).tolist())
        if not texts:
            raise SystemExit(f"no teacher states in {folders}: make them with `python -m training.teacher_states`")
        self.row = {t: i for i, t in enumerate(texts)}
        self.words, self.sentence = np.concatenate(words), np.concatenate(sentences)
        self.offsets = np.array(offsets)
        self.word_stats = _stats(words[0])
        self.sentence_stats = _stats(sentences[0])
        self.dim = self.words.shape[1]
        log.info("teacher states of %d sentences, %d words, %d dimensions", len(texts), len(self.words), self.dim)

    def rows(self, sentences: list[list[str]]) -> np.ndarray:
        """Each sentence's row, or -1 where the teacher has none."""
        return np.array([self.row.get(" ".join(s), -1) for s in sentences], dtype=np.int64)

    def attach(self, batch: LMBatch, rows: list[int]) -> None:
        """Fill the batch's teacher fields for the sentences (in batch order) of these rows."""
        b, t = batch.mask.shape
        words = np.zeros((b, t, self.dim), dtype=np.float32)
        word_mask = np.zeros((b, t), dtype=bool)
        sentence = np.zeros((b, self.dim), dtype=np.float32)
        for i, row in enumerate(rows):
            if row < 0:
                continue
            states = self.words[self.offsets[row] : self.offsets[row + 1]][:t].astype(np.float32)
            words[i, : len(states)] = states
            word_mask[i, : len(states)] = ~np.isnan(states).any(1)  # words the teacher cut off have none
            sentence[i] = self.sentence[row]
        words = np.nan_to_num((words - self.word_stats[0]) / self.word_stats[1]) * word_mask[:, :, None]
        batch.teacher_words = torch.from_numpy(words.astype(np.float32))
        batch.teacher_mask = torch.from_numpy(word_mask & batch.mask.numpy())
        batch.teacher_sentence = torch.from_numpy(((sentence - self.sentence_stats[0]) / self.sentence_stats[1])
                                                  .astype(np.float32))
        batch.sentence_mask = torch.from_numpy(np.asarray(rows) >= 0)

    def stats(self) -> dict[str, torch.Tensor]:
        """The standardization, kept in the checkpoint beside the projection it was learned with."""
        return {name: torch.from_numpy(x) for name, x in (
            ("word_mean", self.word_stats[0]), ("word_std", self.word_stats[1]),
            ("sentence_mean", self.sentence_stats[0]), ("sentence_std", self.sentence_stats[1]))}


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float32)
    x = x[~np.isnan(x).any(1)]
    return x.mean(0), x.std(0) + 1e-4


def add_typos(batch: LMBatch, corpus: EncodedCorpus, members: list[int], cfg: TypoConfig, rng: random.Random,
              max_chars: int) -> None:
    """Edit the characters of some of the batch's words in place (``cfg.rate`` of the eligible ones)."""
    if cfg.rate <= 0:
        return
    for i, sentence in enumerate(corpus.sentences[m] for m in members):
        for t, type_index in enumerate(sentence):
            word = corpus.types[type_index]
            if eligible(word, cfg.min_letters) and rng.random() < cfg.rate:
                batch.chars[i, t] = torch.from_numpy(char_ids([typo(word, rng)], max_chars)[0])
