"""Annotated utterances: MASSIVE ``annot_utt`` and SNIPS BIO files to word tokens and BIO tags.

Every format is first read as text plus character-span slots, then tagged with the project's own
tokenizer, so training sees tokens exactly as the service will produce them. The splits every stage
reads (``load_split``, ``load_massive``) are loaded here, torch-free.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from elmol_nlu.intents import single_intents
from elmol_nlu.text import Token, tokenize
from elmol_nlu.vocab import OUTSIDE, Vocab, bio_spans, slot_tag_vocab


@dataclass(frozen=True)
class CharSlot:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    slots: tuple[CharSlot, ...] = ()
    domain: str = ""
    id: str = ""


@dataclass(frozen=True)
class TaggedExample:
    example: Example
    tokens: list[Token] = field(hash=False)
    tags: list[str] = field(hash=False)

    @property
    def words(self) -> list[str]:
        return [t.text for t in self.tokens]


class AnnotationError(ValueError):
    """An annotated utterance that cannot be read; the message says where and why."""


# A mark's slot name, its text as it stands in the plain text, the slot's span within that text, and where the
# scan goes on: what ``parse_marks`` needs of each syntax's reader.
Mark = tuple[str, str, int, int, int]


def parse_marks(annotated: str, read_mark: Callable[[str, int, int], Mark],
                context: str = "") -> tuple[str, tuple[CharSlot, ...]]:
    """Plain text and slot spans of text with ``[...]`` slot marks, whatever the syntax inside and after them:
    ``read_mark(annotated, open_at, close_at)`` reads one mark (its '[' and ']' at those offsets). ``context``
    ends the messages of brackets that do not pair."""
    text: list[str] = []
    slots: list[CharSlot] = []
    i = length = 0
    while True:
        open_at = annotated.find("[", i)
        plain = annotated[i:] if open_at < 0 else annotated[i:open_at]
        if "]" in plain:
            raise AnnotationError(f"']' without '[' at character {i + plain.index(']')}{context}")
        text.append(plain)
        length += len(plain)
        if open_at < 0:
            return "".join(text), tuple(slots)
        close_at = annotated.find("]", open_at)
        if close_at < 0:
            raise AnnotationError(f"unclosed '[' at character {open_at}{context}")
        name, value, start, end, i = read_mark(annotated, open_at, close_at)
        slots.append(CharSlot(name, length + start, length + end))
        text.append(value)
        length += len(value)


def _massive_mark(annotated: str, open_at: int, close_at: int) -> Mark:
    name, sep, value = annotated[open_at + 1 : close_at].partition(" : ")
    if not sep or not name.strip() or not value.strip():
        raise AnnotationError(f"slot mark {annotated[open_at:close_at + 1]!r} is not '[name : value]'")
    if "[" in name or "[" in value:
        raise AnnotationError(f"nested or overlapping slot marks in {annotated!r}")
    return name.strip(), value, 0, len(value), close_at + 1


def parse_inline(annotated: str) -> tuple[str, tuple[CharSlot, ...]]:
    """``"wake me up at [time : seven] [date : tomorrow]"`` to the plain text and its slot spans."""
    return parse_marks(annotated, _massive_mark, f" in {annotated!r}")


def tag_tokens(tokens: list[Token], slots: Iterable[CharSlot]) -> list[str]:
    """BIO tags of tokens from character spans: a token belongs to the first slot it overlaps."""
    tags = [OUTSIDE] * len(tokens)
    for slot in sorted(slots, key=lambda s: s.start):
        inside = [i for i, t in enumerate(tokens) if t.start < slot.end and t.end > slot.start]
        inside = [i for i in inside if tags[i] == OUTSIDE]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + slot.name
    return tags


def tag(example: Example) -> TaggedExample:
    tokens = tokenize(example.text)
    return TaggedExample(example, tokens, tag_tokens(tokens, example.slots))


def read_massive(path: Path, partition: str | None = None) -> list[Example]:
    """MASSIVE JSON lines (``utt``, ``annot_utt``, ``intent``, ``scenario``, ``partition``)."""
    examples = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            if partition and row.get("partition") != partition:
                continue
            try:
                text, slots = parse_inline(row["annot_utt"])
            except AnnotationError as e:
                raise AnnotationError(f"{path}:{line_no}: {e}") from None
            examples.append(Example(text, row["intent"], slots, row.get("scenario", ""), str(row.get("id", ""))))
    return examples


def read_bio_folder(folder: Path) -> list[Example]:
    """``seq.in`` (whitespace tokens), ``seq.out`` (BIO tags) and ``label`` (intents), as in SNIPS."""
    words = (folder / "seq.in").read_text(encoding="utf-8").splitlines()
    tags = (folder / "seq.out").read_text(encoding="utf-8").splitlines()
    labels = (folder / "label").read_text(encoding="utf-8").splitlines()
    if not len(words) == len(tags) == len(labels):
        raise AnnotationError(f"{folder}: seq.in, seq.out and label have different numbers of lines")
    examples = []
    for line_no, (w_line, t_line, label) in enumerate(zip(words, tags, labels, strict=True), 1):
        ws, ts = w_line.split(), t_line.split()
        if len(ws) != len(ts):
            raise AnnotationError(f"{folder}/seq.out:{line_no}: {len(ts)} tags for {len(ws)} words")
        starts = [0]
        for w in ws[:-1]:
            starts.append(starts[-1] + len(w) + 1)
        slots = tuple(CharSlot(sp.name, starts[sp.start], starts[sp.end - 1] + len(ws[sp.end - 1]))
                      for sp in bio_spans(ts))
        examples.append(Example(" ".join(ws), label.strip(), slots, id=str(line_no)))
    return examples


def load_split(path: Path, partition: str, limit: int | None = None,
               exclude: frozenset[str] = frozenset()) -> list[TaggedExample]:
    """One partition of MASSIVE JSON lines or of a SNIPS-style folder, tagged, without the scenarios in
    ``exclude`` or utterances without a token; the first ``limit`` of them."""
    raw = read_bio_folder(path / partition) if path.is_dir() else read_massive(path, partition)
    examples = [tag(e) for e in raw if e.domain not in exclude]
    return [e for e in examples if e.tokens][:limit]


def load_massive(path: Path, limit: int | None) -> dict[str, dict[str, list[TaggedExample]]]:
    """MASSIVE by partition and scenario, ``{partition: {scenario: examples}}``, the first ``limit`` of each."""
    out: dict[str, dict[str, list[TaggedExample]]] = {}
    for part in ("train", "dev", "test"):
        by_scenario: dict[str, list[TaggedExample]] = {}
        for e in read_massive(path, part):
            tagged = tag(e)
            if tagged.tokens:
                by_scenario.setdefault(e.domain, []).append(tagged)
        out[part] = {k: v[:limit] for k, v in by_scenario.items()}
    return out


def sample(examples: list[TaggedExample], n: int, seed: int) -> list[TaggedExample]:
    """n examples drawn with a fixed seed; all of them when the split is smaller than n."""
    return random.Random(f"{seed}:{n}").sample(examples, min(n, len(examples)))


def label_vocabs(examples: list[TaggedExample], multi_intent: bool = False) -> tuple[Vocab, Vocab]:
    """The intents (sorted; with ``multi_intent``, the single intents of ``#`` labels) and BIO slot tags that
    ``examples`` use."""
    labels = [e.example.intent for e in examples]
    intents = Vocab(single_intents(labels) if multi_intent else sorted(set(labels)))
    return intents, slot_tag_vocab({t[2:] for e in examples for t in e.tags if t != OUTSIDE})
