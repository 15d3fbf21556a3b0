"""Seeded typo noise: one character edit (insert, delete, substitute or swap two neighbours) in some words.

The same edits make the noisy evaluation copy (``experiments.typos``) and the noise of pretraining and NLU
training, so that the character CNN learns the kind of error it is measured on. Only lower-case ASCII letters
are inserted or substituted, as a keyboard slip would; a word is eligible when it has at least
``min_letters`` letters.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

EDITS = ("insert", "delete", "substitute", "transpose")
LETTERS = string.ascii_lowercase


def typo(word: str, rng: random.Random) -> str:
    """``word`` with one random edit; never the word itself (the edit is redrawn until it changes it)."""
    for _ in range(10):
        edit = rng.choice(EDITS)
        i = rng.randrange(len(word))
        if edit == "insert":
            out = word[:i] + rng.choice(LETTERS) + word[i:]
        elif edit == "delete" and len(word) > 1:
            out = word[:i] + word[i + 1 :]
        elif edit == "substitute":
            out = word[:i] + rng.choice(LETTERS) + word[i + 1 :]
        elif edit == "transpose" and len(word) > 1:
            i = min(i, len(word) - 2)
            out = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        else:
            continue
        if out != word:
            return out
    return word + rng.choice(LETTERS)


def eligible(word: str, min_letters: int) -> bool:
    return sum(c.isalpha() for c in word) >= min_letters


@dataclass(frozen=True)
class TypoConfig:
    rate: float = 0.0  # probability that an eligible word gets one edit; 0 turns noise off
    min_letters: int = 4

    def noisy(self, words: list[str], rng: random.Random) -> list[str]:
        """A copy of ``words`` with each eligible word edited with probability ``rate``; lengths unchanged."""
        if self.rate <= 0:
            return list(words)
        return [typo(w, rng) if eligible(w, self.min_letters) and rng.random() < self.rate else w for w in words]
