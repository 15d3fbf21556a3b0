"""The tokenizer and character ids shared by training and serving."""

from __future__ import annotations

import numpy as np
import pytest

from elmol_nlu.text import CHAR_BOW, CHAR_EOW, CHAR_OFFSET, CHAR_PAD, batch_char_ids, char_ids, normalize, tokenize


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("set an alarm for five o'clock", ["set", "an", "alarm", "for", "five", "o'clock"]),
    ("what's the weather", ["what's", "the", "weather"]),
    ("what’s the weather", ["what’s", "the", "weather"]),  # curly apostrophe stays inside the word
    ("wake me at three p. m.", ["wake", "me", "at", "three", "p.", "m."]),
    ("meeting at 9 a.m. tomorrow", ["meeting", "at", "9", "a.m.", "tomorrow"]),
    ("alarm at 7:30", ["alarm", "at", "7:30"]),
    ("top-up my card", ["top-up", "my", "card"]),
    ("is it raining?", ["is", "it", "raining", "?"]),
    ("turn off the lights.", ["turn", "off", "the", "lights", "."]),
    ("jazz, rock, pop", ["jazz", ",", "rock", ",", "pop"]),
    ("play r&b please", ["play", "r&b", "please"]),
    ("I love it 😀", ["I", "love", "it", "😀"]),
    ("東京の天気 wetter in münchen", ["東京の天気", "wetter", "in", "münchen"]),
    ("погода в москве", ["погода", "в", "москве"]),
    ("?!", ["?", "!"]),
    ("", []),
    ("   \t\n ", []),
])
def test_tokens(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize("text", [
    "  wake me up at [seven]   o'clock, please!!  ",
    "what’s on at 7:30 p. m. — top-up £20 😀👍🏽 東京 «quoted» end.",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em-space",
    "e\u0301cole (combining accent) and ﬁ ligature",
    "the u.s.a. and d. c. at 5:30am...",
])
def test_offsets_point_into_the_original_text(text: str) -> None:
    tokens = tokenize(text)
    assert tokens, text
    previous_end = 0
    for t in tokens:
        assert text[t.start : t.end] == t.text
        assert t.start >= previous_end and t.end > t.start  # in order, non-overlapping, non-empty
        assert not t.text.isspace() and t.text == t.text.strip()
        previous_end = t.end
    # nothing but white space is left out
    covered = set().union(*(range(t.start, t.end) for t in tokens))
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


def test_normalize_lowercases_and_straightens_apostrophes() -> None:
    assert normalize("What’S") == "what's"
    np.testing.assert_array_equal(char_ids(["What’s"], 20), char_ids(["what's"], 20))


def test_char_ids_framing() -> None:
    ids = char_ids(["ab", "Z"], max_chars=6)
    assert ids.shape == (2, 6) and ids.dtype == np.int64
    assert ids[0].tolist() == [CHAR_BOW, ord("a") + CHAR_OFFSET, ord("b") + CHAR_OFFSET, CHAR_EOW, CHAR_PAD, CHAR_PAD]
    assert ids[1].tolist() == [CHAR_BOW, ord("z") + CHAR_OFFSET, CHAR_EOW, CHAR_PAD, CHAR_PAD, CHAR_PAD]


def test_char_ids_long_word_keeps_its_start_and_the_end_mark() -> None:
    ids = char_ids(["abcdefghij"], max_chars=6)[0]
    assert ids.tolist() == [CHAR_BOW, *(ord(c) + CHAR_OFFSET for c in "abcd"), CHAR_EOW]
    exact = char_ids(["abcd"], max_chars=6)[0]  # exactly max_chars - 2 bytes: no padding, same ids
    assert exact.tolist() == ids.tolist()


def test_char_ids_non_ascii_are_utf8_bytes() -> None:
    ids = char_ids(["é😀"], max_chars=12)[0]
    data = "é😀".encode()
    assert len(data) == 6
    assert ids[1:7].tolist() == [b + CHAR_OFFSET for b in data]
    assert ids[7] == CHAR_EOW and ids.max() < 256 + CHAR_OFFSET
    # truncation inside a multi-byte character still gives valid ids and the end mark
    cut = char_ids(["😀😀"], max_chars=5)[0]
    assert cut[0] == CHAR_BOW and cut[-1] == CHAR_EOW and (cut[1:-1] >= CHAR_OFFSET).all()


def test_batch_char_ids_pads_after_each_sentence() -> None:
    sentences = [["play", "jazz"], ["stop"], ["what", "time", "is", "it"]]
    chars, lengths = batch_char_ids(sentences, max_chars=8)
    assert chars.shape == (3, 4, 8) and chars.dtype == np.int64
    assert lengths.tolist() == [2, 1, 4] and lengths.dtype == np.int64
    for row, words_ in enumerate(sentences):
        np.testing.assert_array_equal(chars[row, : len(words_)], char_ids(words_, 8))
        assert (chars[row, len(words_) :] == CHAR_PAD).all()


def test_batch_char_ids_empty_batch() -> None:
    chars, lengths = batch_char_ids([], max_chars=8)
    assert chars.shape == (0, 0, 8) and lengths.shape == (0,)
