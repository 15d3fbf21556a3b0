"""Tokenizer and character ids: the one implementation shared by training, export and service.

Torch-free on purpose: what the model is trained on is exactly what the service computes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# A token is, in order of preference:
#   letter-dot abbreviations ("p.", "a.m.", "d. c." gives "d." "c."),
#   a word with inner apostrophes, colons, dots, hyphens, slashes or ampersands
#   ("o'clock", "what's", "7:30", "top-up", "r&b"),
#   or any single other non-space character (punctuation, symbols, emoji).
_TOKEN_RE = re.compile(r"(?:[^\W\d_]\.)+(?!\w)|\w+(?:['’:.\-/&]\w+)*|\S")

# Character ids are UTF-8 bytes shifted by the special ids below, so there is no unknown character.
CHAR_PAD = 0
CHAR_BOW = 1  # beginning of word
CHAR_EOW = 2  # end of word
CHAR_OFFSET = 3
CHAR_VOCAB_SIZE = 256 + CHAR_OFFSET


@dataclass(frozen=True)
class Token:
    """A token and its character span in the original text: ``text[start:end] == token.text``."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens that keep their character offsets."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def normalize(word: str) -> str:
    """The form a token takes for the model: lower case, typographic apostrophes made plain."""
    return word.lower().replace("’", "'")


_NON_ALNUM = re.compile(r"[\W_]+")


def match_key(text: str) -> str:
    """The form in which two utterances count as the same text: lower case, every non-alphanumeric character
    dropped ("Don't!" and "dont" match). Evaluation text is kept out of every training corpus by this key."""
    return _NON_ALNUM.sub("", text.lower())


def char_ids(words: list[str], max_chars: int) -> np.ndarray:
    """Byte ids of each word framed by begin/end-of-word marks: (len(words), max_chars) int64.

    Words longer than ``max_chars - 2`` bytes keep their first bytes; the end mark is always kept.
    """
    out = np.full((len(words), max_chars), CHAR_PAD, dtype=np.int64)
    for i, word in enumerate(words):
        data = normalize(word).encode("utf-8")[: max_chars - 2]
        out[i, 0] = CHAR_BOW
        out[i, 1 : 1 + len(data)] = np.frombuffer(data, dtype=np.uint8).astype(np.int64) + CHAR_OFFSET
        out[i, 1 + len(data)] = CHAR_EOW
    return out


def batch_char_ids(sentences: list[list[str]], max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad a batch of tokenised sentences: char ids (batch, time, max_chars) and lengths (batch,)."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    width = int(lengths.max()) if len(sentences) else 0
    out = np.full((len(sentences), width, max_chars), CHAR_PAD, dtype=np.int64)
    for i, words in enumerate(sentences):
        if words:
            out[i, : len(words)] = char_ids(words, max_chars)
    return out, lengths
