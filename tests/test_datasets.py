"""Annotated utterances to text, character slots and BIO tags; BIO span helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import MASSIVE, SNIPS

from elmol_nlu.datasets import AnnotationError, CharSlot, Example, parse_inline, read_bio_folder, read_massive, tag
from elmol_nlu.vocab import Span, allowed_transition, bio_spans


def values(annotated: str) -> tuple[str, list[tuple[str, str]]]:
    text, slots = parse_inline(annotated)
    return text, [(s.name, text[s.start : s.end]) for s in slots]


@pytest.mark.parametrize(("annotated", "text", "slots"), [
    ("wake me up at [time : five am] [date : this week]", "wake me up at five am this week",
     [("time", "five am"), ("date", "this week")]),
    ("[player_setting : loop] this track", "loop this track", [("player_setting", "loop")]),
    ("play [artist_name : queen]", "play queen", [("artist_name", "queen")]),
    ("[date : today]", "today", [("date", "today")]),
    ("set the alarm for [time : five] o'clock", "set the alarm for five o'clock", [("time", "five")]),
    ("what's the time in [place_name : australia]?", "what's the time in australia?", [("place_name", "australia")]),
    ("alert me at [time : three p. m.].", "alert me at three p. m..", [("time", "three p. m.")]),
    ("wake me at [time : 5:30]", "wake me at 5:30", [("time", "5:30")]),
    ("note [event_name : ratio : two to one]", "note ratio : two to one", [("event_name", "ratio : two to one")]),
    ("no slots here, at all!", "no slots here, at all!", []),
])
def test_parse_inline(annotated: str, text: str, slots: list[tuple[str, str]]) -> None:
    assert values(annotated) == (text, slots)


def test_parse_inline_offsets() -> None:
    text, slots = parse_inline("[time : five am] [date : this week]")
    assert slots == (CharSlot("time", 0, 7), CharSlot("date", 8, 17))
    assert text == "five am this week"


@pytest.mark.parametrize(("annotated", "hint"), [
    ("wake me at [time : seven", "unclosed '['"),
    ("wake me at [time seven]", "'[name : value]'"),
    ("wake me at [time :seven]", "'[name : value]'"),
    ("wake me at [ : seven]", "'[name : value]'"),
    ("wake me at [time : ]", "'[name : value]'"),
    ("wake me at [time : [date : seven]]", "nested"),
])
def test_parse_inline_rejects_malformed_marks(annotated: str, hint: str) -> None:
    with pytest.raises(AnnotationError) as info:
        parse_inline(annotated)
    assert hint in str(info.value)
    assert annotated in str(info.value) or annotated[annotated.index("[") :] in str(info.value)


@pytest.mark.parametrize("annotated", [
    "wake me at time : seven]",  # lost its '[': would silently become text with no slot
    "wake me at [time : seven] tomorrow]",
    "wake me at [[time : seven]",  # would give a slot named '[time'
])
def test_parse_inline_rejects_stray_brackets(annotated: str) -> None:
    with pytest.raises(AnnotationError, match=re.escape(repr(annotated))):
        parse_inline(annotated)


def test_read_massive_names_the_bad_line(tmp_path: Path) -> None:
    rows = [{"utt": "play jazz", "annot_utt": "play [genre : jazz]", "intent": "play_music", "partition": "train"},
            {"utt": "play", "annot_utt": "play [genre : jazz", "intent": "play_music", "partition": "train"}]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(AnnotationError, match=r"bad\.jsonl:2: unclosed"):
        read_massive(path)


def test_tag_gives_bio() -> None:
    text, slots = parse_inline("wake me at [time : five a.m.] [date : this week], what's up?")
    tagged = tag(Example(text, "alarm_set", slots))
    assert list(zip(tagged.words, tagged.tags, strict=True)) == [
        ("wake", "O"), ("me", "O"), ("at", "O"), ("five", "B-time"), ("a.m.", "I-time"),
        ("this", "B-date"), ("week", "I-date"), (",", "O"), ("what's", "O"), ("up", "O"), ("?", "O")]


def test_tag_slot_at_start_and_end() -> None:
    text, slots = parse_inline("[time : 7:30] alarm for [date : tomorrow].")
    tagged = tag(Example(text, "alarm_set", slots))
    assert tagged.tags == ["B-time", "O", "O", "B-date", "O"]


def test_massive_round_trip() -> None:
    """Every utterance: rebuilt text equals ``utt``; every slot comes back exactly from its BIO tags."""
    rows = [json.loads(line) for line in MASSIVE.read_text(encoding="utf-8").splitlines()]
    examples = read_massive(MASSIVE)
    assert len(examples) == len(rows) == 16521
    n_slots = 0
    for row, example in zip(rows, examples, strict=True):
        assert example.text == row["utt"], row["annot_utt"]
        assert example.intent == row["intent"]
        tagged = tag(example)
        assert tagged.tokens, row
        tokens = tagged.tokens
        recovered = {(s.name, tokens[s.start].start, tokens[s.end - 1].end) for s in bio_spans(tagged.tags)}
        assert recovered == {(s.name, s.start, s.end) for s in example.slots}, row["annot_utt"]
        n_slots += len(example.slots)
    assert n_slots == 16171
    assert len(read_massive(MASSIVE, "test")) == 2974


@pytest.mark.parametrize("split", ["dev", "test"])
def test_read_bio_folder_round_trips_spans(split: str) -> None:
    folder = SNIPS / split
    word_lines = (folder / "seq.in").read_text(encoding="utf-8").splitlines()
    tag_lines = (folder / "seq.out").read_text(encoding="utf-8").splitlines()
    examples = read_bio_folder(folder)
    assert len(examples) == len(word_lines) == 700
    for example, w_line, t_line in zip(examples, word_lines, tag_lines, strict=True):
        ws, ts = w_line.split(), t_line.split()
        assert example.text == " ".join(ws)
        expected = [(s.name, " ".join(ws[s.start : s.end])) for s in bio_spans(ts)]
        assert [(s.name, example.text[s.start : s.end]) for s in example.slots] == expected
        # our own tokenizer (which may split "call:" in two) finds the same character spans again
        tagged = tag(example)
        spans = {(s.name, tagged.tokens[s.start].start, tagged.tokens[s.end - 1].end) for s in bio_spans(tagged.tags)}
        assert spans == {(s.name, s.start, s.end) for s in example.slots}


def test_read_bio_folder_rejects_mismatched_files(tmp_path: Path) -> None:
    (tmp_path / "seq.in").write_text("play some jazz\n")
    (tmp_path / "seq.out").write_text("O O\n")
    (tmp_path / "label").write_text("PlayMusic\n")
    with pytest.raises(AnnotationError, match=r"seq\.out:1: 2 tags for 3 words"):
        read_bio_folder(tmp_path)
    (tmp_path / "label").write_text("PlayMusic\nPlayMusic\n")
    with pytest.raises(AnnotationError, match="different numbers of lines"):
        read_bio_folder(tmp_path)


@pytest.mark.parametrize(("tags", "spans"), [
    ([], []),
    (["O", "O"], []),
    (["B-a", "I-a", "O", "B-b"], [Span("a", 0, 2), Span("b", 3, 4)]),
    (["B-a", "B-a"], [Span("a", 0, 1), Span("a", 1, 2)]),
    (["I-a", "I-a", "O"], [Span("a", 0, 2)]),  # stray I- opens a span (CoNLL)
    (["O", "I-a"], [Span("a", 1, 2)]),
    (["B-a", "I-b", "I-b"], [Span("a", 0, 1), Span("b", 1, 3)]),
    (["B-date-time", "I-date-time"], [Span("date-time", 0, 2)]),
])
def test_bio_spans(tags: list[str], spans: list[Span]) -> None:
    assert bio_spans(tags) == spans


@pytest.mark.parametrize(("prev", "tag_", "ok"), [
    (None, "O", True), (None, "B-a", True), (None, "I-a", False),
    ("O", "I-a", False), ("B-a", "I-a", True), ("I-a", "I-a", True),
    ("B-b", "I-a", False), ("I-b", "I-a", False), ("I-a", "B-a", True), ("B-a", "O", True),
])
def test_allowed_transition(prev: str | None, tag_: str, ok: bool) -> None:
    assert allowed_transition(prev, tag_) is ok
