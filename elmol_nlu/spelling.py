"""Spelling correction of words the model has not seen, before the char CNN reads them.

A word outside the vocabulary (``spelling.txt`` in the model directory: the pretraining corpus's and the
training data's words seen ``min_count`` times or more), of ``MIN_LETTERS`` letters or more, is replaced by the
most frequent vocabulary word one edit away (insert, delete, substitute or swap two neighbours: Damerau's
single edits, which cover most typing errors), when there is one. Known words, short words, numbers and words
with no close neighbour are left alone. Only the encoder's input changes: slots stay spans of the text sent.

The corrections are the token cache's business: each new word is corrected once, when its vector is computed,
so text of known words pays nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from elmol_nlu.text import normalize, tokenize

MIN_LETTERS = 4  # shorter words have too many neighbours one edit away ("tey": the, key, toy, ...)
MAX_LETTERS = 20  # the char CNN reads 20 characters (text.max_chars); longer strings are not words to correct,
                  # and their edits grow with the length (a 512-letter "word" has ~60k)
FILE = "spelling.txt"  # "word<TAB>count" lines, most frequent first


def count_words(lines: Iterable[str]) -> Counter[str]:
    """Normalised tokens of ``lines`` (the tokenizer the model reads with), counted."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(normalize(t.text) for t in tokenize(line))
    return counts


def write_vocabulary(counts: Counter[str], path: Path, min_count: int) -> int:
    """The alphabetic words seen ``min_count`` times or more, most frequent first; returns how many."""
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count and w.isalpha()), key=lambda x: (-x[1], x[0]))
    path.write_text("".join(f"{w}\t{c}\n" for w, c in kept), encoding="utf-8")
    return len(kept)


class SpellingCorrector:
    """``correct(word)``: the word, or the most frequent vocabulary word one edit away when it is unknown."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.alphabet = sorted({c for w in counts for c in w})

    @classmethod
    def load(cls, path: Path) -> SpellingCorrector:
        counts = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            word, _, count = line.partition("\t")
            counts[word] = int(count)
        return cls(counts)

    def edits(self, word: str) -> set[str]:
        """Every string one insert, delete, substitution or neighbour swap away from ``word``."""
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        deletes = {a + b[1:] for a, b in splits if b}
        swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        substitutions = {a + c + b[1:] for a, b in splits if b for c in self.alphabet}
        inserts = {a + c + b for a, b in splits for c in self.alphabet}
        return (deletes | swaps | substitutions | inserts) - {word}

    def correct(self, word: str) -> str:
        key = normalize(word)
        if key in self.counts or not MIN_LETTERS <= len(key) <= MAX_LETTERS or not key.isalpha():
            return word
        candidates = [w for w in self.edits(key) if w in self.counts]
        return max(candidates, key=lambda w: (self.counts[w], w)) if candidates else word
