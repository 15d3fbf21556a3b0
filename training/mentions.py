"""Mention replacement: more training utterances for a few-example skill, from the ones it has.

A copy of an annotated utterance gets, in some of its slots, another value that the same slot takes
elsewhere in the training examples ("wake me at [time : seven]" and "... [time : half past six]"). With a few
hundred examples, the heads otherwise learn that a slot is the few strings they saw; the copies make them
read the context around it and spans of other lengths (Dai and Adel, "An Analysis of Simple Data
Augmentation for Named Entity Recognition", COLING 2020). Values come from examples of the same intent: in
MASSIVE's iot scenario the device ("lights" or "plug") is what tells two intents apart, and swapping across
intents cost dev intent accuracy in a first try.

A copy never repeats a training utterance or one of ``exclude`` (match keys: the skill's dev split and every
evaluation utterance we score on), so no held-out text enters training by recombination.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from itertools import pairwise

from elmol_nlu.datasets import CharSlot, Example, TaggedExample, tag
from elmol_nlu.text import match_key

log = logging.getLogger("mentions")


def slot_values(examples: list[TaggedExample]) -> dict[tuple[str, str], list[str]]:
    """The distinct values of each (intent, slot) in ``examples``, in first-seen order (case as written)."""
    values: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
    for e in examples:
        for s in e.example.slots:
            values[e.example.intent, s.name].setdefault(e.example.text[s.start : s.end], None)
    return {key: list(v) for key, v in values.items()}


def with_values(example: Example, new: dict[int, str]) -> Example:
    """``example`` with slot ``i``'s text replaced by ``new[i]`` (slots in text order), spans moved to match."""
    pieces, slots, at = [], [], 0
    for i, s in enumerate(example.slots):
        pieces.append(example.text[at : s.start])
        value = new.get(i, example.text[s.start : s.end])
        start = sum(map(len, pieces))
        pieces.append(value)
        slots.append(CharSlot(s.name, start, start + len(value)))
        at = s.end
    pieces.append(example.text[at:])
    return replace(example, text="".join(pieces), slots=tuple(slots))


def open_slots(examples: list[TaggedExample], ratio: float, least: int = 5) -> set[str]:
    """Slot names whose values rarely repeat in ``examples``: at least ``least`` mentions, and distinct values
    (lower-cased) at least ``ratio`` of them. Names and titles are open like this; dates, devices and list
    names repeat."""
    mentions: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        for s in e.example.slots:
            mentions[s.name].append(e.example.text[s.start : s.end].lower())
    return {name for name, v in mentions.items() if len(v) >= least and len(set(v)) >= ratio * len(v)}


def mention_copies(examples: list[TaggedExample], copies: int, rate: float, seed: int,
                   exclude: frozenset[str] = frozenset(), open_ratio: float = 0.0) -> list[TaggedExample]:
    """Up to ``copies`` new utterances per example with slots: each slot with another value in the same
    intent's examples takes one at random with probability ``rate`` (at least one slot does). With
    ``open_ratio`` > 0, only slots of ``open_slots(examples, open_ratio)`` are swapped. Copies that match a
    training example, an earlier copy or ``exclude`` (``match_key``) are dropped."""
    if copies <= 0:
        return []
    values = slot_values(examples)
    if open_ratio > 0:
        names = open_slots(examples, open_ratio)
        values = {key: v for key, v in values.items() if key[1] in names}
    rng = random.Random(f"mentions:{seed}")
    seen = {match_key(e.example.text) for e in examples} | exclude
    out: list[TaggedExample] = []
    for e in examples:
        slots = sorted(e.example.slots, key=lambda s: s.start)
        if any(b.start < a.end for a, b in pairwise(slots)):
            continue  # overlapping spans: no clean way to swap one
        example = replace(e.example, slots=tuple(slots))
        pools = [values.get((e.example.intent, s.name), []) for s in slots]
        swappable = [i for i, pool in enumerate(pools) if len(pool) > 1]
        for k in range(copies if swappable else 0):
            chosen = [i for i in swappable if rng.random() < rate] or [rng.choice(swappable)]
            new = {}
            for i in chosen:
                own = example.text[slots[i].start : slots[i].end]
                new[i] = rng.choice([v for v in pools[i] if v != own])
            copy = with_values(example, new)
            key = match_key(copy.text)
            if key in seen:
                continue
            seen.add(key)
            out.append(tag(replace(copy, id=f"{e.example.id}~m{k}")))
    return out


@lru_cache(maxsize=1)
def evaluation_keys_here() -> frozenset[str]:
    """The evaluation sets' match keys (elmol_nlu.evaluation_text) when their files are in the working
    directory (a clone of this repository); otherwise none, said once."""
    from elmol_nlu.evaluation_text import MASSIVE, SNIPS, evaluation_keys

    if not (MASSIVE.is_file() and SNIPS.is_dir()):
        log.info("no evaluation sets here (%s, %s): mention copies are checked against the skill's own data only",
                 MASSIVE, SNIPS)
        return frozenset()
    return frozenset(evaluation_keys())


def skill_copies(examples: list[TaggedExample], copies: int, rate: float, seed: int,
                 held_out: set[str] | frozenset[str] = frozenset(), most: int = 1000,
                 open_ratio: float = 0.0) -> list[TaggedExample]:
    """A skill's mention copies of ``examples``: none matching ``held_out`` (its dev split's match keys) or an
    evaluation utterance, at most ``most`` of them (drawn at random: with thousands of examples the copies
    would add more training time than they are worth)."""
    if copies <= 0:
        return []
    extra = mention_copies(examples, copies, rate, seed, evaluation_keys_here() | frozenset(held_out), open_ratio)
    if len(extra) > most:
        extra = random.Random(f"mentions-cap:{seed}").sample(extra, most)
    log.info("%d mention-replaced copies of %d examples", len(extra), len(examples))
    return extra


def copies_intent_weight(copies: list[TaggedExample]) -> Callable[[TaggedExample], float] | None:
    """Each training example's weight in the intent loss: 0 for ``copies``; None when there are none."""
    if not copies:
        return None
    ids = {id(e) for e in copies}
    return lambda e: 0.0 if id(e) in ids else 1.0
