"""The word-embedding choices of the paper's comparison, behind one interface (no I/O here).

- ``elmol`` / ``elmo``: the pretrained ``ELMoEncoder`` (1 or 2 biLSTM layers), in ``training.lm``;
- ``fasttext``: a frozen table of static subword vectors trained on the same unlabeled corpus;
- ``none``: word embeddings and a character CNN, both learned from scratch with the task.

Every embedder returns a list of (B, T, output_dim) layers for the scalar mix and lists its
pretrained parameter groups bottom-up for gradual unfreezing: nothing pretrained, nothing listed.
Word-based embedders take word ids (B, T) from their own vocabulary, 0 = padding, 1 = unknown.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from training.lm import CharCNN, ELMoEncoder, LMConfig

EMBEDDINGS = ("none", "fasttext", "elmo", "elmol")
WORD_PAD, WORD_UNK = 0, 1


class StaticEmbedder(nn.Module):
    """FastText: a frozen vector per word; unknown words (none in practice: the table covers the data) get 0."""

    uses_words = True

    def __init__(self, n_words: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("table", torch.zeros(n_words, dim))
        self.n_outputs, self.output_dim = 1, dim

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor, words: torch.Tensor) -> list[torch.Tensor]:
        return [self.table[words]]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return []


class ScratchEmbedder(nn.Module):
    """No pretraining: word embeddings (with word dropout to the unknown id) and a character CNN."""

    uses_words = True

    def __init__(self, n_words: int, dim: int, lm: LMConfig, word_dropout: float = 0.1) -> None:
        super().__init__()
        self.words = nn.Embedding(n_words, dim, padding_idx=WORD_PAD)
        self.char_cnn = CharCNN(replace(lm, proj_dim=dim))
        self.word_dropout = word_dropout
        self.n_outputs, self.output_dim = 1, 2 * dim

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor, words: torch.Tensor) -> list[torch.Tensor]:
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(words.shape, device=words.device) < self.word_dropout) & (words != WORD_PAD)
            words = words.masked_fill(drop, WORD_UNK)
        return [torch.cat([self.words(words), self.char_cnn(chars)], dim=2)]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return []


def make_embedder(kind: str, lm: LMConfig, n_words: int, word_dim: int) -> nn.Module:
    if kind in ("elmo", "elmol"):
        return ELMoEncoder(lm)
    if kind == "fasttext":
        return StaticEmbedder(n_words, word_dim)
    if kind == "none":
        return ScratchEmbedder(n_words, word_dim, lm)
    raise ValueError(f"unknown embedding {kind!r}: choose one of {', '.join(EMBEDDINGS)}")
