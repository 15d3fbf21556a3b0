"""The C loops of ``elmol_nlu._crf`` against the numpy references they replace: Viterbi's paths (ties included),
forward-backward's probabilities (to rounding) and range decisions, and the same errors on bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from elmol_nlu import crf as crf_module
from elmol_nlu.crf import ViterbiDecoder
from elmol_nlu.posterior import CRFPosterior
from elmol_nlu.vocab import slot_tag_vocab

# as many tags as the shipped MASSIVE model (55 slot types: O and B-/I- of each)
TAGS = slot_tag_vocab([f"slot{i}" for i in range(55)]).itos


def params(seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(TAGS)
    return rng.normal(0, scale, n), rng.normal(0, scale, (n, n)), rng.normal(0, scale, n)


def test_the_install_built_the_c_viterbi() -> None:
    """Serving without it is 5x slower per utterance in Viterbi: an install that silently skipped the build
    (no compiler) must not pass CI."""
    assert crf_module.COMPILED


@pytest.mark.parametrize("seed", range(20))
def test_c_viterbi_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    start, trans, end = params(seed, scale=2.0)
    length = int(rng.integers(1, 40))
    emissions = rng.normal(0, 4, (length, len(TAGS))).astype(np.float32)
    c, py = (ViterbiDecoder(TAGS, start, trans, end, compiled=flag) for flag in (True, False))
    assert c.decode(emissions) == py.decode(emissions)


@pytest.mark.parametrize("seed", range(10))
def test_c_viterbi_breaks_ties_as_numpy(seed: int) -> None:
    """Small integer scores tie often; both pick the lowest tag index, as numpy's argmax."""
    rng = np.random.default_rng(seed)
    start, trans, end = (rng.integers(-2, 3, shape).astype(np.float32) for shape in
                         ((len(TAGS),), (len(TAGS), len(TAGS)), (len(TAGS),)))
    emissions = rng.integers(-2, 3, (int(rng.integers(1, 12)), len(TAGS))).astype(np.float32)
    c, py = (ViterbiDecoder(TAGS, start, trans, end, compiled=flag) for flag in (True, False))
    assert c.decode(emissions) == py.decode(emissions)


@pytest.mark.parametrize("seed", range(6))
def test_c_viterbi_equals_numpy_where_a_forbidden_move_could_win(seed: int) -> None:
    """Emission gaps beyond the forbidding score (1e4): the C Viterbi's shortcut into I- tags (their two allowed
    moves) must see that a forbidden one could be best and scan them all, as numpy does."""
    rng = np.random.default_rng(seed)
    start, trans, end = params(seed)
    emissions = rng.normal(0, 3e4, (int(rng.integers(2, 12)), len(TAGS))).astype(np.float32)
    c, py = (ViterbiDecoder(TAGS, start, trans, end, compiled=flag) for flag in (True, False))
    assert c.decode(emissions) == py.decode(emissions)


def test_c_viterbi_takes_float64_and_non_contiguous_emissions() -> None:
    start, trans, end = params(1)
    emissions = np.random.default_rng(1).normal(0, 3, (len(TAGS), 9)).T  # float64, Fortran order
    c, py = (ViterbiDecoder(TAGS, start, trans, end, compiled=flag) for flag in (True, False))
    assert c.decode(emissions) == py.decode(emissions)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shape", [(0, len(TAGS)), (3, len(TAGS) - 1), (len(TAGS),), (2, 3, len(TAGS))])
def test_bad_emission_shapes_are_refused_by_both(compiled: bool, shape: tuple[int, ...]) -> None:
    start, trans, end = params(0)
    emissions = np.zeros(shape, dtype=np.float32)
    with pytest.raises(ValueError, match="emissions of shape"):
        ViterbiDecoder(TAGS, start, trans, end, compiled=compiled).decode(emissions)
    with pytest.raises(ValueError, match="emissions of shape"):
        CRFPosterior(TAGS, start, trans, end, compiled=compiled).posterior(emissions)


@pytest.mark.parametrize("seed", range(12))
def test_c_forward_backward_equals_numpy(seed: int) -> None:
    """On the shipped model's tag set, where the C passes keep the I- columns as lists of moves. Large scales
    take some sentences to the log-space tables: both must decide so alike."""
    rng = np.random.default_rng(seed)
    start, trans, end = params(seed, scale=float(rng.choice([1.0, 3.0, 60.0])))
    emissions = rng.normal(0, float(rng.choice([2.0, 8.0, 40.0])), (int(rng.integers(1, 30)), len(TAGS)))
    if seed % 2:
        emissions = emissions.astype(np.float32)  # as served; float64 as the tests above
    temperature = float(rng.choice([0.3, 1.0, 1.7]))
    c, py = (CRFPosterior(TAGS, start, trans, end, temperature, compiled=flag) for flag in (True, False))
    a, b = c.posterior(emissions), py.posterior(emissions)
    stop = len(emissions) // 2
    a.beta(stop), b.beta(stop)  # part of the backward table first, as a slot ending at ``stop`` asks
    assert a.in_range == b.in_range
    np.testing.assert_allclose(a.marginals, b.marginals, rtol=1e-9, atol=1e-12)
    assert a.in_range == b.in_range
    assert a.log_partition == pytest.approx(b.log_partition, rel=1e-12, abs=1e-9)
    path = ViterbiDecoder(TAGS, start, trans, end).decode(emissions)
    assert c.sequence_probability(a, path) == pytest.approx(py.sequence_probability(b, path), rel=1e-9, abs=1e-12)
    inside = path[stop] if TAGS[path[stop]].startswith("I-") else TAGS.index("I-slot0")
    begin = TAGS.index("B-" + TAGS[inside][2:])
    assert (c.span_probability(a, 0, stop + 1, begin, inside)
            == pytest.approx(py.span_probability(b, 0, stop + 1, begin, inside), rel=1e-9, abs=1e-12))


def test_asking_for_a_c_viterbi_that_is_not_built_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crf_module, "COMPILED", False)
    with pytest.raises(RuntimeError, match="C compiler"):
        ViterbiDecoder(TAGS, *params(0), compiled=True)
