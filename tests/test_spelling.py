"""Spelling correction of unknown words (``elmol_nlu.spelling``), alone and in a real exported model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TinyModel

from elmol_nlu.manifest import load_manifest
from elmol_nlu.runtime import Predictor
from elmol_nlu.spelling import FILE, SpellingCorrector, count_words, write_vocabulary

COUNTS = {"alarm": 50, "alarms": 20, "weather": 40, "whether": 5, "tomorrow": 30, "play": 60, "plat": 1}


@pytest.fixture
def corrector() -> SpellingCorrector:
    return SpellingCorrector(COUNTS)


@pytest.mark.parametrize(("typo", "word"), [
    ("alrm", "alarm"),  # a letter dropped
    ("alaarm", "alarm"),  # one added
    ("wezther", "weather"),  # one replaced
    ("tomorrwo", "tomorrow"),  # two neighbours swapped
    ("Tomorow", "tomorrow"),  # case does not matter
])
def test_one_edit_is_undone(corrector: SpellingCorrector, typo: str, word: str) -> None:
    assert corrector.correct(typo) == word


def test_the_most_frequent_neighbour_wins(corrector: SpellingCorrector) -> None:
    assert corrector.correct("wether") == "weather"  # weather (40) and whether (5) are both one edit away
    assert corrector.correct("alarmx") == "alarm"  # alarm (50) over alarms (20)


@pytest.mark.parametrize("word", ["alarm", "ALARM", "plat", "pla", "b2b", "zzzzzz", "12345", "alrmmm",
                                  "weather" * 3 + "x", "x" * 512])
def test_known_short_odd_and_far_words_are_left_alone(corrector: SpellingCorrector, word: str) -> None:
    assert corrector.correct(word) == word  # known, under 4 or over 20 letters, not letters, or 2+ edits away


def test_the_vocabulary_keeps_frequent_alphabetic_words(tmp_path: Path) -> None:
    counts = count_words(["Play jazz", "play the news", "play 42", "jazz it up"])
    assert write_vocabulary(counts, tmp_path / FILE, min_count=2) == 2
    assert (tmp_path / FILE).read_text() == "play\t3\njazz\t2\n"
    assert SpellingCorrector.load(tmp_path / FILE).counts == {"play": 3, "jazz": 2}


def test_an_exported_model_corrects_unknown_words_before_the_encoder(tiny_model: TinyModel) -> None:
    manifest = load_manifest(tiny_model.model_dir)  # checksums: spelling.txt is one of its files
    entry = manifest.raw["spelling"]
    assert entry["file"] == FILE and FILE in manifest.files and entry["words"] > 100
    corrector = manifest.spelling()
    word = next(w for w, c in sorted(corrector.counts.items(), key=lambda x: -x[1]) if len(w) >= 6)
    typo = word[0] + word[2:]
    with_spelling, without = Predictor.load(tiny_model.model_dir), Predictor.load(tiny_model.model_dir, spelling=False)
    vectors = with_spelling.encoder.token_cache.lookup([typo, word])
    assert np.array_equal(vectors[0], vectors[1])  # the typo's vector is the word's
    raw = without.encoder.token_cache.lookup([typo, word])
    assert not np.array_equal(raw[0], raw[1])
    answer = with_spelling.parse(f"please {typo} now")
    assert [t.text for t in answer.tokens] == ["please", typo, "now"]  # the answer keeps the text sent


def test_the_service_can_turn_it_off() -> None:
    from service.settings import Settings
    assert Settings().spelling is True and Settings(spelling=False).spelling is False
    assert "spelling" in json.dumps(Settings.model_json_schema())
