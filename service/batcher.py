"""Dynamic micro-batching under deadlines: requests queue, worker threads take what has gathered (up to a
maximum batch, optionally waiting a few microseconds for more) and run it in one predictor call.

With ``threads=0`` single utterances run on the event loop itself: a request schedules a drain, which runs
after the loop has handed every request already received to the batcher, so they still share calls. That
saves the thread hand-offs and GIL contention of each request (at a millisecond a parse, they are a large
part of it on one core), at the price of a loop that does nothing else while the model runs, which is why
jobs of several texts (``/parse/batch``, up to tens of milliseconds) still go to one worker thread.
With threads and ``loop_max_in_progress=n``, a single utterance runs on the loop while at most n requests
are in progress (it included), and on the threads beyond: the loop's short path at light and moderate
load, and a loop left free to read (and answer probes) when a flood fills the queue.

The batch function maps texts, and a selection per text (which skills may answer it; opaque here), to one
result each (the app's: a parse and the model that made it).
Work that would finish past its request's deadline is shed with ``OverloadedError`` instead of served late,
and the queue is bounded, so a burst costs 503s, not memory or everyone's latency.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.metrics import Metrics

log = logging.getLogger("service.batcher")


class OverloadedError(Exception):
    """The request was refused to keep the latency budget: "queue full", "deadline" (would finish late)
    or "late" (finished late after all: the answer is dropped rather than served past the deadline)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Job:
    texts: list[str]  # one for /parse; a /parse/batch request is one job of many texts, run in one call
    deadline: float  # time.perf_counter() by which the answer is due
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)
    selection: Any = None  # passed to the batch function with each of the job's texts


def settle(job: Job, result: Any, error: BaseException | None) -> None:
    """On the event loop: hand the outcome over, unless the client went away and it was cancelled."""
    if job.future.done():
        return
    if error is None:
        job.future.set_result(result)
    else:
        job.future.set_exception(error)


def from_thread(job: Job, result: Any, error: BaseException | None) -> None:
    """From a worker thread: settle on the job's event loop."""
    job.loop.call_soon_threadsafe(settle, job, result, error)


Deliver = Callable[[Job, Any, "BaseException | None"], None]


class MicroBatcher:
    def __init__(self, parse_batch: Callable[[list[str], list[Any]], list[Any]], metrics: Metrics, max_batch: int,
                 max_wait_us: int, max_queue: int, threads: int, loop_max_in_progress: int = 0) -> None:
        self._parse_batch = parse_batch
        self._metrics = metrics
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_us / 1e6, max_queue
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()  # C, a fraction of Queue's locking
        self.pending = 0
        self._per_utterance = 0.002  # seconds, running estimate of model time per utterance in a batch
        # single texts run on the event loop while at most this many requests are in progress; longer jobs,
        # and single texts beyond it, on the threads (with threads=0, one thread for the longer jobs only)
        self.loop_max_in_progress = math.inf if threads == 0 else loop_max_in_progress
        self._loop_jobs: collections.deque[Job] = collections.deque()  # single texts waiting for the next drain
        self._drain_scheduled = False
        metrics.queue_depth.set_function(lambda: self.pending)
        self._threads = [threading.Thread(target=self._work, name=f"batcher-{i}", daemon=True)
                         for i in range(max(threads, 1))]
        for t in self._threads:
            t.start()

    def queue_full_error(self) -> OverloadedError:
        self._metrics.shed.labels("queue full").inc()
        return OverloadedError("queue full", f"{self.max_queue} requests are already in progress")

    @property
    def full(self) -> bool:
        """As many requests admitted and not yet answered as allowed: queued, in the model, or waiting for the
        event loop to deliver their answer. Bounding all three keeps the loop itself from falling behind."""
        return self.pending >= self.max_queue

    async def parse(self, text: str, deadline: float, selection: Any = None) -> Any:
        return (await self.parse_many([text], deadline, selection))[0]

    async def parse_many(self, texts: list[str], deadline: float, selection: Any = None) -> list[Any]:
        """Results of ``texts`` in order, from one model call, admitted and shed as one request."""
        if self.full:
            raise self.queue_full_error()
        loop = asyncio.get_running_loop()
        job = Job(list(texts), deadline, loop, loop.create_future(), selection)
        self.pending += 1  # only the event loop thread counts, so no lock is needed
        try:
            if len(job.texts) == 1 and self.pending <= self.loop_max_in_progress:
                self._loop_jobs.append(job)
                self._schedule_drain(loop)
            else:
                self._queue.put(job)
            return await job.future
        finally:
            self.pending -= 1

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def _schedule_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._drain_scheduled:
            return
        self._drain_scheduled = True
        # call_soon runs after the callbacks already ready: the other requests read in this loop iteration
        if self.max_wait > 0:
            loop.call_later(self.max_wait, self._drain, loop)
        else:
            loop.call_soon(self._drain, loop)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the event loop: one batch of the waiting jobs (up to ``max_batch``); what is left waits for
        another drain, so the loop reads and answers in between."""
        self._drain_scheduled = False
        batch: list[Job] = []
        while self._loop_jobs and len(batch) < self.max_batch:  # one text a job
            job = self._loop_jobs.popleft()
            if not job.future.done():  # cancelled: the client went away
                batch.append(job)
        self._serve(batch, deliver=settle)
        if self._loop_jobs:
            self._schedule_drain(loop)

    def _work(self) -> None:
        while (batch := self._gather()) is not None:
            self._serve(batch, deliver=from_thread)

    def _serve(self, batch: list[Job], deliver: Deliver) -> None:
        if live := self._shed_late(batch, deliver):
            self._run(live, deliver)

    def _gather(self) -> list[Job] | None:
        """Block for one job, then take what else is queued, waiting at most ``max_wait`` for more."""
        first = self._queue.get()
        if first is None:
            return None
        batch, size = [first], len(first.texts)
        until = time.perf_counter() + self.max_wait
        while size < self.max_batch:
            try:
                wait = until - time.perf_counter()
                job = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:  # closing: let the other threads see it too
                self._queue.put(None)
                break
            batch.append(job)
            size += len(job.texts)
        return batch

    def _shed_late(self, batch: list[Job], deliver: Deliver) -> list[Job]:
        """Keep, first come first served, the jobs that the call would still answer by every kept job's
        deadline; refuse the others. The call's time is estimated per utterance kept.

        The estimate only moves when the model runs, so one stalled call could otherwise make it refuse
        everything for ever: when it would refuse every job still in time, the most patient one runs anyway.
        """
        now = time.perf_counter()
        live: list[Job] = []
        due, kept_texts = math.inf, 0  # the earliest deadline among the kept jobs, and their texts
        for job in batch:
            if now + self._per_utterance * (kept_texts + len(job.texts)) <= min(due, job.deadline):
                live.append(job)
                due, kept_texts = min(due, job.deadline), kept_texts + len(job.texts)
        if not live and (in_time := [job for job in batch if now < job.deadline]):
            live = [max(in_time, key=lambda job: job.deadline)]
        kept = {id(job) for job in live}  # by identity: jobs are dataclasses that compare by value
        for job in batch:
            if id(job) not in kept:
                self._metrics.shed.labels("deadline").inc()
                error = OverloadedError("deadline", "the request could not be answered within its deadline")
                deliver(job, None, error)
        return live

    def _run(self, jobs: list[Job], deliver: Deliver) -> None:
        texts = [t for j in jobs for t in j.texts]
        selections = [j.selection for j in jobs for _ in j.texts]
        started = time.perf_counter()
        try:
            parses: list[Any] = list(self._parse_batch(texts, selections))
            error = None
        except Exception as e:  # one bad batch must not stop the worker; the route turns it into a 500
            log.exception("model call failed for %d utterances", len(texts))
            parses, error = [None] * len(texts), e
        seconds = time.perf_counter() - started
        self._per_utterance = 0.8 * self._per_utterance + 0.2 * seconds / len(texts)
        offset = 0
        for job in jobs:
            results = parses[offset : offset + len(job.texts)]
            offset += len(job.texts)
            deliver(job, results, error)
        self._metrics.batch_size.observe(len(texts))  # once the answers are on their way
        self._metrics.model_seconds.observe(seconds)
