"""Vocabularies (words, intents, slot tags) and BIO span helpers, shared by training and serving."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PAD = "<pad>"
UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
OUTSIDE = "O"


class Vocab:
    """An ordered list of symbols with an optional unknown symbol for lookups of unseen ones."""

    def __init__(self, symbols: Iterable[str], unk: str | None = None) -> None:
        self.itos: list[str] = list(symbols)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate symbols")
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"unknown symbol {unk!r} is not in the vocabulary")
        self.unk = unk

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self.stoi

    def index(self, symbol: str) -> int:
        if symbol in self.stoi:
            return self.stoi[symbol]
        if self.unk is None:
            raise KeyError(f"{symbol!r} is not in the vocabulary")
        return self.stoi[self.unk]

    def indices(self, symbols: Iterable[str]) -> list[int]:
        return [self.index(s) for s in symbols]

    @classmethod
    def from_counts(
        cls, counts: Counter[str], min_count: int, max_size: int, specials: list[str], unk: str | None
    ) -> Vocab:
        """Specials first, then words by falling frequency (ties alphabetical, so builds repeat)."""
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        words = [w for w in ranked if w not in specials][: max_size - len(specials)]
        return cls(specials + words, unk=unk)


def slot_tag_vocab(slot_names: Iterable[str]) -> Vocab:
    """BIO tags for the given slot types: O, then B-x, I-x for each x in sorted order."""
    tags = [OUTSIDE]
    for name in sorted(set(slot_names)):
        tags += [f"B-{name}", f"I-{name}"]
    return Vocab(tags)


@dataclass(frozen=True)
class Span:
    """A slot over tokens ``[start, end)``."""

    name: str
    start: int
    end: int


def bio_spans(tags: list[str]) -> list[Span]:
    """Slot spans of a BIO sequence, CoNLL style: a stray ``I-x`` opens a new span."""
    spans: list[Span] = []
    name, start = None, 0
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == name
        if name is not None and not continues:
            spans.append(Span(name, start, i))
            name = None
        if prefix in ("B", "I") and not continues:
            name, start = label, i
    return spans


def allowed_transition(prev: str, tag: str) -> bool:
    """Whether ``tag`` may follow ``prev`` in a strict BIO sequence (``prev`` None at the start)."""
    if not tag.startswith("I-"):
        return True
    return prev is not None and prev != OUTSIDE and prev[2:] == tag[2:]
