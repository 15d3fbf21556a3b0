"""Typo noise (elmol_nlu.noise) and the committed noisy copy of MASSIVE test (experiments.typos)."""

from __future__ import annotations

import json
import random

from elmol_nlu.datasets import load_split, read_massive, tag
from elmol_nlu.noise import TypoConfig, eligible, typo
from experiments.typos import MASSIVE, NOISY, noisy_copy


def damerau(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    d = [[max(i, j) if 0 in (i, j) else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_a_typo_is_exactly_one_edit_and_never_the_word():
    rng = random.Random(0)
    for word in ["weather", "alarm", "tomorrow", "play", "what's", "a", "ab"] * 50:
        out = typo(word, rng)
        assert out != word
        assert damerau(word, out) == 1, (word, out)


def test_noise_is_seeded_keeps_length_and_only_touches_eligible_words():
    words = ["set", "an", "alarm", "for", "seven", "tomorrow", "at", "the", "office"]
    cfg = TypoConfig(rate=1.0)
    a, b = cfg.noisy(words, random.Random(5)), cfg.noisy(words, random.Random(5))
    assert a == b and len(a) == len(words)
    for w, n in zip(words, a, strict=True):
        assert (n != w) == eligible(w, 4)
    assert TypoConfig(rate=0.0).noisy(words, random.Random(0)) == words


def test_the_committed_noisy_test_set_is_what_the_generator_writes():
    clean = [tag(e) for e in read_massive(MASSIVE, "test")]
    rows = [json.loads(line) for line in NOISY.read_text(encoding="utf-8").splitlines()]
    assert rows == [noisy_copy(e) for e in clean]


def test_the_noisy_copy_keeps_tags_aligned_and_edits_about_15_percent():
    clean, noisy = load_split(MASSIVE, "test"), load_split(NOISY, "test")
    assert [e.example.id for e in clean] == [e.example.id for e in noisy]
    assert all(c.tags == n.tags and c.example.intent == n.example.intent for c, n in zip(clean, noisy, strict=True))
    pairs = [(a, b) for c, n in zip(clean, noisy, strict=True) for a, b in zip(c.words, n.words, strict=True)]
    edited = sum(a != b for a, b in pairs)
    assert all(eligible(a, 4) for a, b in pairs if a != b)
    assert 0.13 < edited / sum(eligible(a, 4) for a, _ in pairs) < 0.17
