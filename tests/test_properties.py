"""Properties that hold for any text: the tokenizer's offsets and the predictor's answer over the shipped model.

Hypothesis draws arbitrary Unicode (any script, symbols, emoji, controls, odd spaces); examples are bounded so
the file runs in seconds. A failing example is kept in ``.hypothesis/`` (git-ignored by itself) and replayed first.
"""

from __future__ import annotations

import pytest
from conftest import MODEL_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

from elmol_nlu.runtime import Predictor
from elmol_nlu.text import Token, tokenize

# The model runs once per example (and the char CNN once per unseen word), hence fewer examples there.
TOKENIZER = settings(max_examples=500, deadline=None)
PREDICTOR = settings(max_examples=150, deadline=None)
# Non-blank, as the API accepts (it refuses blank text before the model); 200 characters keep examples fast.
utterances = st.text(min_size=1, max_size=200).filter(lambda text: text.strip())


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(MODEL_DIR, precision="auto")  # what the service serves


def check_tokens(text: str, tokens: list[Token]) -> None:
    end = 0
    for token in tokens:
        assert end <= token.start < token.end <= len(text), (token, end)  # in order, not overlapping
        assert text[token.start : token.end] == token.text
        assert not any(ch.isspace() for ch in token.text), token
        assert text[end : token.start].strip() == "", token  # only whitespace is left between tokens
        end = token.end
    assert text[end:].strip() == ""


@TOKENIZER
@given(st.text(max_size=300))
def test_tokens_are_spans_of_the_text(text: str) -> None:
    check_tokens(text, tokenize(text))


@TOKENIZER
@given(st.text(alphabet=st.sampled_from(" \t\n\u00a0\u2009\u3000.,'’:-/&a7é東😀"), max_size=60))
def test_tokens_are_spans_of_punctuation_heavy_text(text: str) -> None:
    # The inner-punctuation rules ("o'clock", "7:30", "a.m.") are where offsets could go wrong.
    check_tokens(text, tokenize(text))


def check_bio(tags: list[str]) -> None:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-"):
            assert previous in (f"B-{tag[2:]}", tag), tags
        else:
            assert tag == "O" or tag.startswith("B-"), tags
        previous = tag


@PREDICTOR
@given(utterances)
def test_any_text_gets_a_well_formed_parse(predictor: Predictor, text: str) -> None:
    parse = predictor.parse(text)
    manifest = predictor.manifest
    assert parse.text == text
    assert parse.tokens == tokenize(text) and parse.tokens
    assert len(parse.tags) == len(parse.tokens)
    assert set(parse.tags) <= set(manifest.tags)
    check_bio(parse.tags)
    for slot in parse.slots:
        assert slot.value and text[slot.start : slot.end] == slot.value
        assert f"B-{slot.name}" in manifest.tags
    assert sum(tag.startswith("B-") for tag in parse.tags) == len(parse.slots)
    assert 0.0 <= parse.confidence <= 1.0
    assert parse.intent in manifest.intents
