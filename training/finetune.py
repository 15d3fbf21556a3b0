"""The generic NLU training loop: gradual unfreezing, discriminative rates, slanted triangular schedule.

The schedule is data (``FitConfig``), not branches: parameter groups are the head (or, when
transferring to a new domain, the new output layers and then the rest of the head), then the
pretrained encoder layers top-down. Group 0 always trains; group g >= 1 is unfrozen at epoch
``unfreeze_at[g - 1]``. Encoder group k learns at ``lr * encoder_lr * layer_decay**k``. Groups never
listed stay frozen.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.intents import multi_hot
from elmol_nlu.noise import TypoConfig
from elmol_nlu.text import batch_char_ids, normalize
from elmol_nlu.vocab import Vocab
from training.nlu import JointNLU, lengths_to_mask
from training.schedule import slanted_triangular

log = logging.getLogger("finetune")
TagWeight = Callable[[TaggedExample], float]


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-5
    encoder_lr: float = 0.25  # encoder's top layer rate relative to the head's
    layer_decay: float = 0.5  # each lower encoder layer learns at this fraction of the one above
    unfreeze_at: tuple[int, ...] = (4, 8)  # epoch at which encoder groups (top-down) unfreeze
    clip: float = 5.0
    label_smoothing: float = 0.0  # of the intent targets
    intent_weight: float = 2.0  # of the intent loss against the CRF's, which sums over tokens and dominates
    patience: int = 8  # stop after this many epochs without a better dev score ...
    min_epochs: int = 0  # ... but never before this many (nor before the last group unfreezes)
    new_outputs: bool = False  # transfer: only the new output layers train at first, the body unfreezes first
    body_lr: float = 0.5  # with new_outputs: the body's rate relative to the output layers'
    time_budget_s: float | None = None  # no epoch starts that would likely end past this many seconds
    typo_rate: float = 0.0  # share of training words of 4+ letters given one character edit (elmol_nlu.noise)
    seed: int = 13

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class NLUBatch:
    chars: torch.Tensor  # (B, T, C)
    lengths: torch.Tensor  # (B,)
    intents: torch.Tensor  # (B,)
    tags: torch.Tensor  # (B, T)
    words: torch.Tensor | None = None  # (B, T) word ids, for word-based embedders
    tag_weights: torch.Tensor | None = None  # (B,) of each sentence's CRF loss; None: all 1
    intent_weights: torch.Tensor | None = None  # (B,) of each sentence's intent loss; None: all 1


def word_ids(sentences: list[list[str]], vocab: Vocab | None, width: int) -> torch.Tensor | None:
    """(B, width) ids of the normalised words (0 pads), or None for character-only embedders."""
    if vocab is None:
        return None
    ids = np.zeros((len(sentences), width), dtype=np.int64)
    for row, words in enumerate(sentences):
        ids[row, : len(words)] = vocab.indices(normalize(w) for w in words)
    return torch.from_numpy(ids)


def length_groups(lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Indices in groups of ``size`` of similar length (less padding), ties broken at random, groups shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    return groups


def selection_score(scores: dict[str, float]) -> float:
    """What model selection maximises: the mean of intent accuracy, slot F1 and exact match."""
    return (scores["intent_acc"] + scores["slot_f1"] + scores["exact_match"]) / 3


def batches(examples: list[TaggedExample], intents: Vocab, tags: Vocab, batch_size: int, max_chars: int,
            rng: random.Random, words: Vocab | None = None, typo: TypoConfig | None = None,
            multi_intent: bool = False, tag_weight: TagWeight | None = None,
            intent_weight: TagWeight | None = None) -> Iterator[NLUBatch]:
    """Shuffled batches of similar length (less padding), in random order; ``typo`` edits the characters the
    encoder sees (tags and word ids stay those of the clean words). ``multi_intent``: intent targets are
    multi-hot rows over the single intents, not indices. ``tag_weight``, ``intent_weight``: each example's
    weight in the CRF loss and in the intent loss."""
    typo = typo or TypoConfig()
    for group in length_groups([len(e.tokens) for e in examples], batch_size, rng):
        chunk = [examples[i] for i in group]
        chars, lengths = batch_char_ids([typo.noisy(e.words, rng) for e in chunk], max_chars)
        tag_ids = np.zeros(chars.shape[:2], dtype=np.int64)
        for row, e in enumerate(chunk):
            tag_ids[row, : len(e.tags)] = tags.indices(e.tags)
        yield NLUBatch(torch.from_numpy(chars), torch.from_numpy(lengths),
                       intent_targets([e.example.intent for e in chunk], intents, multi_intent),
                       torch.from_numpy(tag_ids),
                       word_ids([e.words for e in chunk], words, chars.shape[1]),
                       None if tag_weight is None else torch.tensor([tag_weight(e) for e in chunk]),
                       None if intent_weight is None else torch.tensor([intent_weight(e) for e in chunk]))


def intent_targets(labels: list[str], intents: Vocab, multi_intent: bool) -> torch.Tensor:
    """(B,) intent indices, or (B, I) multi-hot rows for a multi-intent model."""
    if multi_intent:
        return torch.from_numpy(multi_hot(labels, intents.itos))
    return torch.tensor(intents.indices(labels))


def intent_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of one softmax; for multi-hot targets, the sigmoids' binary cross-entropies summed over the
    intents (so that one utterance weighs about as much as under the softmax). Averaged over the batch, or with
    weights (B,) their weighted mean: sentences of weight 0 neither count nor dilute the others' loss."""
    if targets.dim() == 2:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(dim=1)
    elif weights is None:
        return torch.nn.functional.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    else:
        loss = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=label_smoothing, reduction="none")
    return loss.mean() if weights is None else (loss * weights).sum() / weights.sum().clamp_min(1e-6)


def joint_loss(model: JointNLU, batch: NLUBatch, cfg: FitConfig) -> torch.Tensor:
    intent_logits, emissions = model(batch.chars, batch.lengths, batch.words)
    mask = lengths_to_mask(batch.lengths, batch.chars.shape[1])
    intent_loss_ = intent_loss(intent_logits, batch.intents, cfg.label_smoothing, batch.intent_weights)
    return cfg.intent_weight * intent_loss_ + model.crf.nll(emissions, batch.tags, mask, batch.tag_weights)


def param_groups(model: JointNLU, cfg: FitConfig) -> list[dict]:
    """Optimizer groups in unfreezing order (see the module docstring)."""
    head = model.head_parameters()
    if cfg.new_outputs:
        outputs = {id(p) for p in model.output_parameters()}
        groups = [{"params": [p for p in head if id(p) in outputs], "base_lr": cfg.lr},
                  {"params": [p for p in head if id(p) not in outputs], "base_lr": cfg.lr * cfg.body_lr}]
    else:
        groups = [{"params": head, "base_lr": cfg.lr}]
    for k, params in enumerate(model.encoder_groups()):
        groups.append({"params": params, "base_lr": cfg.lr * cfg.encoder_lr * cfg.layer_decay**k})
    return groups


def set_trainable(groups: list[dict], epoch: int, cfg: FitConfig) -> None:
    for g, group in enumerate(groups):
        trainable = g == 0 or (g - 1 < len(cfg.unfreeze_at) and epoch >= cfg.unfreeze_at[g - 1])
        for p in group["params"]:
            p.requires_grad_(trainable)


def fit(model: JointNLU, train: list[TaggedExample], intents: Vocab, tags: Vocab, cfg: FitConfig,
        dev_score: Callable[[JointNLU], dict[str, float]] | None,
        tag_weight: TagWeight | None = None, intent_weight: TagWeight | None = None) -> tuple[dict, list[dict]]:
    """Train; return the state dict with the best dev score (the last one without ``dev_score``) and
    the per-epoch history. ``tag_weight``, ``intent_weight``: each example's weight in the CRF loss and in the
    intent loss (1 for all when None)."""
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    groups = param_groups(model, cfg)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    best, best_state, history, step, stale = -1.0, None, [], 0, 0
    started = time.monotonic()
    for epoch in range(cfg.epochs):
        elapsed = time.monotonic() - started
        if cfg.time_budget_s is not None and epoch and elapsed * (epoch + 1) / epoch > cfg.time_budget_s:
            log.info("time budget of %.0f s reached after %d epochs", cfg.time_budget_s, epoch)
            break
        set_trainable(groups, epoch, cfg)
        model.train()
        losses = []
        bar = tqdm(batches(train, intents, tags, cfg.batch_size, model.cfg.lm.max_chars, rng, model.word_vocab,
                           TypoConfig(cfg.typo_rate), model.cfg.multi_intent, tag_weight, intent_weight),
                   total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, mininterval=5)
        for batch in bar:
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * slanted_triangular(step, total)
            loss = joint_loss(model, batch, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            step += 1
            losses.append(loss.item())
        if dev_score is None:
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
            continue
        scores = dev_score(model)
        score = selection_score(scores)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), **scores})
        log.info("epoch %d: loss %.3f, dev intent %.2f slot F1 %.2f exact %.2f", epoch + 1, np.mean(losses),
                 scores["intent_acc"], scores["slot_f1"], scores["exact_match"])
        if score > best:
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience and epoch + 1 > max((cfg.min_epochs, *cfg.unfreeze_at)):
                log.info("no better dev score for %d epochs: stopping", stale)
                break
    return best_state or copy.deepcopy(model.state_dict()), history
