"""Predictor timings in this process: batch 1 by length bucket, and batched calls."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from elmol_nlu.runtime import Predictor
from elmol_nlu.text import tokenize
from experiments.bench.corpus import take
from experiments.bench.stats import summarize

log = logging.getLogger("bench.inprocess")

BUCKETS = (("<=5", 0, 5), ("6-10", 6, 10), ("11+", 11, 10**9))


def bucket_of(n_tokens: int) -> str:
    return next(name for name, lo, hi in BUCKETS if lo <= n_tokens <= hi)


def time_single(predictor: Predictor, texts: list[str], n: int, warmup: int) -> dict:
    """``parse`` one utterance at a time, as a low-load request does."""
    for text in take(texts, warmup):
        predictor.parse(text)
    timed: list[tuple[str, float]] = []
    for text in take(texts, n, skip=warmup):
        started = time.perf_counter()
        predictor.parse(text)
        timed.append((text, 1000 * (time.perf_counter() - started)))
    by_bucket = {name: summarize([ms for t, ms in timed if bucket_of(len(tokenize(t))) == name])
                 for name, _, _ in BUCKETS}
    return {"all": summarize([ms for _, ms in timed]), "by_tokens": by_bucket}


def wait(gap_ms: float, busy: bool) -> None:
    """Let ``gap_ms`` pass: asleep (the CPU may halt), or spinning on the clock (it stays busy, our data untouched)."""
    if not busy:
        time.sleep(gap_ms / 1000)
        return
    until = time.perf_counter() + gap_ms / 1000
    while time.perf_counter() < until:
        pass


def time_after_gaps(predictor: Predictor, texts: list[str], n: int, busy: bool,
                    gaps_ms: tuple[float, ...] = (0, 0.5, 2)) -> dict:
    """``parse`` after ``gap`` ms of not parsing, as sequential requests arrive. Asleep and busy-waiting side
    by side tell a slow wake-up from idle apart from state lost to time alone
    (what else the host runs on our caches while we wait)."""
    result = {}
    for gap in gaps_ms:
        timed = []
        for text in take(texts, n):
            if gap:
                wait(gap, busy)
            started = time.perf_counter()
            predictor.parse(text)
            timed.append(1000 * (time.perf_counter() - started))
        result[f"{gap:g}"] = summarize(timed)
    return result


def other_python_work() -> None:
    """About what a web framework does between two requests: build, encode and decode a few thousand objects."""
    json.loads(json.dumps({f"k{i}": list(range(50)) for i in range(20)}))


def time_interleaved(predictor: Predictor, texts: list[str], n: int) -> dict:
    """``parse`` back-to-back, then with other Python work between parses, as in a server: the model's
    kernels lose their warm CPU state (instruction cache, branch predictors, TLB) to the interpreter."""
    result = {}
    for name, between in (("back to back", None), ("after other python work", other_python_work)):
        timed = []
        for text in take(texts, n):
            if between:
                between()
            started = time.perf_counter()
            predictor.parse(text)
            timed.append(1000 * (time.perf_counter() - started))
        result[name] = summarize(timed)
    return result


def time_batch(predictor: Predictor, texts: list[str], n: int, batch: int, warmup: int) -> dict:
    """``parse_batch`` on ``batch`` texts: per-call time, per-utterance time and utterances/s."""
    calls = max(n // batch, 10)
    for i in range(max(warmup // batch, 3)):
        predictor.parse_batch(take(texts, batch, skip=i * batch))
    per_call: list[float] = []
    for i in range(calls):
        chunk = take(texts, batch, skip=warmup + i * batch)
        started = time.perf_counter()
        predictor.parse_batch(chunk)
        per_call.append(1000 * (time.perf_counter() - started))
    call = summarize(per_call)
    return {"batch": batch, "call": call, "per_utt_ms": call["mean"] / batch, "utt_per_s": call["per_s"] * batch}


def run_inprocess(model_dir: Path, texts: list[str], threads: int, n: int, warmup: int,
                  batches: list[int], precision: str = "fp32") -> dict:
    predictor = Predictor.load(model_dir, threads=threads, precision=precision)
    log.info("in-process %s, %d thread(s): %d parse calls after %d warm-up", precision, threads, n, warmup)
    result = {"precision": precision, "threads": threads, "single": time_single(predictor, texts, n, warmup)}
    result["batched"] = [time_batch(predictor, texts, n, b, warmup) for b in batches]
    result["after_idle_ms"] = time_after_gaps(predictor, texts, min(n, 500), busy=False)
    result["after_busy_wait_ms"] = time_after_gaps(predictor, texts, min(n, 500), busy=True, gaps_ms=(0.5, 2))
    result["interleaved_ms"] = time_interleaved(predictor, texts, min(n, 500))
    return result
