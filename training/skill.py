"""A new skill from a few hundred annotated utterances: the served model's encoder, frozen, under new heads.

The source model's heads initialise the skill's (its intent and slot output layers are replaced for the
new labels) and are unfrozen gradually, as in the paper: first the new output layers, then the rest of the
heads. The encoder (char CNN and ELMoL biLSTM) stays exactly the source model's, so the service can run
it once per utterance for every skill trained on it. ``start="scratch"`` trains the same network from
random weights, every layer from the first epoch (the comparison of docs/SKILLS.md).

A skill also learns what is not its own: utterances of the source model's training data, sampled as many as
the skill's, are one more intent, ``OUT_OF_SKILL``, with no slots. Its probability tells the service when
a skill has no claim on an utterance, so that several skills (one of a single intent, say) can be served
together: without it each skill's softmax is sure of something.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import TaggedExample, label_vocabs
from elmol_nlu.intents import fit_threshold, is_multi
from elmol_nlu.lexical import LexicalHead
from elmol_nlu.scoring import metrics
from elmol_nlu.text import match_key
from elmol_nlu.vocab import Vocab
from training.checkpoint import load_checkpoint
from training.evaluate import predict
from training.finetune import FitConfig, TagWeight, fit
from training.lexical import fit_lexical
from training.mentions import copies_intent_weight, skill_copies
from training.nlu import JointNLU, NLUConfig, with_new_outputs
from training.skill_data import OUT_OF_SKILL, sample_negatives, source_utterances, split_dev
from training.skill_incremental import Previous
from training.skill_refit import refit_plan

log = logging.getLogger("skill")
STARTS = ("transfer", "scratch")


@dataclass(frozen=True)
class SkillConfig:
    start: str = "transfer"  # one of STARTS
    share_encoder: bool = True  # False: the encoder unfreezes too (top layer first); served only on its own
    min_steps: int = 500  # optimizer steps to aim for: few examples get more epochs ...
    epoch_range: tuple[int, int] = (10, 40)  # ... within these bounds
    incremental_epochs: tuple[int, int] = (3, 12)  # the bounds when going on from a trained skill (--from)
    batch_size: int = 16  # for a few hundred examples; larger data sets take larger batches ...
    max_batch_size: int = 64  # ... up to this: one per 200 training examples
    lr: float = 2e-3
    intent_weight: float = 2.0  # of the intent loss against the CRF's (FitConfig's)
    label_smoothing: float = 0.0  # of the intent targets
    patience: int = 10  # epochs without a better dev score before stopping
    dev_fraction: float = 0.15  # of each intent's examples, when no dev split is given
    time_budget_s: float = 240.0  # for training; export and its checks come on top
    # out-of-skill utterances per skill utterance (0: none), chosen on MASSIVE dev by the routing bench: 5 (at
    # most 5,000) routed 92.7% right against 91.4% with 3 and 77.1% with 1 (docs/SKILLS.md)
    negatives: float = 5.0
    max_negatives: int = 5000
    # of an out-of-skill utterance's CRF loss (its tags are all O) against a skill utterance's 1: at 1, five
    # negatives per example teach the slot head mostly "O". Chosen on dev at n = 100 (reports/skills/
    # tag-weight-choice-dev.csv, reports/skills-snips/...): 0.2 gave MASSIVE's scenarios 71.5 slot F1 against
    # 69.8 at 1 and 0.5, SNIPS 49.5 against 45.2, intents level; 0 broke the slot head
    out_of_skill_tag_weight: float = 0.2
    # After the epoch count is chosen on dev, train again on train + dev for that many epochs: with a few
    # hundred examples the 15% held out are too many to leave unused. The selection model is kept to
    # calibrate on, since the served one has seen dev. Only from refit_min_examples (train + dev): on dev
    # (reports/skills/refit-choice-dev.csv, reports/skills-snips/...) it raised slot F1 1.9-2.8 points at
    # n = 200 and 0.1-2.2 at 500, but cost MASSIVE's scenarios 0.9 at n = 100, where 15 dev utterances pick a
    # noisy epoch count
    refit: bool = True
    refit_min_examples: int = 200
    # The lexical intent model (elmol_nlu.lexical) beside the heads: the weight of its log-probabilities in the
    # intents served (0: the heads alone; single-intent skills only) and its inverse regularisation. Chosen on
    # MASSIVE dev (experiments.lexical_choice, reports/skills/lexical-choice.json): 0.75 and 10 gave 92.7% and
    # 96.6% own-intent accuracy at n = 100 and 500, against 90.5% and 94.8% for the heads alone
    lexical_weight: float = 0.75
    lexical_c: float = 10.0
    # Mention replacement (training.mentions): this many copies of each training example with slots, each
    # swappable slot taking another value of its slot (within the example's intent) with probability
    # mention_rate; only slots whose distinct values are at least mention_open_ratio of at least 5 mentions
    # (names and titles, not dates or devices). Chosen on dev, fresh seeds (reports/skills/mention-fresh-dev.csv,
    # reports/skills-snips/...; docs/SKILLS.md "Mention replacement"); 0 copies turns it off
    mention_copies: int = 2
    mention_rate: float = 0.5
    mention_slots_only: bool = True  # copies train the slot head alone: no intent loss, not in the lexical model
    mention_open_ratio: float = 0.8
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainedSkill:
    model: JointNLU
    state: dict  # what export reads: config, labels, metrics, history (as train_nlu's checkpoint)
    train: list[TaggedExample]
    dev: list[TaggedExample]
    out_of_skill_dev: list[TaggedExample]  # held-out negatives, for calibration beside dev
    selection_model: JointNLU | None = None  # with refit: the model chosen on dev, which never saw it
    lexical: LexicalHead | None = None  # combined with the heads' intents, as served
    selection_lexical: LexicalHead | None = None  # with refit: the lexical model beside selection_model (no dev)
    out_of_skill_train: list[TaggedExample] = field(default_factory=list)


def load_source(checkpoint: Path) -> tuple[JointNLU, dict]:
    state = load_checkpoint(checkpoint)
    model = JointNLU(NLUConfig.from_dict(state["config"]), state["tags"])
    model.load_state_dict(state["model"])
    return model, state


def fit_config(cfg: SkillConfig, n_train: int, n_encoder_groups: int, incremental: bool = False) -> FitConfig:
    low, high = cfg.incremental_epochs if incremental else cfg.epoch_range
    # tens of thousands of examples (MixSNIPS) in batches of 16 took 14 minutes an epoch; a few hundred keep 16
    batch_size = min(cfg.max_batch_size, max(cfg.batch_size, n_train // 200))
    epochs = min(high, max(low, math.ceil(cfg.min_steps * batch_size / n_train)))
    common = {"epochs": epochs, "batch_size": batch_size, "lr": cfg.lr, "patience": cfg.patience,
              "min_epochs": low, "seed": cfg.seed, "time_budget_s": cfg.time_budget_s,
              "intent_weight": cfg.intent_weight, "label_smoothing": cfg.label_smoothing}
    if incremental:  # trained heads (and new output rows) all train from the start; the encoder stays frozen
        return FitConfig(**{**common, "patience": min(cfg.patience, 3)}, unfreeze_at=())
    if cfg.start == "transfer":  # output layers alone for the first tenth, then the heads, then (if not shared)
        own = tuple(max(1, round(epochs * f)) for f in (0.25, 0.4)[:n_encoder_groups])  # the encoder top-down
        return FitConfig(**common, new_outputs=True,
                         unfreeze_at=(max(1, round(epochs * 0.1)), *(() if cfg.share_encoder else own)))
    return FitConfig(**common, unfreeze_at=(0,) * n_encoder_groups)  # scratch: everything trains from the start


def build(source: JointNLU, intents: Vocab, tags: Vocab, start: str, multi_intent: bool = False) -> JointNLU:
    """The skill's network: ``source`` with new output layers (transfer) or its architecture from scratch; with
    ``multi_intent``, one sigmoid per single intent instead of a softmax."""
    if start == "transfer":
        model = with_new_outputs(source, len(intents), tags.itos)
        model.cfg = replace(model.cfg, multi_intent=multi_intent, intent_threshold=0.5)
        return model
    if start == "scratch":  # the same architecture, random weights
        return JointNLU(NLUConfig.from_dict({**source.cfg.to_dict(), "n_intents": len(intents),
                                             "n_tags": len(tags), "multi_intent": multi_intent}), tags.itos)
    raise ValueError(f"start must be one of {STARTS}, not {start!r}")


def out_of_skill_tag_weight(weight: float) -> TagWeight | None:
    """Each training example's weight in the CRF loss: ``weight`` for out-of-skill ones; None when all are 1."""
    if weight == 1.0:
        return None
    return lambda e: weight if e.example.intent == OUT_OF_SKILL else 1.0


def tune_threshold(model: JointNLU, dev: list[TaggedExample], intents: Vocab, tags: Vocab) -> None:
    """Set a multi-intent model's sigmoid threshold to the one that gets the most dev sets exactly right."""
    probs = np.stack([p.intent_probs for p in predict(model, dev, intents, tags)])
    threshold = fit_threshold(probs, [e.example.intent for e in dev], intents.itos)
    model.cfg = replace(model.cfg, intent_threshold=threshold)
    log.info("multi-intent threshold %.2f (fitted on %d dev utterances)", threshold, len(dev))


def rejection_rate(model: JointNLU, negatives: list[TaggedExample], intents: Vocab, tags: Vocab,
                   lexical: LexicalHead | None = None) -> float | None:
    """Percentage of out-of-skill utterances the skill calls ``OUT_OF_SKILL``."""
    if not negatives:
        return None
    preds = predict(model, negatives, intents, tags, lexical=lexical)
    return 100 * sum(p.intent == OUT_OF_SKILL for p in preds) / len(negatives)


def train_skill(train: list[TaggedExample], dev: list[TaggedExample] | None, source_checkpoint: Path,
                cfg: SkillConfig, previous: Previous | None = None,
                other_skills: list[TaggedExample] | None = None) -> TrainedSkill:
    """Fine-tune a skill; the epoch kept is the best on ``dev`` (split off ``train`` when None) together with
    held-out out-of-skill utterances. With ``previous``, go on from that skill: its examples join the new ones
    (its dev split stays dev) and its heads are the start (``training.skill_incremental``). ``other_skills``: the
    examples of skills served beside it, which it learns are not its own as it learns the base's."""
    started = time.monotonic()
    source, source_state = load_source(source_checkpoint)
    negative_pool = source_utterances(source_state, source_checkpoint) if cfg.negatives > 0 else []
    if not dev:
        train, dev = split_dev(train, cfg.dev_fraction, cfg.seed)
    if previous is not None:
        train, dev = previous.train + train, previous.dev + dev
    n_neg = min(cfg.max_negatives, round(cfg.negatives * (len(train) + len(dev))))
    negatives = sample_negatives([negative_pool, other_skills or []], train + dev, n_neg, cfg.seed)
    neg_train, neg_dev = negatives[len(negatives) * len(dev) // (len(train) + len(dev)):], \
        negatives[: len(negatives) * len(dev) // (len(train) + len(dev))]
    multi = any(is_multi(e.example.intent) for e in train + dev)
    intents, tags = label_vocabs(train + dev + negatives, multi_intent=multi)
    torch.manual_seed(cfg.seed)
    if previous is None:
        model = build(source, intents, tags, cfg.start, multi)
    else:
        model = previous.model(source, intents, tags, multi)
    dev_keys = {match_key(e.example.text) for e in dev}
    extra = skill_copies(train, cfg.mention_copies, cfg.mention_rate, cfg.seed, dev_keys,
                         open_ratio=cfg.mention_open_ratio)
    fit_cfg = fit_config(cfg, len(train) + len(extra) + len(neg_train), len(model.encoder_groups()),
                         previous is not None)
    log.info("%s skill: %d train, %d dev examples (+%d, %d out of skill), %d intents, %d slot tags, up to %d "
             "epochs", cfg.start, len(train), len(dev), len(neg_train), len(neg_dev), len(intents), len(tags),
             fit_cfg.epochs)
    selection = dev + neg_dev
    tag_weight = out_of_skill_tag_weight(cfg.out_of_skill_tag_weight)
    first_pass = time.monotonic()
    intent_weight, lexical_extra = copies_use(cfg, extra)
    best, history = fit(model, train + extra + neg_train, intents, tags, fit_cfg,
                        lambda m: metrics(selection, predict(m, selection, intents, tags)), tag_weight, intent_weight)
    first_pass = time.monotonic() - first_pass
    model.load_state_dict(best)
    model.eval()
    if multi:
        tune_threshold(model, selection, intents, tags)
    def fit_lexical_on(m: JointNLU, examples: list[TaggedExample]) -> LexicalHead | None:
        if cfg.lexical_weight <= 0 or multi:
            return None
        fitted = fit_lexical(m, examples + neg_train, intents.itos, cfg.lexical_c, cfg.seed)
        return LexicalHead(fitted, cfg.lexical_weight)

    lexical = fit_lexical_on(model, train + lexical_extra)  # on the model chosen on dev, which has not trained on it
    dev_metrics = {**metrics(dev, predict(model, dev, intents, tags, lexical=lexical)),
                   "out_of_skill_rejected": rejection_rate(model, neg_dev, intents, tags, lexical)}
    if lexical is not None:
        dev_metrics["heads_alone"] = {k: v for k, v in metrics(dev, predict(model, dev, intents, tags)).items()
                                      if k in ("intent_acc", "slot_f1", "exact_match")}
    selection_model, selection_lexical, refit = None, None, None
    if cfg.refit and dev and previous is None and len(train) + len(dev) >= cfg.refit_min_examples:
        refit_extra = skill_copies(train + dev, cfg.mention_copies, cfg.mention_rate, cfg.seed,
                                   open_ratio=cfg.mention_open_ratio)
        refit_data = train + dev + refit_extra
        plan = refit_plan(cfg.time_budget_s, fit_cfg, history, first_pass, len(train) + len(extra) + len(neg_train),
                          len(refit_data) + len(neg_train), time.monotonic() - started)
        if plan is not None:
            (fit_cfg, refit), selection_model, selection_lexical = plan, model, lexical
            extra, (intent_weight, lexical_extra) = refit_extra, copies_use(cfg, refit_extra)
            log.info("refit on train + dev (%d examples) for the %d epochs chosen on dev", len(refit_data),
                     fit_cfg.epochs)
            model = refit_model(source_checkpoint, refit_data + neg_train, intents, tags, cfg, fit_cfg, multi,
                                (tag_weight, intent_weight),
                                selection_model.cfg.intent_threshold)
            lexical = fit_lexical_on(model, train + dev + lexical_extra)  # every example, as the heads now have
    state = {"config": model.cfg.to_dict(), "fit": fit_cfg.to_dict(), "skill": cfg.to_dict(),
             "intents": intents.itos, "tags": tags.itos, "words": None, "metrics": {"dev": dev_metrics},
             "history": history, "train_minutes": round((time.monotonic() - started) / 60, 2),
             "data": {"train": len(train), "dev": len(dev), "out_of_skill_train": len(neg_train),
                      "out_of_skill_dev": len(neg_dev), "mention_copies": len(extra), "refit": refit},
             "out_of_skill": OUT_OF_SKILL if negatives else None,
             "from": None if previous is None else {"skill": previous.name, "version": previous.manifest.version,
                                                    "train": len(previous.train), "dev": len(previous.dev)},
             "lm": source_state.get("lm"), "model": model.state_dict()}
    return TrainedSkill(model, state, train, dev, neg_dev, selection_model, lexical, selection_lexical, neg_train)


def copies_use(cfg: SkillConfig, copies: list[TaggedExample]) -> tuple[TagWeight | None, list[TaggedExample]]:
    """The intent-loss weights that mention copies bring and the copies the lexical model sees: with
    ``mention_slots_only``, weight 0 and none of them; otherwise all weights 1 and all of them."""
    if cfg.mention_slots_only:
        return copies_intent_weight(copies), []
    return None, copies


def refit_model(source_checkpoint: Path, examples: list[TaggedExample], intents: Vocab, tags: Vocab,
                cfg: SkillConfig, fit_cfg: FitConfig, multi: bool,
                weights: tuple[TagWeight | None, TagWeight | None], threshold: float) -> JointNLU:
    """The skill's network trained afresh on ``examples`` for ``fit_cfg``'s epochs, no early stopping;
    ``weights``: each example's in the CRF loss and in the intent loss."""
    torch.manual_seed(cfg.seed)
    model = build(load_source(source_checkpoint)[0], intents, tags, cfg.start, multi)  # build() changes its source
    final, _ = fit(model, examples, intents, tags, fit_cfg, None, *weights)
    model.load_state_dict(final)
    model.cfg = replace(model.cfg, intent_threshold=threshold)
    return model.eval()
