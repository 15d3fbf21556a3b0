"""The word-embedding choices of the paper's comparison, behind one interface (no I/O here).

- ``elmol`` / ``elmo``: the pretrained ``ELMoEncoder`` (1 or 2 biLSTM layers), in ``training.lm``;
- ``fasttext``: a frozen table of static subword vectors trained on the same unlabeled corpus;
- ``none``: word embeddings and a character CNN, both learned from scratch with the task;
- ``elmol+fasttext``: ELMoL's layers, each with the word's FastText vector appended (ELMo's own recipe of
  contextual beside static vectors).

Every embedder returns a list of (B, T, output_dim) layers for the scalar mix and lists its
pretrained parameter groups bottom-up for gradual unfreezing: nothing pretrained, nothing listed.
Word-based embedders take word ids (B, T) from their own vocabulary, 0 = padding, 1 = unknown.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from training.lm import CharCNN, ELMoEncoder, LMConfig

EMBEDDINGS = ("none", "fasttext", "elmo", "elmol", "elmol+fasttext")
CHARACTER_ONLY = ("elmo", "elmol")  # the embeddings that take no word vocabulary
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


class ConcatEmbedder(nn.Module):
    """A pretrained ELMo(-Light) encoder with a frozen static vector appended to each of its layers.

    The static part is the same in every layer, so the scalar mix passes it through scaled by gamma alone:
    the network sees [mix(contextual layers), gamma * static]. Only the contextual encoder unfreezes.
    """

    uses_words = True

    def __init__(self, lm: LMConfig, n_words: int, dim: int) -> None:
        super().__init__()
        self.contextual = ELMoEncoder(lm)
        self.static = StaticEmbedder(n_words, dim)
        self.n_outputs, self.output_dim = self.contextual.n_outputs, self.contextual.output_dim + dim

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor, words: torch.Tensor) -> list[torch.Tensor]:
        static = self.static(chars, lengths, words)[0]
        return [torch.cat([layer, static], dim=2) for layer in self.contextual(chars, lengths)]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return self.contextual.layer_groups()


def make_embedder(kind: str, lm: LMConfig, n_words: int, word_dim: int) -> nn.Module:
    if kind in CHARACTER_ONLY:
        return ELMoEncoder(lm)
    if kind == "fasttext":
        return StaticEmbedder(n_words, word_dim)
    if kind == "none":
        return ScratchEmbedder(n_words, word_dim, lm)
    if kind == "elmol+fasttext":
        return ConcatEmbedder(lm, n_words, word_dim)
    raise ValueError(f"unknown embedding {kind!r}: choose one of {', '.join(EMBEDDINGS)}")
