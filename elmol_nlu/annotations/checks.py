"""``validate``: problems in each example and across the data set (labels, typos, conflicts, duplicates)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from elmol_nlu.annotations.records import Annotated, Problem, _warning
from elmol_nlu.datasets import CharSlot, Example, tag
from elmol_nlu.intents import canonical, split_intents
from elmol_nlu.text import Token, normalize, tokenize

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")  # BIO tag vocabularies and the service's JSON need plain names
_RARE = 2  # a label used this often or less, next to a frequent look-alike, is probably a typo


# ---- checks across the data set


def validate(items: list[Annotated], min_per_intent: int = 5, known_slots: set[str] | None = None,
             known_intents: set[str] | None = None) -> list[Problem]:
    """Problems in the examples themselves and across them: labels, typos, conflicts, duplicates."""
    problems = [p for item in items for p in _check_example(item)]
    # a multi-intent label ('a#b') counts for each of its intents: those are what a multi-intent model learns
    problems += _check_labels(items, "intent", lambda e: split_intents(e.intent), min_per_intent, known_intents)
    problems += _check_labels(items, "slot", lambda e: [s.name for s in e.slots], 0, known_slots)
    return problems + _check_texts(items)


def _check_example(item: Annotated) -> list[Problem]:
    text, at = item.example.text, (item.file, item.line)
    tokens = tokenize(text)
    if not tokens:
        return [Problem(*at, "the utterance is empty: write the words a user would say")]
    if not split_intents(item.example.intent):
        return [Problem(*at, f"intent {item.example.intent!r} names no intent: write one, or several joined by '#'")]
    problems = []
    prev: CharSlot | None = None
    prev_end = 0  # where the previous slot ends once widened to whole tokens
    for slot in sorted(item.example.slots, key=lambda s: (s.start, s.end)):
        value = text[slot.start : slot.end]
        if slot.end > len(text) or not value.strip():
            problems.append(Problem(*at, f"slot {slot.name!r} has an empty value: mark the words it stands for"))
        elif prev is not None and slot.start < prev.end:
            problems.append(Problem(*at, f"slots {prev.name!r} ({text[prev.start:prev.end]!r}) and {slot.name!r} "
                                    f"({value!r}) overlap: a word can be in one slot only"))
        else:
            problems += _check_words(slot, text, tokens, prev_end, at)
            prev, prev_end = slot, max(t.end for t in _covered(tokens, slot))
    return problems


def _covered(tokens: list[Token], slot: CharSlot) -> list[Token]:
    return [t for t in tokens if t.start < slot.end and t.end > slot.start]


def _check_words(slot: CharSlot, text: str, tokens: list[Token], prev_end: int, at: tuple[str, int]) -> list[Problem]:
    """Slots are tagged on whole tokens: warn where a mark cuts a word or shares one with the slot before."""
    covered = _covered(tokens, slot)
    start, end = covered[0].start, covered[-1].end
    value = text[slot.start : slot.end]
    if start < prev_end:
        return [_warning(*at, f"slot {slot.name!r} ({value!r}) shares the word {covered[0].text!r} with the slot "
                         "before it, which takes the word: separate the two marks with a space")]
    if start < slot.start or end > slot.end:
        cut = [t.text for t in covered if t.start < slot.start or t.end > slot.end]
        return [_warning(*at, f"slot {slot.name!r} ({value!r}) cuts the word {cut[0]!r}: it will be widened to whole "
                         f"words ({text[start:end]!r}); put the mark's brackets at word boundaries")]
    return []


def _where(item: Annotated, kind: str) -> tuple[str, int]:
    """Where to report a label: a BIO folder keeps intents in ``label`` and slots in ``seq.out``."""
    path = Path(item.file)
    if path.name == "seq.in":
        return str(path.with_name("label" if kind == "intent" else "seq.out")), item.line
    return item.file, item.line


def _check_labels(items: list[Annotated], kind: str, names_of: Callable[[Example], Iterable[str]], min_count: int,
                  known: set[str] | None) -> list[Problem]:
    counts: Counter[str] = Counter()
    first: dict[str, Annotated] = {}
    for item in items:
        for name in names_of(item.example):
            counts[name] += 1
            first.setdefault(name, item)
    problems = []
    for name, item in first.items():
        at, count = _where(item, kind), counts[name]
        if not _NAME_RE.fullmatch(name):
            ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_name).strip("_")
            problems.append(Problem(*at, f"{kind} name {name!r} is not plain: use only letters, digits, '_', '.' and "
                                    "'-'" + (f", e.g. {plain!r}" if plain else "")))
        if count < min_count:  # trainable, but hard to learn and to score: a warning (`--strict`: an error)
            problems.append(_warning(*at, f"{kind} {name!r} has {count} example{'s' * (count != 1)}; "
                                     f"{min_count} or more are needed to learn it well: add {min_count - count} "
                                     "more, or merge it into another intent"))
        if known is not None and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"closest known: {', '.join(map(repr, close))}" if close else f"{len(known)} {kind}s are known"
            problems.append(_warning(*at, f"{kind} {name!r} is not known to the model ({hint})"))
        typo = _look_alike(name, counts)
        if typo:
            problems.append(_warning(*at, f"{kind} {name!r}: did you mean {typo!r}? ({name!r} is used {count} "
                                     f"time{'s' * (count != 1)}, {typo!r} {counts[typo]} times)"))
    return problems


def _fold(name: str) -> str:
    return re.sub(r"[\s_-]", "", name.lower()).removesuffix("s")


def _look_alike(name: str, counts: Counter[str]) -> str | None:
    """The most frequent label that a rare ``name`` looks like a typo of, if any."""
    if counts[name] > _RARE:
        return None
    alike = [other for other, n in counts.items() if n > counts[name] and _NAME_RE.fullmatch(other)
             and (_fold(other) == _fold(name) or difflib.SequenceMatcher(None, name, other).ratio() >= 0.85)]
    return max(alike, key=lambda other: counts[other], default=None)


def _slots(example: Example) -> str:
    marks = [f"{s.name} {example.text[s.start : s.end]!r}" for s in example.slots]
    return "slots " + ", ".join(marks) if marks else "no slots"


def _check_texts(items: list[Annotated]) -> list[Problem]:
    """The same words (as the model sees them) with two intents, other slots, or twice the same."""
    intents: dict[tuple[str, ...], dict[str, Annotated]] = defaultdict(dict)
    tagged_as: dict[tuple[tuple[str, ...], str], tuple[Annotated, list[str]]] = {}
    problems = []
    for item in items:
        tagged = tag(item.example)
        words, text = tuple(normalize(w) for w in tagged.words), item.example.text
        intent = canonical(item.example.intent)
        if not words:
            continue
        others = intents[words]
        if intent not in others and others:
            other = next(iter(others.values()))
            problems.append(Problem(item.file, item.line, f"{text!r} has intent {intent!r} here but "
                                    f"{other.example.intent!r} at {other.file}:{other.line}: the same words need one "
                                    "intent"))
        others.setdefault(intent, item)
        if (words, intent) not in tagged_as:
            tagged_as[words, intent] = (item, tagged.tags)
            continue
        first, tags = tagged_as[words, intent]
        if tags != tagged.tags:
            problems.append(_warning(item.file, item.line, f"{text!r} has {_slots(item.example)} here but "
                                     f"{_slots(first.example)} at {first.file}:{first.line}: mark the same words the "
                                     "same way"))
        elif first.partition != item.partition:
            problems.append(_warning(item.file, item.line, f"{text!r} duplicates {first.file}:{first.line}, which is "
                                     f"in {first.partition or 'no partition'} and this in {item.partition or 'none'}: "
                                     "drop one, evaluation should not see training examples"))
        else:
            problems.append(_warning(item.file, item.line, f"{text!r} duplicates {first.file}:{first.line}: drop one"))
    return problems
