"""Joint intent classification and slot tagging over ELMo(-Light) or other embeddings (no I/O).

embeddings (scalar mix of embedder layers) -> shared biLSTM -> intent head (max+mean pooling, MLP)
                                                           -> slot biLSTM -> CRF over BIO tags
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from elmol_nlu.vocab import Vocab
from training.crf import CRF
from training.embedders import CHARACTER_ONLY, make_embedder
from training.lm import LMConfig, Reversal, ScalarMix, reversal_index, reverse


@dataclass(frozen=True)
class NLUConfig:
    lm: LMConfig = field(default_factory=LMConfig)
    n_intents: int = 1
    n_tags: int = 1
    shared_hidden: int = 128  # per direction
    slot_hidden: int = 128  # per direction
    intent_hidden: int = 256
    embed_dropout: float = 0.3
    dropout: float = 0.3
    pool_embeddings: bool = False  # the intent head also sees pooled embeddings, not only the shared biLSTM
    mix_layer_norm: bool = False  # normalise each embedder layer before the scalar mix (training.lm.ScalarMix)
    embedding: str = "elmol"  # one of training.embedders.EMBEDDINGS
    n_words: int = 0  # word vocabulary of word-based embeddings (fasttext, none)
    word_dim: int = 256
    multi_intent: bool = False  # a sigmoid per intent (elmol_nlu.intents), not one softmax
    intent_threshold: float = 0.5  # of a multi-intent model's sigmoids, fitted on dev after training

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NLUConfig:
        return cls(**{**d, "lm": LMConfig.from_dict(d["lm"])})


class BiLSTM(nn.Module):
    """Two unidirectional LSTMs; the backward one runs over each sentence reversed within its length."""

    def __init__(self, input_dim: int, hidden: int) -> None:
        super().__init__()
        self.fwd = nn.LSTM(input_dim, hidden, batch_first=True)
        self.bwd = nn.LSTM(input_dim, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, reversal: Reversal) -> torch.Tensor:
        """x (B, T, D) and its ``reversal_index`` -> (B, T, 2*hidden)."""
        f, _ = self.fwd(x)
        b, _ = self.bwd(reverse(x, reversal))
        return torch.cat([f, reverse(b, reversal)], dim=2)


def lengths_to_mask(lengths: torch.Tensor, time: int) -> torch.Tensor:
    return torch.arange(time, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


def max_mean_pool(h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, D) with mask (B, T, 1) -> (B, 2*D): max and mean over the real tokens."""
    pooled_max = h.masked_fill(~mask, -1e4).amax(dim=1)
    pooled_mean = (h * mask).sum(dim=1) / lengths.unsqueeze(1).to(h.dtype)
    return torch.cat([pooled_max, pooled_mean], dim=1)


class JointNLU(nn.Module):
    def __init__(self, cfg: NLUConfig, tags: list[str], word_vocab: Vocab | None = None) -> None:
        super().__init__()
        if (word_vocab is None) != (cfg.embedding in CHARACTER_ONLY):
            need = "needs a" if word_vocab is None else "takes no"
            raise ValueError(f"embedding {cfg.embedding!r} {need} word vocabulary")
        self.cfg = cfg
        self.word_vocab = word_vocab  # ids of the word-based embedders' rows
        self.encoder = make_embedder(cfg.embedding, cfg.lm, cfg.n_words, cfg.word_dim)
        self.mix = ScalarMix(self.encoder.n_outputs, cfg.mix_layer_norm)
        self.embed_dropout = nn.Dropout(cfg.embed_dropout)
        self.shared = BiLSTM(self.encoder.output_dim, cfg.shared_hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        pooled_dim = 4 * cfg.shared_hidden + (2 * self.encoder.output_dim if cfg.pool_embeddings else 0)
        self.intent_mlp = nn.Sequential(
            nn.Linear(pooled_dim, cfg.intent_hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.intent_hidden, cfg.n_intents),
        )
        self.slot_lstm = BiLSTM(2 * cfg.shared_hidden, cfg.slot_hidden)
        self.slot_out = nn.Linear(2 * cfg.slot_hidden, cfg.n_tags)
        self.crf = CRF(tags)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor,
                words: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Intent logits (B, n_intents) and slot emissions (B, T, n_tags) from char ids (B, T, C).

        ``words`` (B, T) are ids in the embedder's word vocabulary, for word-based embedders only.
        """
        layers = self.encoder(chars, lengths, words) if self.encoder.uses_words else self.encoder(chars, lengths)
        return self.heads(layers, lengths)

    def forward_from_tokens(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` from the char CNN's token vectors (B, T, D): they depend on the word alone, so serving
        computes each word's once and caches it. Character-only (ELMo) encoders only."""
        return self.heads(self.encoder.contextualize(tokens, lengths), lengths)

    def heads(self, layers: list[torch.Tensor], lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        time = layers[0].shape[1]
        mask = lengths_to_mask(lengths, time).unsqueeze(2)  # (B, T, 1)
        reversal = reversal_index(lengths, time)
        x = self.embed_dropout(self.mix(layers))
        h = self.dropout(self.shared(x, reversal))  # (B, T, 2*shared)
        pooled = [max_mean_pool(h, mask, lengths)]
        if self.cfg.pool_embeddings:
            pooled.append(max_mean_pool(x, mask, lengths))
        intent_logits = self.intent_mlp(torch.cat(pooled, dim=1))
        s = self.dropout(self.slot_lstm(h, reversal))
        return intent_logits, self.slot_out(s)

    def encoder_groups(self) -> list[list[nn.Parameter]]:
        """Pretrained encoder parameters top-down (top LSTM layer first, char CNN last): the unfreezing order."""
        return self.encoder.layer_groups()[::-1]

    def head_parameters(self) -> list[nn.Parameter]:
        """Everything trained from the start: all but the pretrained encoder groups."""
        pretrained = {id(p) for group in self.encoder_groups() for p in group}
        return [p for p in self.parameters() if id(p) not in pretrained]

    def output_parameters(self) -> list[nn.Parameter]:
        """The domain-specific output layers, replaced when a model is transferred to a new domain."""
        return [*self.intent_mlp[-1].parameters(), *self.slot_out.parameters(), *self.crf.parameters()]


def with_new_outputs(model: JointNLU, n_intents: int, tags: list[str]) -> JointNLU:
    """The same network with fresh intent and slot output layers for a new label set (transfer)."""
    model.cfg = replace(model.cfg, n_intents=n_intents, n_tags=len(tags))
    model.intent_mlp[-1] = nn.Linear(model.cfg.intent_hidden, n_intents)
    model.slot_out = nn.Linear(2 * model.cfg.slot_hidden, len(tags))
    model.crf = CRF(tags)
    return model
