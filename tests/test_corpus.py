"""The committed pretraining corpus holds no evaluation text, and the corpus builder's parts work."""

from __future__ import annotations

import random

import pytest

from elmol_nlu.evaluation_text import evaluation_keys, evaluation_texts
from elmol_nlu.text import match_key
from training.build_corpus import merge
from training.corpus import read_utterances
from training.ha_templates import Sampler, TemplateError, parse, sentences

CORPUS_FILES = ["data/unlabeled/utterances.txt.gz"]


def test_match_key_ignores_case_punctuation_and_spaces():
    assert match_key("Don't wake me up!") == match_key("dont  wake me-up") == "dontwakemeup"


@pytest.mark.parametrize("path", CORPUS_FILES)
def test_no_corpus_utterance_matches_an_evaluation_utterance(path):
    refused = evaluation_keys()
    assert len(refused) > 5000  # MASSIVE dev + test and SNIPS dev + test were read
    lines = read_utterances(__import__("pathlib").Path(path))
    assert len(lines) > 500_000
    leaked = [line for line in lines if match_key(line) in refused]
    assert leaked == []
    assert len({match_key(line) for line in lines}) == len(lines)  # deduplicated by the same key


def test_merge_refuses_evaluation_text_and_near_duplicates():
    an_eval = evaluation_texts()[0]
    lines, stats = merge({"a": ["Turn on the lights", an_eval.upper() + " !"], "b": ["turn on the lights."]},
                         {match_key(an_eval)})
    assert lines == ["Turn on the lights"]
    assert stats == {"kept": {"a": 1}, "refused_evaluation": {"a": 1}, "duplicates": {"b": 1}}


def test_templates_expand_alternatives_optionals_lists_and_rules():
    sampler = Sampler({"color": {"values": [{"in": "red", "out": "red"}]}}, {"the": parse("(the|my)")},
                      random.Random(0))
    tree = parse("(set|make) [<the>] {area} light {color}")
    seen = {sampler.sample(tree) for _ in range(200)}
    assert all(s.endswith(" light red") for s in seen)
    assert any(s.startswith("set the ") for s in seen) and any(s.startswith("make my ") for s in seen)
    assert any(s.startswith("set  ") for s in seen)  # the optional left out (spaces are squeezed later)
    with pytest.raises(TemplateError):
        parse("(unclosed")


def test_a_language_file_gives_distinct_sentences_per_template():
    language = {"lists": {}, "expansion_rules": {}, "intents": {"HassTurnOn": {"data": [
        {"sentences": ["turn on [the] {name}", "switch [the] {name} on"]}]}}}
    out = sentences(language, 5, 0)
    assert len(out) == len(set(out)) <= 10 and all(" on" in s for s in out)
