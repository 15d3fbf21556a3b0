"""The lexical intent model of skills (elmol_nlu.lexical, training.lexical): its features are TF-IDF as defined,
it learns what separates intents, it survives a save, and a skill serves it exactly as PyTorch computes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from elmol_nlu.lexical import LexicalHead, LexicalIntents, log_softmax, pooled_layers, terms


def toy_model(vocabulary: list[str], dim: int = 2, intents: int = 2) -> LexicalIntents:
    rng = np.random.default_rng(0)
    return LexicalIntents({t: i for i, t in enumerate(vocabulary)}, rng.uniform(1, 3, len(vocabulary)),
                          np.array([0 if t.startswith("w ") else 1 for t in vocabulary], np.int8),
                          np.zeros(dim, np.float32), np.ones(dim, np.float32),
                          rng.normal(size=(len(vocabulary) + dim, intents)).astype(np.float32),
                          np.zeros(intents, np.float32))


def lexical_logits(model: LexicalIntents, words: list[list[str]], pooled: np.ndarray) -> np.ndarray:
    """The lexical model's own logits: the served combination with all the weight on it."""
    return LexicalHead(model, 1.0).intent_logits(np.zeros((len(words), model.weights.shape[1]), np.float32), words,
                                                 pooled)


def test_terms_are_words_pairs_and_padded_character_ngrams() -> None:
    got = terms(["Play", "it"])
    assert [t for t in got if t.startswith("w ")] == ["w play", "w it", "w play it"]
    assert {"c  p", "c  pl", "c ay ", "c it ", "c  it"} <= set(got)
    assert all(len(t) - 2 in (2, 3, 4) for t in got if t.startswith("c "))


def test_served_columns_are_those_of_the_terms_with_their_repeats() -> None:
    model = toy_model(["w play", "w play play", "c  p", "c pl", "c la", "c ay "])
    words = ["Play", "play", "zzz"]
    cols, _ = model.tfidf(words)
    expected = sorted({model.vocabulary[t] for t in terms(words) if t in model.vocabulary})
    assert cols.tolist() == expected
    assert model.tfidf(words)[0].tolist() == expected  # again, from the per-word cache


def test_each_group_of_a_tfidf_row_has_unit_length_and_unseen_terms_are_dropped() -> None:
    model = toy_model(["w play", "w play play", "c  p", "c pl", "c la"])
    cols, values = model.term_matrix([["play", "play"], ["zzz"]])
    groups = model.group[cols[0]]
    for g in (0, 1):
        assert np.sqrt(np.square(values[0][groups == g]).sum()) == pytest.approx(1.0)
    assert len(cols[1]) == 0
    # sublinear term frequency: "play" twice weighs (1 + ln 2) idf against "play play" once
    word = {c: v for c, v in zip(cols[0], values[0], strict=True) if model.group[c] == 0}
    ratio = word[0] / word[1]
    assert ratio == pytest.approx((1 + np.log(2)) * model.idf[0] / model.idf[1])


def test_pooled_layers_take_max_and_mean_over_real_words_only() -> None:
    layers = np.zeros((2, 2, 3, 1), np.float32)
    layers[:, 0, :, 0] = [1, 2, 100]  # the third word is padding for sentence 0
    layers[:, 1, :, 0] = [4, 5, 6]
    pooled = pooled_layers(layers, np.array([2, 3]))
    assert pooled.shape == (2, 4)
    assert pooled[0].tolist() == [2, 1.5, 2, 1.5] and pooled[1].tolist() == [6, 5, 6, 5]


def test_logits_are_the_linear_layer_over_both_kinds_of_features(tmp_path: Path) -> None:
    model = toy_model(["w play", "w stop", "c  p"])
    pooled = np.array([[1.0, -2.0]], np.float32)
    cols, values = model.term_matrix([["play"]])
    dense = np.zeros(len(model.idf) + 2)
    dense[cols[0]] = values[0]
    dense[len(model.idf):] = model.dense(pooled)[0]
    expected = dense @ model.weights + model.bias
    np.testing.assert_allclose(lexical_logits(model, [["play"]], pooled)[0], expected, rtol=1e-5)
    model.save(tmp_path / "lexical.npz")
    again = LexicalIntents.load(tmp_path / "lexical.npz")
    np.testing.assert_allclose(lexical_logits(again, [["play"]], pooled), lexical_logits(model, [["play"]], pooled),
                               rtol=1e-6)


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def test_served_logits_mix_the_two_models_log_probabilities() -> None:
    model = toy_model(["w play", "w stop", "c  p"], intents=3)
    model = LexicalIntents(model.vocabulary, model.idf, model.group, np.array([0.5, -1.0], np.float32),
                           np.array([2.0, 0.5], np.float32), model.weights, np.array([0.1, -0.2, 0.3], np.float32))
    neural, pooled, words = np.array([[3.0, 0.0, -1.0]], np.float32), np.array([[1.0, 2.0]], np.float32), [["play"]]
    lexical = lexical_logits(model, words, pooled)
    for weight in (0.0, 0.25, 0.75, 1.0):
        served = LexicalHead(model, weight).intent_logits(neural, words, pooled)
        expected = (1 - weight) * log_softmax(neural) + weight * log_softmax(lexical)
        np.testing.assert_allclose(softmax(served), softmax(expected), rtol=1e-5, atol=1e-7)


def test_one_sentence_pools_as_it_does_in_a_padded_batch() -> None:
    rng = np.random.default_rng(1)
    layers = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
    lengths = np.array([3, 5, 1])
    batch = pooled_layers(layers, lengths)
    for row in range(3):
        alone = pooled_layers(layers[:, row : row + 1, : lengths[row]], lengths[row : row + 1])
        np.testing.assert_allclose(alone[0], batch[row], rtol=1e-6)


def test_a_fitted_lexical_model_tells_intents_apart_from_their_words(tiny_model) -> None:
    from elmol_nlu.datasets import load_split
    from tests.conftest import MASSIVE
    from training.checkpoint import load_joint_model
    from training.lexical import fit_lexical

    model = load_joint_model(tiny_model.nlu_checkpoint)
    train = [e for e in load_split(MASSIVE, "train", 3000) if e.example.intent in ("alarm_set", "weather_query")]
    fitted = fit_lexical(model, train, ["alarm_set", "other", "weather_query"], c=10.0, seed=0)
    assert fitted.bias[1] == -30.0  # no example: never chosen
    pooled = np.zeros((2, len(fitted.mean)), np.float32) + fitted.mean
    logits = lexical_logits(fitted, [["wake", "me", "up", "at", "seven", "am"], ["is", "it", "raining", "today"]],
                            pooled)
    assert logits.argmax(1).tolist() == [0, 2]
