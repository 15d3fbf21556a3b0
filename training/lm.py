"""ELMo-Light: a character CNN and bidirectional LSTM language model (no I/O in this file).

The same code gives full ELMo (two LSTM layers, wider CNN) by configuration. Forward and backward
directions are separate stacks, as in ELMo, so that a second layer of the forward LM never sees
the future. Padding only ever follows the real tokens of a sentence (the backward direction runs
over each sentence reversed within its own length), so an utterance gets the same embedding alone
or in a padded batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from elmol_nlu.text import CHAR_PAD, CHAR_VOCAB_SIZE


@dataclass(frozen=True)
class LMConfig:
    char_dim: int = 16
    # (width, number of filters) of each character convolution
    filters: tuple[tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 128), (6, 128))
    n_highway: int = 1
    proj_dim: int = 256  # token representation; equals hidden_dim so layers can be mixed and added
    hidden_dim: int = 256  # per direction
    n_layers: int = 1  # 1 = ELMo-Light, 2 = ELMo
    dropout: float = 0.1
    max_chars: int = 20
    vocab_size: int = 30000  # softmax vocabulary (words)
    cutoffs: tuple[int, ...] = (2000, 10000)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LMConfig:
        d = dict(d)
        d["filters"] = tuple(tuple(f) for f in d["filters"])
        d["cutoffs"] = tuple(d["cutoffs"])
        return cls(**d)


class Highway(nn.Module):
    """y = g * relu(W1 x) + (1 - g) * x with g = sigmoid(W2 x) (Srivastava et al., 2015)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * dim)
        nn.init.constant_(self.proj.bias[dim:], 1.0)  # start by carrying the input through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.proj(x).chunk(2, dim=-1)
        g = torch.sigmoid(g)
        return g * torch.relu(h) + (1 - g) * x


class CharCNN(nn.Module):
    """Word vectors from characters: max-pooled convolutions, highway layers, projection."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(CHAR_VOCAB_SIZE, cfg.char_dim, padding_idx=CHAR_PAD)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.char_dim, n, w) for w, n in cfg.filters)
        n_filters = sum(n for _, n in cfg.filters)
        self.highways = nn.ModuleList(Highway(n_filters) for _ in range(cfg.n_highway))
        self.proj = nn.Linear(n_filters, cfg.proj_dim)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        batch, time, n_chars = chars.shape
        x = self.embed(chars.reshape(batch * time, n_chars)).transpose(1, 2)  # (B*T, char_dim, C)
        x = torch.cat([torch.relu(conv(x)).amax(dim=2) for conv in self.convs], dim=1)  # (B*T, F)
        for highway in self.highways:
            x = highway(x)
        return self.proj(x).reshape(batch, time, -1)  # (B, T, proj_dim)


class Reversal(NamedTuple):
    """How to reverse each sequence of a batch within its length: the gather positions, and the lengths
    (which the exported graph uses instead: one ReverseSequence node for the dozen of the gather)."""

    index: torch.Tensor  # (B, T)
    lengths: torch.Tensor  # (B,)


def reversal_index(lengths: torch.Tensor, time: int) -> Reversal:
    """(B, T) positions that reverse each sequence over its first ``lengths[b]`` steps; padding stays last.

    Computed once per forward pass and shared by every reversal (fewer nodes in the exported graph).
    """
    steps = torch.arange(time, device=lengths.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    return Reversal(torch.where(steps <= last, last - steps, steps), lengths)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


class _ReverseSequence(torch.autograd.Function):
    """The gather in PyTorch; ONNX's ReverseSequence (the same semantics: padding stays in place) when exported."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return _gather_time(x, index)

    @staticmethod
    def symbolic(g: Any, x: Any, index: Any, lengths: Any) -> Any:
        return g.op("ReverseSequence", x, lengths, batch_axis_i=0, time_axis_i=1)


def reverse(x: torch.Tensor, reversal: Reversal) -> torch.Tensor:
    """Reverse (B, T, D) along time within each sequence's length, as ``reversal`` says."""
    if torch.onnx.is_in_onnx_export():
        return _ReverseSequence.apply(x, reversal.index, reversal.lengths)
    return _gather_time(x, reversal.index)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return reverse(x, reversal_index(lengths, x.shape[1]))


class DirectionalStack(nn.Module):
    """Unidirectional LSTM layers with residual connections above the first; returns every layer."""

    def __init__(self, dim: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(dim, dim, batch_first=True) for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, lstm in enumerate(self.layers):
            h, _ = lstm(x)
            if i > 0:
                h = h + x
            outputs.append(h)
            x = self.dropout(h)
        return outputs


class ELMoEncoder(nn.Module):
    """Contextual word representations: one (B, T, 2*hidden) tensor per layer, token layer first."""

    uses_words = False  # characters only: no word vocabulary, so no unknown words

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.char_cnn = CharCNN(cfg)
        self.forward_lm = DirectionalStack(cfg.hidden_dim, cfg.n_layers, cfg.dropout)
        self.backward_lm = DirectionalStack(cfg.hidden_dim, cfg.n_layers, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)

    @property
    def n_outputs(self) -> int:
        return self.cfg.n_layers + 1

    @property
    def output_dim(self) -> int:
        return 2 * self.cfg.hidden_dim

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        return self.contextualize(self.char_cnn(chars), lengths)

    def contextualize(self, tokens: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """The layers from context-free token vectors (B, T, D), which serving caches per word."""
        x = self.dropout(tokens)
        reversal = reversal_index(lengths, tokens.shape[1])
        fwd = self.forward_lm(x)
        bwd = [reverse(h, reversal) for h in self.backward_lm(reverse(x, reversal))]
        return [torch.cat([tokens, tokens], dim=2)] + [torch.cat(pair, dim=2) for pair in zip(fwd, bwd, strict=True)]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the bottom up: char CNN, then each LSTM layer (both directions)."""
        groups = [list(self.char_cnn.parameters())]
        for f, b in zip(self.forward_lm.layers, self.backward_lm.layers, strict=True):
            groups.append([*f.parameters(), *b.parameters()])
        return groups


class ScalarMix(nn.Module):
    """ELMo's learned mix of layers: gamma * sum_k softmax(w)_k * layer_k.

    With ``layer_norm`` each token's vector of each layer is normalised first (ELMo's option): the char CNN's
    layer has about 3x the RMS of the biLSTM's, so otherwise the contextual layer enters weakly at the start.
    """

    def __init__(self, n_layers: int, layer_norm: bool = False) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(1))
        self.layer_norm = layer_norm

    def forward(self, layers: list[torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(self.weights, dim=0)
        if self.layer_norm:
            layers = [nn.functional.layer_norm(layer, layer.shape[-1:]) for layer in layers]
        return self.gamma * sum(w[k] * layer for k, layer in enumerate(layers))


@dataclass
class LMBatch:
    chars: torch.Tensor  # (B, T, C) int64
    lengths: torch.Tensor  # (B,) int64
    next_words: torch.Tensor  # (B, T) int64: word t+1, end-of-sentence at the last token
    prev_words: torch.Tensor  # (B, T) int64: word t-1, start-of-sentence at the first token
    mask: torch.Tensor = field(repr=False)  # (B, T) bool: real tokens
    # encoder distillation (training.encoder_distil): a teacher's standardized states, where it has them
    teacher_words: torch.Tensor | None = field(default=None, repr=False)  # (B, T, D) float
    teacher_mask: torch.Tensor | None = field(default=None, repr=False)  # (B, T) bool
    teacher_sentence: torch.Tensor | None = field(default=None, repr=False)  # (B, D) float
    sentence_mask: torch.Tensor | None = field(default=None, repr=False)  # (B,) bool


class BiLanguageModel(nn.Module):
    """The encoder and one adaptive softmax shared by the forward and backward predictions."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ELMoEncoder(cfg)
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(
            cfg.hidden_dim, cfg.vocab_size, list(cfg.cutoffs), div_value=4.0
        )

    def forward(self, batch: LMBatch) -> torch.Tensor:
        """Mean negative log-likelihood per predicted word, averaged over both directions."""
        return self.loss_from_top(self.encoder(batch.chars, batch.lengths)[-1], batch)

    def loss_from_top(self, top: torch.Tensor, batch: LMBatch) -> torch.Tensor:
        """The same loss from the encoder's top layer (B, T, 2H), for callers that use the layers too."""
        top = self.encoder.dropout(top)
        fwd, bwd = top.split(self.cfg.hidden_dim, dim=2)
        mask = batch.mask
        loss_f = self.softmax(fwd[mask], batch.next_words[mask]).loss
        loss_b = self.softmax(bwd[mask], batch.prev_words[mask]).loss
        return (loss_f + loss_b) / 2


class DistilHead(nn.Module):
    """Training-only projections of the encoder's top layer onto a teacher's word and sentence states.

    The encoder is pushed to carry what the teacher knows; these layers are dropped after pretraining, so the
    served encoder keeps its shape and cost.
    """

    def __init__(self, input_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.word = nn.Linear(input_dim, teacher_dim)
        self.sentence = nn.Linear(2 * input_dim, teacher_dim)

    def forward(self, top: torch.Tensor, batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean squared errors against the (standardized) word and sentence targets, over those present."""
        words = batch.teacher_mask
        word_loss = ((self.word(top[words]) - batch.teacher_words[words]) ** 2).mean() if words.any() else top.sum() * 0
        mask = batch.mask.unsqueeze(2)
        pooled = torch.cat([top.masked_fill(~mask, -1e4).amax(1), (top * mask).sum(1) / mask.sum(1)], dim=1)
        sents = batch.sentence_mask
        sentence_loss = (((self.sentence(pooled[sents]) - batch.teacher_sentence[sents]) ** 2).mean()
                         if sents.any() else top.sum() * 0)
        return word_loss, sentence_loss


class DistilledLM(nn.Module):
    """The language model with encoder distillation beside it: one encoder pass serves both losses.

    ``forward`` gives (total loss, LM loss, word distillation loss, sentence distillation loss).
    """

    def __init__(self, lm: BiLanguageModel, teacher_dim: int, word_weight: float, sentence_weight: float) -> None:
        super().__init__()
        self.lm = lm
        self.head = DistilHead(lm.encoder.output_dim, teacher_dim) if teacher_dim else None
        self.word_weight, self.sentence_weight = word_weight, sentence_weight

    def forward(self, batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        top = self.lm.encoder(batch.chars, batch.lengths)[-1]
        lm = self.lm.loss_from_top(top, batch)
        if self.head is None or batch.teacher_mask is None:
            zero = lm.detach() * 0
            return lm, lm, zero, zero
        word, sentence = self.head(self.lm.encoder.dropout(top), batch)
        return lm + self.word_weight * word + self.sentence_weight * sentence, lm, word, sentence
