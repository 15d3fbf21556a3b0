"""Posterior probabilities under a linear-chain CRF (forward-backward): the per-token and per-slot confidences.

Scaled tables in float64, in C (``elmol_nlu._crf``) when it is built, else in numpy (``elmol_nlu.crf``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from elmol_nlu.crf import (
    COMPILED,
    MAX_SCORE_GAP,
    RANGE_FLOOR,
    _check_compiled,
    _crf,
    bio_masks,
    bounded_exp,
    constrained,
)


class Posterior:
    """Scaled forward-backward tables of one sentence; ``marginals[t, k]`` = P(tag_t = k | sentence).

    The forward table ``alpha`` is computed at once, each row normalised to sum 1 (its sum before that is
    ``scale``). The backward table is filled from the end only as far as it is asked for: a slot needs it from
    its end on, and most slots end near the end of an utterance. Each backward row is normalised to a maximum
    of 1 and its log factor kept apart (``beta_log``): the forward scales alone would let it overflow when a
    step is very improbable under the forward pass. ``emit`` holds exp(scores), each row shifted by its maximum.

    The scaled tables are exact while every entry that may matter stays well inside float64 next to its
    row's maximum and no score had to be floored (``in_range``). At extreme scores neither holds (a tag
    improbable so far that the rest of the sentence makes it probable, scales of 1e-93): then marginals,
    spans and Z come from log-space tables: exact at any scale, and slower (a log-sum-exp over a (K, K)
    table a token).

    ``tables`` (4, T, K) holds scores, emit, alpha and the backward table; ``rows`` (2, T) scale and beta_log:
    two buffers, which the compiled passes fill in place.
    """

    def __init__(self, crf: CRFPosterior, tables: np.ndarray, rows: np.ndarray, end_scale: float,
                 emit_shift: float, in_range: bool) -> None:
        self.scores, self.emit, self.alpha, self._beta = tables
        self.scale, self.beta_log = rows  # Rabiner's scaled backward row t is beta(t) * exp(beta_log[t])
        self._tables, self._rows = tables, rows
        self.end_scale = end_scale
        self.in_range = in_range  # False once a table is found out of range: the log tables answer from then on
        self._logs: tuple[np.ndarray, np.ndarray, float] | None = None
        self._emit_shift = emit_shift
        self._crf = crf
        self._beta_from = len(self.alpha) - 1  # rows from here on are filled (the last by the forward pass)

    def beta(self, t: int) -> np.ndarray:
        """Row t of the scaled backward table, up to the factor exp(beta_log[t]); its maximum is 1."""
        if t >= self._beta_from:
            return self._beta[t]
        if self._crf.compiled:
            low = _crf.backward(self._crf._chain, self._tables, self._rows, len(self.alpha), self._beta_from, t)
        else:
            low = self._numpy_backward(t)
        self.in_range = self.in_range and low >= RANGE_FLOOR
        self._beta_from = t
        return self._beta[t]

    def _numpy_backward(self, t: int) -> float:
        """Fills rows t .. filled - 1 as ``_crf.backward`` does; returns their smallest entry."""
        beta, trans, logs = self._beta, self._crf._exp_trans, self.beta_log
        work = np.empty(beta.shape[1])
        log_factor = float(logs[self._beta_from])
        for u in range(self._beta_from - 1, t - 1, -1):
            np.multiply(self.emit[u + 1], beta[u + 1], out=work)
            row = np.dot(trans, work, out=beta[u])
            top = float(row.max())  # > 0: every tag may go on to O, and the floors keep every factor above 0
            row *= 1.0 / top
            log_factor += math.log(top / self.scale[u + 1])
            logs[u] = log_factor
        return float(beta[t : self._beta_from].min())

    def log_tables(self) -> tuple[np.ndarray, np.ndarray, float]:
        """log alpha, log beta (T, K) and log Z of the unshifted, unfloored scores, by log-sum-exp."""
        if self._logs is None:
            start, trans, end, scores = self._crf._log_start, self._crf._log_trans, self._crf._log_end, self.scores
            log_alpha, log_beta = np.empty_like(scores), np.empty_like(scores)
            log_alpha[0], log_beta[-1] = start + scores[0], end
            for t in range(1, len(scores)):
                log_alpha[t] = np.logaddexp.reduce(log_alpha[t - 1][:, None] + trans, axis=0) + scores[t]
            for t in range(len(scores) - 2, -1, -1):
                log_beta[t] = np.logaddexp.reduce(trans + (scores[t + 1] + log_beta[t + 1])[None, :], axis=1)
            self._logs = log_alpha, log_beta, float(np.logaddexp.reduce(log_alpha[-1] + end))
        return self._logs

    @property
    def tags(self) -> list[str]:
        return self._crf.tags

    @property
    def log_partition(self) -> float:
        """log Z: the forward scales plus the shifts taken off before exp, or the log tables' Z."""
        if not self.in_range:
            return self.log_tables()[2]
        start_shift, trans_shift, end_shift = self._crf._shifts
        return float(np.log(self.scale).sum() + np.log(self.end_scale) + self._emit_shift
                     + start_shift + (len(self.scale) - 1) * trans_shift + end_shift)

    @property
    def marginals(self) -> np.ndarray:
        """(T, K). Each row of alpha * beta sums to 1 in exact arithmetic; normalising it makes it so in floats."""
        self.beta(0)
        if not self.in_range:
            log_alpha, log_beta, log_z = self.log_tables()
            return np.exp(log_alpha + log_beta - log_z)
        joint = self.alpha * self._beta
        return joint / joint.sum(axis=1, keepdims=True)


class CRFPosterior:
    """Probabilities under a linear-chain CRF at a temperature: P(y) ∝ exp(score(y) / temperature).

    Float64 throughout; one matrix-vector product per token and direction (a few microseconds each, most
    of it numpy's call overhead, hence the in-place operations).
    """

    def __init__(self, tags: list[str], start: np.ndarray, transitions: np.ndarray, end: np.ndarray,
                 temperature: float = 1.0, compiled: bool = COMPILED) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        start_ok, allowed = bio_masks(tags)
        start, transitions = constrained(tags, start.astype(np.float64), transitions.astype(np.float64),
                                         (start_ok, allowed))
        self._start_ok = start_ok
        self.temperature = float(temperature)
        self.start, self.transitions, self.end = start, transitions, end.astype(np.float64)
        # the exact scores, forbidden moves at -inf, for the log-space tables and path scores
        self._log_start = np.where(start_ok, start / temperature, -np.inf)
        self._log_trans = np.where(allowed, transitions / temperature, -np.inf)
        self._log_end = self.end / temperature
        # Each table is shifted by its best score before exp (a constant factor on every path, which the
        # partition function takes back), so that large scores cannot overflow; forbidden moves get exactly 0.
        self._exp_start, start_shift, start_floored = bounded_exp(self._log_start, start_ok)
        self._exp_trans, trans_shift, trans_floored = bounded_exp(self._log_trans, allowed)
        self._exp_end, end_shift, end_floored = bounded_exp(self._log_end)
        self._shifts = (start_shift, trans_shift, end_shift)
        self._floored = start_floored or trans_floored or end_floored  # then every sentence takes the log tables
        self.tags = list(tags)
        # the range check covers row 0 over the tags a sentence may start with, later rows over those that may
        # follow another (in BIO, every tag)
        self._later = allowed.any(axis=0)
        self.compiled = _check_compiled(compiled)
        self._chain = (_crf.chain(self._exp_start, self._exp_trans, self._exp_end, start_ok, self._later, len(tags))
                       if compiled else None)

    def posterior(self, emissions: np.ndarray) -> Posterior:
        """The forward pass over emissions (T, K) of one sentence (no padding); backward on demand."""
        if emissions.ndim != 2 or emissions.shape[1] != len(self.tags) or not len(emissions):
            raise ValueError(f"emissions of shape {emissions.shape}, expected (T >= 1, {len(self.tags)})")
        n = len(emissions)
        tables, rows = np.empty((4, n, len(self.tags))), np.empty((2, n))
        if self.compiled:  # float32 (the graphs' emissions) as they come, anything else as float64
            dtype = np.float32 if emissions.dtype == np.float32 else np.float64
            end_scale, shift, in_range = _crf.forward(self._chain, np.ascontiguousarray(emissions, dtype=dtype), n,
                                                      self.temperature, tables, rows)
        else:
            end_scale, shift, in_range = self._numpy_forward(emissions, tables, rows)
        return Posterior(self, tables, rows, end_scale, shift, in_range and not self._floored)

    def _numpy_forward(self, emissions: np.ndarray, tables: np.ndarray, rows: np.ndarray
                       ) -> tuple[float, float, bool]:
        """Fills ``tables`` and ``rows`` as ``_crf.forward`` does; returns end_scale, the shifts' sum, in range."""
        scores, emit, alpha, beta = tables
        scale, beta_log = rows
        np.divide(emissions, self.temperature, out=scores, dtype=np.float64)
        shift = scores.max(axis=1, keepdims=True)
        gap = scores - shift
        np.exp(np.maximum(gap, -MAX_SCORE_GAP), out=emit)
        row = alpha[0]
        np.multiply(self._exp_start, emit[0], out=row)
        for t in range(len(emit)):
            if t:
                row = alpha[t]
                np.dot(alpha[t - 1], self._exp_trans, out=row)
                row *= emit[t]
            scale[t] = row.sum()
            row *= 1.0 / scale[t]
        end_scale = float(row @ self._exp_end)
        beta[-1], beta_log[-1] = self._exp_end, -np.log(end_scale)  # its maximum is 1 (bounded_exp)
        in_range = (gap.min() >= -MAX_SCORE_GAP and alpha[1:, self._later].min(initial=np.inf) >= RANGE_FLOOR
                    and alpha[0, self._start_ok].min() >= RANGE_FLOOR)
        return end_scale, float(shift.sum()), bool(in_range)

    def sequence_probability(self, post: Posterior, path: list[int]) -> float:
        """P(tags = path | sentence). In range, walked through the scaled forward quantities: after each step
        the product is at most that step's forward entry (<= 1), and a path whose product underflows has a
        probability below 1e-58 there. Otherwise exp(score(path) - log Z) of the exact scores."""
        if not post.in_range:
            score = self._log_start[path[0]] + self._log_end[path[-1]] + post.scores[np.arange(len(path)), path].sum()
            score += sum(self._log_trans[a, b] for a, b in itertools.pairwise(path))
            return _probability(score - post.log_partition)
        if self.compiled:
            return _crf.sequence(self._chain, post._tables, post._rows, len(path), path, post.end_scale)
        emit, scale, trans = post.emit, post.scale, self._exp_trans
        p = float(self._exp_start[path[0]] * emit[0, path[0]] / scale[0])
        for t in range(1, len(path)):
            p *= trans[path[t - 1], path[t]] * emit[t, path[t]] / scale[t]
        return _clamped(p * self._exp_end[path[-1]] / post.end_scale)

    def span_probability(self, post: Posterior, start: int, stop: int, begin: int, inside: int) -> float:
        """P(tag_start = begin, tags start+1..stop-1 = inside, tag_stop != inside): one exact slot span.

        Walks the span's own path from the forward table at ``start`` (the product stays at most a forward
        entry, as in ``sequence_probability``) and closes it with the backward table at ``stop`` minus the
        continuation into ``inside``, so the slot neither starts nor ends elsewhere; the backward row's own
        factor joins in logs, where it cannot overflow.
        """
        if post.in_range and stop < len(post.scale):
            post.beta(stop)  # fills the backward table to stop, which may find it out of range
        if not post.in_range:
            return self._span_probability_in_logs(post, start, stop, begin, inside)
        if self.compiled:
            return _crf.span(self._chain, post._tables, post._rows, len(post.scale), start, stop, begin, inside,
                             post.end_scale)
        emit, scale, trans = post.emit, post.scale, self._exp_trans
        p, prev = float(post.alpha[start, begin]), begin
        for t in range(start + 1, stop):
            p *= trans[prev, inside] * emit[t, inside] / scale[t]
            prev = inside
        if stop == len(scale):
            return _clamped(p * self._exp_end[prev] / post.end_scale)
        onward = emit[stop] * post.beta(stop)  # every continuation from prev into stop, less the one into inside
        p *= max(0.0, float(trans[prev] @ onward - trans[prev, inside] * onward[inside])) / scale[stop]
        return 0.0 if p <= 0.0 else _probability(math.log(p) + float(post.beta_log[stop]))

    def _span_probability_in_logs(self, post: Posterior, start: int, stop: int, begin: int, inside: int) -> float:
        log_alpha, log_beta, log_z = post.log_tables()
        log_p = log_alpha[start, begin] + post.scores[start + 1 : stop, inside].sum()
        log_p += sum(self._log_trans[begin if t == start + 1 else inside, inside] for t in range(start + 1, stop))
        prev = begin if stop == start + 1 else inside
        if stop == len(post.scale):
            return _probability(log_p + self._log_end[prev] - log_z)
        onward = self._log_trans[prev] + post.scores[stop] + log_beta[stop]
        return _probability(log_p + np.logaddexp.reduce(np.delete(onward, inside)) - log_z)  # all but into inside


def _clamped(p: float) -> float:
    """A probability computed in floats, kept in [0, 1] against rounding."""
    return float(min(1.0, max(0.0, p)))


def _probability(log_p: float) -> float:
    return _clamped(math.exp(min(0.0, log_p)))
