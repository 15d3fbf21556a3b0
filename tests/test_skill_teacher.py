"""A skill's MiniLM teacher (training.skill_teacher): what it retrieves from the corpus, what it may label, and
how its examples weigh in the CRF loss. A real (tiny) MiniLM fine-tune, as in test_minilm."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from elmol_nlu.datasets import Example, TaggedExample, read_massive, tag
from elmol_nlu.text import match_key
from tests.conftest import MASSIVE
from training.skill import OUT_OF_SKILL, out_of_skill_tag_weight
from training.skill_teacher import TAUGHT, TeacherConfig, is_taught, nearest, taught_examples

CORPUS_LINES = ["wake me up at seven", "set an alarm for six am", "cancel my alarm", "play some jazz",
                "what is the weather in paris", "will it rain tomorrow", "tell me a joke", "zzz qqq"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("corpus") / "utterances.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(CORPUS_LINES * 2) + "\n")  # every word twice at least: the index's min_df
    return str(path)


def test_nearest_is_the_union_of_each_querys_neighbours_in_corpus_order(corpus: str) -> None:
    found = nearest(["wake me up at six", "weather in paris"], 2, corpus)
    assert "wake me up at seven" in found and "what is the weather in paris" in found
    assert "zzz qqq" not in found and "tell me a joke" not in found  # nothing in common with either query
    assert found == sorted(set(found), key=CORPUS_LINES.index)  # once each, in corpus order


def test_taught_examples_are_confident_labels_of_unseen_neighbours(corpus: str) -> None:
    torch.set_num_threads(1)
    massive = read_massive(MASSIVE, "train")
    train = [tag(e) for d in ("alarm", "weather") for e in [e for e in massive if e.domain == d][:8]]
    negatives = [TaggedExample(Example(e.text, OUT_OF_SKILL), (t := tag(e)).tokens, ["O"] * len(t.tokens))
                 for e in massive if e.domain == "music"][:4]
    held_out = {match_key("Cancel my alarm!")}
    taught = taught_examples(train, negatives, held_out, TeacherConfig(neighbours=3, confidence=0.0, steps=5,
                                                                       corpus=corpus))
    texts = [e.example.text for e in taught]
    assert texts and "cancel my alarm" not in texts  # held out (dev) text is never labelled
    assert {e.example.intent for e in taught} <= {e.example.intent for e in train + negatives}
    assert all(is_taught(e) and e.example.id.startswith(TAUGHT) and set(e.tags) == {"O"} for e in taught)
    assert not taught_examples(train, negatives, held_out, TeacherConfig(neighbours=3, confidence=1.01, steps=5,
                                                                         corpus=corpus))


def test_taught_examples_of_the_skills_intents_carry_no_slot_loss() -> None:
    def example(intent: str, taught: bool) -> TaggedExample:
        return tag(Example("wake me up", intent, id=f"{TAUGHT}1" if taught else "7"))

    weight = out_of_skill_tag_weight(0.2, taught=True)
    assert weight(example("set_alarm", True)) == 0.0  # its slots are unknown
    assert weight(example(OUT_OF_SKILL, True)) == 0.2  # out of skill: all O, as any negative
    assert weight(example("set_alarm", False)) == 1.0
    assert out_of_skill_tag_weight(1.0) is None


def test_no_teacher_unless_asked() -> None:
    from training.skill import SkillConfig

    assert SkillConfig().teacher_neighbours == 0
    assert SkillConfig(teacher_neighbours=4, seed=3).teacher() == TeacherConfig(neighbours=4, seed=3)


def test_corpus_path_default_is_the_committed_corpus() -> None:
    assert Path(TeacherConfig().corpus).is_file()
