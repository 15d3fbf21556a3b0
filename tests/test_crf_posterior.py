"""CRF posteriors (serving): marginals, span and sequence probabilities against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elmol_nlu.crf import FORBIDDEN, ViterbiDecoder, constrained
from elmol_nlu.posterior import CRFPosterior
from elmol_nlu.vocab import bio_spans, slot_tag_vocab

TAGS = slot_tag_vocab(["date", "time"]).itos  # O, B-date, I-date, B-time, I-time


def random_params(seed: int, scale: float = 1.0, tags: list[str] = TAGS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(tags)
    return rng.normal(0, scale, n), rng.normal(0, scale, (n, n)), rng.normal(0, scale, n)


def enumerate_paths(start, trans, end, emissions, temperature, tags):
    """Every tag sequence with its probability, by brute force (forbidden ones get ~0)."""
    start, trans = constrained(tags, start, trans)
    paths = list(itertools.product(range(len(tags)), repeat=len(emissions)))
    scores = np.array([start[p[0]] + end[p[-1]] + sum(emissions[t, k] for t, k in enumerate(p))
                       + sum(trans[a, b] for a, b in itertools.pairwise(p)) for p in paths]) / temperature
    log_z = np.logaddexp.reduce(scores)
    return paths, np.exp(scores - log_z), log_z


def assert_equal_to_brute_force(start, trans, end, emissions, temperature, in_range: bool, compiled: bool,
                                tags: list[str] = TAGS) -> None:
    crf = CRFPosterior(tags, start, trans, end, temperature, compiled=compiled)
    post = crf.posterior(emissions)
    post.beta(0)
    assert post.in_range is in_range  # which way the probabilities below were computed
    paths, probs, log_z = enumerate_paths(start, trans, end, emissions, temperature, tags)
    assert post.log_partition == pytest.approx(log_z, rel=1e-12, abs=1e-9)
    length = len(emissions)
    for t in range(length):
        for k in range(len(tags)):
            expected = sum(p for path, p in zip(paths, probs, strict=True) if path[t] == k)
            assert post.marginals[t, k] == pytest.approx(expected, abs=1e-9)
    for path, p in [*zip(paths[::7], probs[::7], strict=True), (paths[probs.argmax()], probs.max())]:
        assert crf.sequence_probability(post, list(path)) == pytest.approx(p, abs=1e-9)
    for i, j in itertools.combinations(range(length + 1), 2):
        for label in sorted({tag[2:] for tag in tags if tag != "O"}):
            b, inside = tags.index(f"B-{label}"), tags.index(f"I-{label}")
            expected = sum(p for path, p in zip(paths, probs, strict=True)
                           if any(s.start == i and s.end == j and s.name == label
                                  for s in bio_spans([tags[k] for k in path])))
            assert crf.span_probability(post, i, j, b, inside) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("seed", "length", "temperature"), [(0, 1, 1.0), (1, 2, 0.5), (2, 4, 1.0), (3, 5, 2.0),
                                                            (4, 3, 1.3)])
@pytest.mark.parametrize("compiled", [True, False])
def test_marginals_spans_and_sequences_equal_brute_force(seed: int, length: int, temperature: float,
                                                         compiled: bool) -> None:
    start, trans, end = random_params(seed)
    emissions = np.random.default_rng(100 + seed).normal(0, 3, (length, len(TAGS)))
    assert_equal_to_brute_force(start, trans, end, emissions, temperature, in_range=True, compiled=compiled)


# With 4 labels, at most a quarter of the tags may move into each I- tag: the compiled passes keep those
# columns as lists of moves rather than in the dense block, so this holds that split to brute force too.
@pytest.mark.parametrize(("seed", "length"), [(20, 1), (21, 3), (22, 4)])
@pytest.mark.parametrize("compiled", [True, False])
def test_sparse_moves_equal_brute_force(seed: int, length: int, compiled: bool) -> None:
    tags = slot_tag_vocab(["a", "b", "c", "d"]).itos
    start, trans, end = random_params(seed, tags=tags)
    emissions = np.random.default_rng(seed).normal(0, 3, (length, len(tags)))
    assert_equal_to_brute_force(start, trans, end, emissions, 1.3, in_range=True, compiled=compiled, tags=tags)


# Scores hundreds of nats apart: the scaled tables lose tags that the rest of the sentence makes probable (the
# forward pass alone put log Z 43 nats too low on one such case), so the log-space tables must answer.
@pytest.mark.parametrize(("seed", "length", "param_scale", "emission_scale", "temperature"),
                         [(8506, 5, 50.0, 22.0, 0.2), (7294, 5, 50.0, 30.0, 0.28), (8465, 2, 20.0, 30.0, 0.2)])
@pytest.mark.parametrize("compiled", [True, False])
def test_extreme_scores_equal_brute_force(seed: int, length: int, param_scale: float, emission_scale: float,
                                          temperature: float, compiled: bool) -> None:
    start, trans, end = random_params(seed, param_scale)
    emissions = np.random.default_rng(seed).normal(0, emission_scale, (length, len(TAGS)))
    assert_equal_to_brute_force(start, trans, end, emissions, temperature, in_range=False, compiled=compiled)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), length=st.integers(1, 30), scale=st.floats(0.1, 30.0),
       param_scale=st.floats(0.1, 500.0), temperature=st.floats(0.2, 5.0), compiled=st.booleans())
def test_probabilities_are_probabilities_at_any_scale(seed: int, length: int, scale: float, param_scale: float,
                                                      temperature: float, compiled: bool) -> None:
    """Marginals sum to 1 per token; every probability is in [0, 1]; a span never beats its tokens' marginals."""
    start, trans, end = random_params(seed, param_scale)
    emissions = np.random.default_rng(seed).normal(0, scale, (length, len(TAGS))).astype(np.float32)
    crf = CRFPosterior(TAGS, start, trans, end, temperature, compiled=compiled)
    post = crf.posterior(emissions)
    marginals = post.marginals
    assert np.all(np.isfinite(marginals)) and np.all(marginals >= -1e-12) and np.all(marginals <= 1 + 1e-9)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-9)
    path = ViterbiDecoder(TAGS, start, trans, end).decode(emissions)
    seq = crf.sequence_probability(post, path)
    assert 0.0 <= seq <= 1.0
    assert seq <= marginals[np.arange(length), path].min() + 1e-9
    for span in bio_spans([TAGS[k] for k in path]):
        b, inside = TAGS.index(f"B-{span.name}"), TAGS.index(f"I-{span.name}")
        p = crf.span_probability(post, span.start, span.end, b, inside)
        assert 0.0 <= p <= 1.0
        assert p <= marginals[np.arange(span.start, span.end), path[span.start : span.end]].min() + 1e-9
        assert p >= seq - 1e-9  # the decoded sequence is one of the ways to have this span


def test_temperature_flattens_and_sharpens() -> None:
    start, trans, end = random_params(7)
    emissions = np.random.default_rng(7).normal(0, 3, (6, len(TAGS)))
    path = ViterbiDecoder(TAGS, start, trans, end).decode(emissions)
    seqs = []
    for temperature in (0.5, 1.0, 2.0, 4.0):
        crf = CRFPosterior(TAGS, start, trans, end, temperature)
        seqs.append(crf.sequence_probability(crf.posterior(emissions), path))
    assert seqs == sorted(seqs, reverse=True)  # the best path loses mass as the temperature rises
    with pytest.raises(ValueError, match="temperature"):
        CRFPosterior(TAGS, start, trans, end, 0.0)


def test_forbidden_transitions_get_no_mass() -> None:
    start, trans, end = random_params(3)
    emissions = np.zeros((4, len(TAGS)))
    emissions[:, TAGS.index("I-time")] = 50.0  # pushes for an I- at the start, which BIO forbids
    post = CRFPosterior(TAGS, start, trans, end).posterior(emissions)
    assert post.marginals[0, TAGS.index("I-time")] == pytest.approx(0.0, abs=math.exp(FORBIDDEN / 2))
