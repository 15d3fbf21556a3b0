"""A skill's data besides its examples: the dev split carved off them, and the out-of-skill utterances (the
source model's training data, other skills' examples) it learns to leave alone."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from elmol_nlu.datasets import TaggedExample

log = logging.getLogger("skill")
OUT_OF_SKILL = "<other>"  # the intent of utterances that belong to no intent of the skill


def split_dev(examples: list[TaggedExample], fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev), dev stratified by intent: ``fraction`` of each intent's examples, at least one of any
    intent with three or more, none of rarer ones (they are too few to spare)."""
    by_intent: dict[str, list[TaggedExample]] = defaultdict(list)
    for e in examples:
        by_intent[e.example.intent].append(e)
    rng = random.Random(seed)
    train, dev = [], []
    for intent in sorted(by_intent):
        group = by_intent[intent][:]
        rng.shuffle(group)
        n_dev = max(1, round(fraction * len(group))) if len(group) >= 3 else 0
        dev += group[:n_dev]
        train += group[n_dev:]
    rng.shuffle(train)
    return train, dev


def sample_negatives(pools: list[list[TaggedExample]], skill: list[TaggedExample], n: int,
                     seed: int) -> list[TaggedExample]:
    """n utterances of ``pools`` (the base's training data, the other skills' examples) not among the skill's
    texts, drawn alike from all of them, relabelled ``OUT_OF_SKILL`` with every tag O. Alike, not an equal share
    of each: the base's utterances are most of what a skill must leave alone (an equal share let the five
    skills of the routing bench take 31% of the base's dev utterances, against 16% before)."""
    own = {" ".join(e.words).lower() for e in skill}
    candidates = [e for pool in pools for e in pool if " ".join(e.words).lower() not in own]
    picked = random.Random(f"negatives:{seed}").sample(candidates, min(n, len(candidates)))
    return [TaggedExample(replace(e.example, intent=OUT_OF_SKILL, slots=()), e.tokens, ["O"] * len(e.tokens))
            for e in picked]


def source_utterances(source_state: dict, checkpoint: Path) -> list[TaggedExample]:
    """The source model's training split, as its checkpoint records it (train_nlu's ``data``, a path relative
    to the working directory or to the repository the checkpoint is in); [] if it is not here."""
    from elmol_nlu.datasets import load_split

    data = source_state.get("data") or {}
    path = Path(data.get("path", ""))
    if not path.is_absolute() and not path.exists():
        path = checkpoint.resolve().parent.parent / path
    if not data.get("path") or not path.exists():
        log.warning("the source model's training data (%s) is not here: the skill learns no out-of-skill class",
                    data.get("path"))
        return []
    return load_split(path, "train", None, frozenset(data.get("excluded_scenarios", ())))
