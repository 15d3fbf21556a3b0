"""Encoder distillation's parts: teacher blocks round-trip, targets line up with words, the loss trains the
encoder, typo noise edits characters only, and the distillation head never enters the served encoder."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from elmol_nlu.noise import TypoConfig
from elmol_nlu.vocab import BOS, EOS, PAD, UNK, Vocab
from training.corpus import encode, make_batch
from training.encoder_distil import TeacherStates, add_typos
from training.lm import BiLanguageModel, DistilledLM, LMConfig
from training.teacher_states import word_means, write_block

DIM = 6
SENTENCES = [["play", "some", "jazz"], ["wake", "me", "up", "tomorrow"], ["hello"]]


def test_word_means_average_sub_tokens_and_mark_words_without_any() -> None:
    hidden = np.array([[0.0, 0], [2, 2], [4, 0], [6, 6], [8, 8]], dtype=np.float32)
    out = word_means(hidden, [None, 0, 0, 2, None], n_words=3)
    assert out[0].tolist() == [3.0, 1.0] and out[2].tolist() == [6.0, 6.0]
    assert np.isnan(out[1]).all()  # a word the tokenizer cut off has no state


@pytest.fixture()
def teacher(tmp_path: Path) -> TeacherStates:
    rng = np.random.default_rng(0)
    words = [rng.normal(5.0, 2.0, (len(s), DIM)).astype(np.float32) for s in SENTENCES[:2]]
    words[1][3] = np.nan  # "tomorrow" was cut off
    write_block(tmp_path / "block-00000.npz", [" ".join(s) for s in SENTENCES[:2]], words,
                rng.normal(0.0, 1.0, (2, DIM)).astype(np.float32))
    return TeacherStates([tmp_path])


def batch_of(sentences: list[list[str]]):
    vocab = Vocab.from_counts({w: 1 for s in sentences for w in s}, 1, 100, specials=[PAD, UNK, BOS, EOS], unk=UNK)
    corpus = encode(sentences, vocab, max_chars=20)
    batch = make_batch(corpus, list(range(len(sentences))), vocab.index(BOS), vocab.index(EOS), vocab.index(PAD))
    return corpus, batch, len(vocab)


def test_teacher_targets_line_up_with_words_and_missing_ones_are_masked(teacher: TeacherStates) -> None:
    rows = teacher.rows(SENTENCES)
    assert rows.tolist() == [0, 1, -1]  # the third sentence has no teacher states
    _, batch, _ = batch_of(SENTENCES)
    teacher.attach(batch, rows.tolist())
    assert batch.teacher_mask.tolist() == [[True, True, True, False], [True, True, True, False],
                                           [False, False, False, False]]
    assert batch.sentence_mask.tolist() == [True, True, False]
    expected = (teacher.words[1].astype(np.float32) - teacher.word_stats[0]) / teacher.word_stats[1]
    assert torch.allclose(batch.teacher_words[0, 1], torch.from_numpy(expected), atol=1e-3)
    assert torch.isfinite(batch.teacher_words).all()


def test_distillation_loss_reaches_the_encoder_and_the_head_stays_outside_it(teacher: TeacherStates) -> None:
    torch.manual_seed(0)
    _, batch, n_words = batch_of(SENTENCES)
    teacher.attach(batch, teacher.rows(SENTENCES).tolist())
    cfg = LMConfig(filters=((1, 8), (2, 8)), proj_dim=16, hidden_dim=16, vocab_size=n_words, cutoffs=(8,))
    model = DistilledLM(BiLanguageModel(cfg), DIM, word_weight=1.0, sentence_weight=0.5)
    total, lm, word, sentence = model(batch)
    assert torch.isclose(total, lm + word + 0.5 * sentence) and word > 0 and sentence > 0
    word.backward()
    assert model.lm.encoder.char_cnn.embed.weight.grad.abs().sum() > 0  # the encoder learns from the teacher
    assert not any(k.startswith("head") for k in model.lm.encoder.state_dict())
    plain = DistilledLM(BiLanguageModel(cfg), 0, 1.0, 0.5)(batch)
    assert plain[2] == 0 and plain[3] == 0 and plain[0] == plain[1]  # no teacher: the LM loss alone


def test_typos_edit_characters_of_long_words_only() -> None:
    sentences = [["remind", "me", "about", "the", "meeting"]] * 20
    corpus, batch, _ = batch_of(sentences)
    clean_chars, clean_targets = batch.chars.clone(), batch.next_words.clone()
    add_typos(batch, corpus, list(range(20)), TypoConfig(rate=0.5), random.Random(0), max_chars=20)
    changed = (batch.chars != clean_chars).any(-1)
    assert changed[:, [0, 2, 4]].any() and not changed[:, [1, 3]].any()  # "me" and "the" are too short
    assert torch.equal(batch.next_words, clean_targets)  # the LM still predicts the clean words
