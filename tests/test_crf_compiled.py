"""The C loops of ``elmol_nlu._crf`` against the numpy reference they replace: the same paths (ties included),
the same probabilities, the same errors on bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from elmol_nlu import crf as crf_module
from elmol_nlu.crf import CRFPosterior, ViterbiDecoder
from elmol_nlu.vocab import bio_spans, slot_tag_vocab

# as many tags as the shipped MASSIVE model (55 slot types: O and B-/I- of each)
TAGS = slot_tag_vocab([f"slot{i}" for i in range(55)]).itos


def params(seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(TAGS)
    return rng.normal(0, scale, n), rng.normal(0, scale, (n, n)), rng.normal(0, scale, n)


def test_the_install_built_the_c_loops() -> None:
    """Serving without them is ~3x slower per utterance in the CRF: an install that silently skipped the build
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


@pytest.mark.parametrize(("seed", "temperature"), [(0, 1.0), (1, 0.5), (2, 2.0), (3, 1.3), (4, 0.2)])
def test_c_forward_backward_equals_numpy(seed: int, temperature: float) -> None:
    rng = np.random.default_rng(seed)
    start, trans, end = params(seed, scale=3.0)
    emissions = rng.normal(0, 5, (int(rng.integers(1, 30)), len(TAGS))).astype(np.float32)
    c, py = (CRFPosterior(TAGS, start, trans, end, temperature, compiled=flag) for flag in (True, False))
    post_c, post_py = c.posterior(emissions), py.posterior(emissions)
    assert post_c.log_partition == pytest.approx(post_py.log_partition, rel=1e-12)
    mid = len(emissions) // 2  # backward filled in two calls, as span probabilities ask for it
    np.testing.assert_allclose(post_c.beta(mid), post_py.beta(mid), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(post_c.marginals, post_py.marginals, rtol=1e-9, atol=1e-12)
    path = ViterbiDecoder(TAGS, start, trans, end).decode(emissions)
    assert c.sequence_probability(post_c, path) == pytest.approx(py.sequence_probability(post_py, path), rel=1e-9)
    for span in bio_spans([TAGS[k] for k in path]):
        b, inside = TAGS.index(f"B-{span.name}"), TAGS.index(f"I-{span.name}")
        assert c.span_probability(post_c, span.start, span.end, b, inside) == pytest.approx(
            py.span_probability(post_py, span.start, span.end, b, inside), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shape", [(0, len(TAGS)), (3, len(TAGS) - 1), (len(TAGS),), (2, 3, len(TAGS))])
def test_bad_emission_shapes_are_refused_by_both(compiled: bool, shape: tuple[int, ...]) -> None:
    start, trans, end = params(0)
    emissions = np.zeros(shape, dtype=np.float32)
    with pytest.raises(ValueError, match="emissions of shape"):
        ViterbiDecoder(TAGS, start, trans, end, compiled=compiled).decode(emissions)
    with pytest.raises(ValueError, match="emissions of shape"):
        CRFPosterior(TAGS, start, trans, end, compiled=compiled).posterior(emissions)


def test_asking_for_c_loops_that_are_not_built_says_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crf_module, "COMPILED", False)
    with pytest.raises(RuntimeError, match="C compiler"):
        ViterbiDecoder(TAGS, *params(0), compiled=True)
