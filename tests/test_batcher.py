"""Micro-batching over the shipped model: answers never depend on the batch; late or excess work is shed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from conftest import MASSIVE, MODEL_DIR

from elmol_nlu.datasets import read_massive
from elmol_nlu.runtime import Parse, Predictor
from service.batcher import MicroBatcher, OverloadedError
from service.metrics import Metrics


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [e.text for e in read_massive(MASSIVE, "test")[:96]]


def run_concurrently(batcher: MicroBatcher, texts: list[str], budget_s: float = 10.0) -> list:
    async def main() -> list:
        deadline = time.perf_counter() + budget_s
        return await asyncio.gather(*(batcher.parse(t, deadline) for t in texts), return_exceptions=True)

    return asyncio.run(main())


ON_LOOP = 0  # no batcher threads: the model runs on the event loop


@pytest.mark.parametrize("threads", [1, ON_LOOP])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_batched_answers_equal_single_answers(texts: list[str], precision: str, threads: int) -> None:
    predictor = Predictor.load(MODEL_DIR, precision=precision)
    metrics = Metrics()
    # A wait of 20 ms makes concurrent requests share calls: batches of up to 16, of mixed lengths.
    batcher = MicroBatcher(predictor.parse_batch, metrics, max_batch=16, max_wait_us=20_000, max_queue=1000,
                           threads=threads)
    try:
        batched = run_concurrently(batcher, texts)
    finally:
        batcher.close()
    sizes = metrics.batch_size.collect()[0].samples
    assert next(s.value for s in sizes if s.name.endswith("_count")) < len(texts)  # batches did form
    for text, got in zip(texts, batched, strict=True):
        alone: Parse = predictor.parse(text)
        assert isinstance(got, Parse), got
        assert (got.intent, got.tags, got.slots) == (alone.intent, alone.tags, alone.slots), text
        assert got.confidence == pytest.approx(alone.confidence, abs=1e-5)


def test_work_past_its_deadline_is_shed_and_the_rest_served(texts: list[str]) -> None:
    gate = threading.Event()
    predictor = Predictor.load(MODEL_DIR)

    def slow_parse(batch: list[str], selections: object = None) -> list[Parse]:
        gate.wait(5)  # the first call holds the worker while the others queue up
        return predictor.parse_batch(batch)

    metrics = Metrics()
    batcher = MicroBatcher(slow_parse, metrics, max_batch=4, max_wait_us=0, max_queue=1000, threads=1)

    async def main() -> list:
        now = time.perf_counter()
        first = asyncio.ensure_future(batcher.parse(texts[0], now + 10))
        await asyncio.sleep(0.05)
        late = [asyncio.ensure_future(batcher.parse(t, now + 0.06)) for t in texts[1:5]]
        patient = [asyncio.ensure_future(batcher.parse(t, now + 10)) for t in texts[5:9]]
        await asyncio.sleep(0.1)  # the late ones' deadline passes while the worker is held
        gate.set()
        return await asyncio.gather(first, *late, *patient, return_exceptions=True)

    try:
        first, *rest = asyncio.run(main())
    finally:
        batcher.close()
    late, patient = rest[:4], rest[4:]
    assert isinstance(first, Parse) and all(isinstance(p, Parse) for p in patient)
    assert all(isinstance(e, OverloadedError) and e.reason == "deadline" for e in late)
    assert metrics.registry.get_sample_value("elmol_shed_total", {"reason": "deadline"}) == 4


def test_on_the_loop_requests_received_together_share_a_call_and_late_ones_are_shed(texts: list[str]) -> None:
    predictor = Predictor.load(MODEL_DIR)
    calls: list[int] = []

    def slow_first(batch: list[str], selections: object = None) -> list[Parse]:
        calls.append(len(batch))
        if len(calls) == 1:
            time.sleep(0.1)  # blocks the loop, as a long model call would: the next jobs' deadline passes
        return predictor.parse_batch(batch)

    metrics = Metrics()
    batcher = MicroBatcher(slow_first, metrics, max_batch=4, max_wait_us=0, max_queue=1000, threads=ON_LOOP)

    async def main() -> list:
        now = time.perf_counter()
        first = [asyncio.ensure_future(batcher.parse(t, now + 10)) for t in texts[:4]]
        late = [asyncio.ensure_future(batcher.parse(t, now + 0.05)) for t in texts[4:8]]
        patient = [asyncio.ensure_future(batcher.parse(t, now + 10)) for t in texts[8:12]]
        return await asyncio.gather(*first, *late, *patient, return_exceptions=True)

    results = asyncio.run(main())
    assert calls == [4, 4]  # the four received first in one call, the late four never run, the patient in one
    assert all(isinstance(r, Parse) for r in results[:4] + results[8:])
    assert all(isinstance(e, OverloadedError) and e.reason == "deadline" for e in results[4:8])
    assert metrics.registry.get_sample_value("elmol_shed_total", {"reason": "deadline"}) == 4


def test_on_the_loop_a_batch_request_runs_in_a_thread_and_does_not_hold_up_single_parses(texts: list[str]) -> None:
    predictor = Predictor.load(MODEL_DIR)
    batch_running = threading.Event()

    def slow_batches(batch: list[str], selections: object = None) -> list[Parse]:
        if len(batch) > 1:
            batch_running.set()
            time.sleep(0.5)  # a long /parse/batch: the loop must keep answering meanwhile
        return predictor.parse_batch(batch)

    batcher = MicroBatcher(slow_batches, Metrics(), max_batch=16, max_wait_us=0, max_queue=100, threads=ON_LOOP)

    async def main() -> tuple[float, float]:
        deadline = time.perf_counter() + 10
        started = time.perf_counter()
        batch = asyncio.ensure_future(batcher.parse_many(texts[:8], deadline))
        while not batch_running.is_set():
            await asyncio.sleep(0.005)
        for text in texts[8:12]:
            await batcher.parse(text, deadline)
        singles_done = time.perf_counter() - started
        await batch
        return singles_done, time.perf_counter() - started

    try:
        singles_done, batch_done = asyncio.run(main())
    finally:
        batcher.close()
    assert singles_done < 0.4 < batch_done


def test_hybrid_runs_single_parses_on_the_loop_while_few_are_in_progress_and_on_the_thread_beyond(
        texts: list[str]) -> None:
    predictor = Predictor.load(MODEL_DIR)
    ran_on: list[tuple[str, int]] = []

    def recorded(batch: list[str], selections: object = None) -> list[Parse]:
        ran_on.append((threading.current_thread().name, len(batch)))
        return predictor.parse_batch(batch)

    batcher = MicroBatcher(recorded, Metrics(), max_batch=16, max_wait_us=0, max_queue=100, threads=1,
                           loop_max_in_progress=2)

    async def main() -> list:
        deadline = time.perf_counter() + 10
        one_at_a_time = [await batcher.parse(t, deadline) for t in texts[:3]]
        crowd = await asyncio.gather(*(batcher.parse(t, deadline) for t in texts[3:15]))
        return one_at_a_time + crowd

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    loop = threading.current_thread().name
    # the thread's first call may be recorded before the loop's drain runs: compare each one's own calls
    calls = {name: [n for who, n in ran_on if who == name] for name in {who for who, _ in ran_on}}
    assert set(calls) == {loop, "batcher-0"}
    assert calls[loop] == [1, 1, 1, 2]  # alone three times, then the first two of the crowd in one call
    assert sum(calls["batcher-0"]) == 10
    for text, got in zip(texts[:15], results, strict=True):
        assert (got.intent, got.tags) == (predictor.parse(text).intent, predictor.parse(text).tags)


def held_batcher(max_batch: int, max_queue: int) -> tuple[MicroBatcher, threading.Event]:
    """A batcher whose model calls wait for the returned event: requests pile up in progress."""
    gate = threading.Event()
    predictor = Predictor.load(MODEL_DIR)

    def held(batch: list[str], selections: object = None) -> list[Parse]:
        gate.wait(5)
        return predictor.parse_batch(batch)

    return MicroBatcher(held, Metrics(), max_batch=max_batch, max_wait_us=0, max_queue=max_queue, threads=1), gate


def test_a_full_queue_refuses_at_once(texts: list[str]) -> None:
    batcher, gate = held_batcher(max_batch=1, max_queue=3)

    async def main() -> list:
        now = time.perf_counter()
        jobs = [asyncio.ensure_future(batcher.parse(t, now + 10)) for t in texts[:1]]
        await asyncio.sleep(0.05)  # the worker holds the first; with the next two, three are in progress
        jobs += [asyncio.ensure_future(batcher.parse(t, now + 10)) for t in texts[1:6]]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    refused = [r for r in results if isinstance(r, OverloadedError)]
    assert len(refused) == 3 and all(r.reason == "queue full" for r in refused)
    assert sum(isinstance(r, Parse) for r in results) == 3


@pytest.mark.parametrize("threads", [1, ON_LOOP])
def test_a_failing_model_call_fails_its_requests_not_the_worker(texts: list[str], threads: int) -> None:
    predictor = Predictor.load(MODEL_DIR)
    calls = {"n": 0}

    def flaky(batch: list[str], selections: object = None) -> list[Parse]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return predictor.parse_batch(batch)

    batcher = MicroBatcher(flaky, Metrics(), max_batch=1, max_wait_us=0, max_queue=10, threads=threads)
    try:
        first = run_concurrently(batcher, texts[:1])
        second = run_concurrently(batcher, texts[1:3])
    finally:
        batcher.close()
    assert isinstance(first[0], RuntimeError)
    assert all(isinstance(p, Parse) for p in second)


def test_one_stalled_call_does_not_make_it_refuse_for_ever(texts: list[str]) -> None:
    predictor = Predictor.load(MODEL_DIR)
    calls = {"n": 0}

    def stalls_once(batch: list[str], selections: object = None) -> list[Parse]:
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(0.3)  # e.g. the host paused the VM: the running estimate jumps past the budget
        return predictor.parse_batch(batch)

    batcher = MicroBatcher(stalls_once, Metrics(), max_batch=1, max_wait_us=0, max_queue=100, threads=1)

    async def one(text: str) -> object:
        try:
            return await batcher.parse(text, time.perf_counter() + 0.05)
        except OverloadedError as e:
            return e

    async def main() -> list:
        return [await one(t) for t in texts[:20]]  # one at a time, each with a 50 ms budget

    try:
        results = asyncio.run(main())
    finally:
        batcher.close()
    assert isinstance(results[-1], Parse) and sum(isinstance(r, Parse) for r in results) >= 15, results


@pytest.mark.parametrize("threads", [1, ON_LOOP])
def test_batch_requests_share_calls_with_single_ones_and_get_their_own_answers(texts: list[str], threads: int
                                                                               ) -> None:
    predictor = Predictor.load(MODEL_DIR)
    metrics = Metrics()
    batcher = MicroBatcher(predictor.parse_batch, metrics, max_batch=16, max_wait_us=20_000, max_queue=1000,
                           threads=threads)
    groups = [texts[0:1], texts[1:6], texts[6:7], texts[7:20], texts[20:21]]

    async def main() -> list:
        deadline = time.perf_counter() + 10
        return await asyncio.gather(*(batcher.parse_many(g, deadline) for g in groups))

    try:
        answers = asyncio.run(main())
    finally:
        batcher.close()
    calls = next(s.value for s in metrics.batch_size.collect()[0].samples if s.name.endswith("_count"))
    assert calls < len(groups)  # jobs of several texts were gathered with others into one call
    for group, got in zip(groups, answers, strict=True):
        assert [p.text for p in got] == group
        assert [p.intent for p in got] == [predictor.parse(t).intent for t in group]


def test_a_batch_request_counts_against_the_same_admission_bound(texts: list[str]) -> None:
    batcher, gate = held_batcher(max_batch=16, max_queue=2)

    async def main() -> list:
        deadline = time.perf_counter() + 10
        first = [asyncio.ensure_future(batcher.parse_many(texts[:8], deadline)),
                 asyncio.ensure_future(batcher.parse(texts[8], deadline))]
        await asyncio.sleep(0.05)
        with pytest.raises(OverloadedError, match="already in progress"):
            await batcher.parse_many(texts[9:12], deadline)  # two requests in progress: refused at once
        gate.set()
        return await asyncio.gather(*first)

    try:
        batch, single = asyncio.run(main())
    finally:
        batcher.close()
    assert len(batch) == 8 and single.text == texts[8]
