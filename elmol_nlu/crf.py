"""Linear-chain CRF inference, the serving twin of ``training.crf``: Viterbi decoding, and the posterior
probabilities (forward-backward) behind per-token and per-slot confidences.

Viterbi's loop over tokens runs in ``elmol_nlu._crf`` (C, built at install: one call instead of four numpy
calls a token, 61 -> 12 us for a served utterance, ``python -m bench.crf``) when it is built, else in numpy,
which stays the reference the tests hold it to (``compiled=False``). Forward-backward stays in numpy:
its steps are matrix-vector products, which BLAS does as fast as a C loop would.
"""

from __future__ import annotations

import numpy as np

from elmol_nlu.vocab import allowed_transition

try:
    from elmol_nlu import _crf
except ImportError:  # installed without a C compiler: the numpy loops
    _crf = None

COMPILED = _crf is not None

FORBIDDEN = -1e4
# Scores more than this far (after the temperature) below the best of their table count as this far below:
# it changes probabilities by less than e^-300, and keeps every step of forward-backward within float64.
MAX_SCORE_GAP = 300.0


def _check_compiled(compiled: bool) -> bool:
    if compiled and not COMPILED:
        raise RuntimeError("elmol_nlu._crf is not built: reinstall the package where a C compiler is available")
    return compiled


def bio_masks(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which tags may start a sentence (K,) and which transitions BIO allows (K, K)."""
    start_ok = np.array([allowed_transition(None, t) for t in tags])
    return start_ok, np.array([[allowed_transition(a, b) for b in tags] for a in tags])


def constrained(tags: list[str], start: np.ndarray, transitions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and transition scores with BIO-breaking starts and transitions forbidden."""
    n = len(tags)
    if transitions.shape != (n, n) or start.shape != (n,):
        raise ValueError(f"CRF parameters do not match {n} tags")
    start_ok, allowed = bio_masks(tags)
    return start + np.where(start_ok, 0.0, FORBIDDEN), transitions + np.where(allowed, 0.0, FORBIDDEN)


def bounded_exp(scores: np.ndarray, allowed: np.ndarray | bool = True) -> tuple[np.ndarray, float]:
    """exp(scores - shift) with scores floored at MAX_SCORE_GAP below the best allowed one, and exactly 0
    where not allowed; returns the table and its shift (the best allowed score)."""
    best = float(np.max(np.where(allowed, scores, -np.inf)))
    return np.where(allowed, np.exp(np.maximum(scores - best, -MAX_SCORE_GAP)), 0.0), best


class ViterbiDecoder:
    """Best BIO tag sequence from emissions, with BIO-breaking transitions forbidden; scores in float32 (the
    model's emissions), ties to the lowest tag index as numpy's argmax."""

    def __init__(self, tags: list[str], start: np.ndarray, transitions: np.ndarray, end: np.ndarray,
                 compiled: bool = COMPILED) -> None:
        if end.shape != (len(tags),):
            raise ValueError(f"CRF parameters do not match {len(tags)} tags")
        self.compiled = _check_compiled(compiled)
        start, transitions = constrained(tags, start, transitions)
        self.start, self.transitions = start.astype(np.float32), transitions.astype(np.float32)
        self.end = end.astype(np.float32)
        self._transitions_to_from = np.ascontiguousarray(self.transitions.T)
        self._rows = np.arange(len(tags))

    def decode(self, emissions: np.ndarray) -> list[int]:
        """Emissions (T, K) of one sentence (no padding) to T tag indices."""
        emissions = np.ascontiguousarray(emissions, dtype=np.float32)
        if emissions.ndim != 2 or emissions.shape[1] != len(self.end) or not len(emissions):
            raise ValueError(f"emissions of shape {emissions.shape}, expected (T >= 1, {len(self.end)})")
        if self.compiled:
            return _crf.viterbi(emissions, self.start, self._transitions_to_from, self.end, *emissions.shape)
        n_tags = len(self.end)
        score = self.start + emissions[0]
        history = np.empty((max(0, len(emissions) - 1), n_tags), dtype=np.intp)
        candidates = np.empty((n_tags, n_tags), dtype=np.float32)  # (to, from): argmax over contiguous rows
        for t in range(1, len(emissions)):
            np.add(self._transitions_to_from, score, out=candidates)
            best = candidates.argmax(axis=1)
            history[t - 1] = best
            score = candidates[self._rows, best] + emissions[t]
        tag = int((score + self.end).argmax())
        path = [tag]
        for back in history[::-1]:
            tag = int(back[tag])
            path.append(tag)
        return path[::-1]


class Posterior:
    """Scaled forward-backward tables of one sentence; ``marginals[t, k]`` = P(tag_t = k | sentence).

    The forward table ``alpha`` is computed at once, rescaled at each step (by ``scale``) so that it never
    under- or overflows. The backward table is filled from the end only as far as it is asked for: a slot
    needs it from its end on, and most slots end near the end of an utterance. ``emit`` holds
    exp(emissions / T), each row shifted by its maximum.
    """

    def __init__(self, crf: CRFPosterior, alpha: np.ndarray, emit: np.ndarray, scale: np.ndarray,
                 end_scale: float, emit_shift: float) -> None:
        self.alpha, self.emit, self.scale, self.end_scale = alpha, emit, scale, end_scale
        self._emit_shift = emit_shift
        self._crf = crf
        self._beta = np.empty_like(alpha)
        self._beta[-1] = crf._exp_end / end_scale
        self._beta_from = len(alpha) - 1  # rows from here on are filled
        self._work = np.empty(alpha.shape[1])

    def beta(self, t: int) -> np.ndarray:
        """Row t of the scaled backward table (alpha[t] * beta(t) is the marginal at t)."""
        beta = self._beta
        if t >= self._beta_from:
            return beta[t]
        trans, work = self._crf._exp_trans, self._work
        for u in range(self._beta_from - 1, t - 1, -1):
            np.multiply(self.emit[u + 1], beta[u + 1], out=work)
            work *= 1.0 / self.scale[u + 1]
            np.dot(trans, work, out=beta[u])
        self._beta_from = t
        return beta[t]

    @property
    def tags(self) -> list[str]:
        return self._crf.tags

    @property
    def log_partition(self) -> float:
        """log Z: the scales of every step plus the shifts taken off before exp (probabilities never need it)."""
        start_shift, trans_shift, end_shift = self._crf._shifts
        return float(np.log(self.scale).sum() + np.log(self.end_scale) + self._emit_shift
                     + start_shift + (len(self.scale) - 1) * trans_shift + end_shift)

    @property
    def marginals(self) -> np.ndarray:
        self.beta(0)
        return self.alpha * self._beta


class CRFPosterior:
    """Probabilities under a linear-chain CRF at a temperature: P(y) ∝ exp(score(y) / temperature).

    Float64 throughout; one matrix-vector product per token and direction (a few microseconds each, most
    of it numpy's call overhead, hence the in-place operations).
    """

    def __init__(self, tags: list[str], start: np.ndarray, transitions: np.ndarray, end: np.ndarray,
                 temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        start, transitions = constrained(tags, start.astype(np.float64), transitions.astype(np.float64))
        self.temperature = float(temperature)
        self.start, self.transitions, self.end = start, transitions, end.astype(np.float64)
        # Each table is shifted by its best score before exp (a constant factor on every path, which the
        # partition function takes back), so that large scores cannot overflow; forbidden moves get exactly 0.
        start_ok, allowed = bio_masks(tags)
        self._exp_start, start_shift = bounded_exp(start / temperature, start_ok)
        self._exp_trans, trans_shift = bounded_exp(transitions / temperature, allowed)
        self._exp_end, end_shift = bounded_exp(self.end / temperature)
        self._shifts = (start_shift, trans_shift, end_shift)
        self.tags = list(tags)

    def posterior(self, emissions: np.ndarray) -> Posterior:
        """The forward pass over emissions (T, K) of one sentence (no padding); backward on demand."""
        scores = emissions.astype(np.float64) / self.temperature
        if scores.ndim != 2 or scores.shape[1] != len(self.tags) or not len(scores):
            raise ValueError(f"emissions of shape {scores.shape}, expected (T >= 1, {len(self.tags)})")
        shift = scores.max(axis=1, keepdims=True)
        emit = np.exp(np.maximum(scores - shift, -MAX_SCORE_GAP))
        n = len(emit)
        alpha, scale = np.empty_like(emit), np.empty(n)
        row = alpha[0]
        np.multiply(self._exp_start, emit[0], out=row)
        for t in range(n):
            if t:
                row = alpha[t]
                np.dot(alpha[t - 1], self._exp_trans, out=row)
                row *= emit[t]
            scale[t] = row.sum()
            row *= 1.0 / scale[t]
        end_scale = float(row @ self._exp_end)
        return Posterior(self, alpha, emit, scale, end_scale, float(shift.sum()))

    def sequence_probability(self, post: Posterior, path: list[int]) -> float:
        """P(tags = path | sentence), walked through the scaled forward quantities (no exp of large scores)."""
        p = self._exp_start[path[0]] * post.emit[0, path[0]] / post.scale[0]
        for t in range(1, len(path)):
            p *= self._exp_trans[path[t - 1], path[t]] * post.emit[t, path[t]] / post.scale[t]
        return float(min(1.0, max(0.0, p * self._exp_end[path[-1]] / post.end_scale)))

    def span_probability(self, post: Posterior, start: int, stop: int, begin: int, inside: int) -> float:
        """P(tag_start = begin, tags start+1..stop-1 = inside, tag_stop != inside): one exact slot span.

        Walks the span's own path from the forward table at ``start`` and closes it with the backward
        table at ``stop`` minus the continuation into ``inside``, so the slot neither starts nor ends elsewhere.
        """
        p, prev = post.alpha[start, begin], begin
        for t in range(start + 1, stop):
            p *= self._exp_trans[prev, inside] * post.emit[t, inside] / post.scale[t]
            prev = inside
        if stop == len(post.scale):
            p *= self._exp_end[prev] / post.end_scale
        else:  # every continuation from prev into stop, less the one that extends the slot
            onward = post.emit[stop] * post.beta(stop)
            p *= (self._exp_trans[prev] @ onward - self._exp_trans[prev, inside] * onward[inside]) / post.scale[stop]
        return float(min(1.0, max(0.0, p)))
