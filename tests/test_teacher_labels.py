"""An ensemble teacher: the logits of several teachers are averaged per utterance, matched by text whatever
order each teacher labelled the corpus in, in the student's intent order; an utterance one teacher missed is
left out rather than half-labelled. A confidence filter keeps only the utterances the teacher is sure of."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from elmol_nlu.vocab import Vocab
from training.teacher_labels import confident, teacher_dev_logits, teacher_targets

INTENTS = ["alarm_set", "play_music", "weather_query"]


def write_teacher(root: Path, texts: list[str], logits: list[list[float]], columns: list[str]) -> Path:
    root.mkdir()
    np.savez_compressed(root / "soft_intents.npz", texts=np.array(texts), logits=np.array(logits, np.float16),
                        intents=np.array(columns))
    np.savez_compressed(root / "dev_intents.npz", ids=np.array([str(i) for i in range(len(texts))]),
                        logits=np.array(logits, np.float16), intents=np.array(columns))
    return root


def test_one_teacher_is_read_in_the_students_intent_order(tmp_path: Path) -> None:
    a = write_teacher(tmp_path / "a", ["wake me up", "play jazz"], [[3, 2, 1], [6, 5, 4]], INTENTS[::-1])
    sentences, logits = teacher_targets(a, Vocab(INTENTS))
    assert sentences == [["wake", "me", "up"], ["play", "jazz"]]
    assert logits.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_an_ensemble_averages_by_text_and_drops_what_one_teacher_missed(tmp_path: Path) -> None:
    a = write_teacher(tmp_path / "a", ["wake me up", "play jazz", "is it cold"],
                      [[4, 0, 0], [0, 4, 0], [0, 0, 4]], INTENTS)
    b = write_teacher(tmp_path / "b", ["play jazz", "wake me up"], [[2, 0, 0], [0, 2, 0]], INTENTS)
    sentences, logits = teacher_targets([a, b], Vocab(INTENTS))
    assert sentences == [["wake", "me", "up"], ["play", "jazz"]]
    assert logits.tolist() == [[2, 1, 0], [1, 2, 0]]
    dev = teacher_dev_logits([a, b], ["1", "0"], Vocab(INTENTS))
    assert dev.tolist() == [[0, 3, 0], [3, 0, 0]]


def test_only_utterances_the_teacher_is_sure_of_are_kept() -> None:
    sentences = [["wake", "me", "up"], ["hello"], ["play", "jazz"]]
    logits = torch.tensor([[5.0, 0, 0], [0.1, 0, 0], [0, 3.0, 0]])  # sure, a coin toss, fairly sure
    kept, kept_logits = confident(sentences, logits, 0.8)
    assert kept == [["wake", "me", "up"], ["play", "jazz"]]
    assert kept_logits.tolist() == [[5, 0, 0], [0, 3, 0]]
    assert confident(sentences, logits, 0.0)[0] == sentences  # 0 keeps everything
