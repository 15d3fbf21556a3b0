"""The C Viterbi of ``elmol_nlu._crf`` against the numpy reference it replaces: the same paths (ties included),
the same errors on bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from elmol_nlu import crf as crf_module
from elmol_nlu.crf import CRFPosterior, ViterbiDecoder
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
        CRFPosterior(TAGS, start, trans, end).posterior(emissions)


def test_asking_for_a_c_viterbi_that_is_not_built_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crf_module, "COMPILED", False)
    with pytest.raises(RuntimeError, match="C compiler"):
        ViterbiDecoder(TAGS, *params(0), compiled=True)
