"""Load on the NLU service with MASSIVE test utterances: mostly ``/parse``, some ``/parse/batch``, rare ``/health``.

    locust --headless -f loadtest/locustfile.py --host http://127.0.0.1:8000 -u 10 -r 5 -t 60s

Every response is checked (status 200 and body shape); a wrong one is a failure in the stats. The
server-side time of each request (``x-process-time-ms``) is collected too and summarised at the end,
so client time (queueing, network, locust itself) can be told apart from time spent in the service.

Environment: ``ELMOL_MASSIVE`` (data file), ``ELMOL_STEP_LOAD=1`` (step users up, see ``StepLoad``),
``ELMOL_SERVER_TIMING_OUT`` (write the server-side summary as JSON to this path).
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks import batch_problem, health_problem, parse_problem
from locust import FastHttpUser, LoadTestShape, between, events, task

from elmol_nlu.datasets import read_massive

log = logging.getLogger("loadtest")
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ELMOL_MASSIVE", ROOT / "data" / "massive" / "en-US.jsonl"))
TEXTS = [e.text for e in read_massive(DATA, "test") if e.text.strip()]
BATCH = 8
Check = Callable[[Any], str | None]  # a response body to what is wrong with it, or None
SERVER_MS: defaultdict[str, list[float]] = defaultdict(list)  # per endpoint, this process only


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q / 100 * len(sorted_ms)))]


def server_summary() -> dict[str, dict[str, float]]:
    out = {}
    for name, ms in SERVER_MS.items():
        s = sorted(ms)
        out[name] = {"n": len(s), **{f"p{q}": percentile(s, q) for q in (50, 90, 99)}, "mean": sum(s) / len(s)}
    return out


@events.test_stop.add_listener
def report_server_time(**_: Any) -> None:
    summary = server_summary()
    for name, s in summary.items():
        log.info("server-side %s: n=%d p50=%.2f p90=%.2f p99=%.2f mean=%.2f ms",
                 name, s["n"], s["p50"], s["p90"], s["p99"], s["mean"])
    if out := os.environ.get("ELMOL_SERVER_TIMING_OUT"):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(summary, indent=1) + "\n")


class NluUser(FastHttpUser):
    """A client of the assistant: one utterance at a time, with short pauses between them."""

    wait_time = between(0.05, 0.2)

    def _call(self, method: str, path: str, check: Check, payload: dict | None = None) -> None:
        with self.client.request(method, path, json=payload, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}: {(r.text or '')[:120]}")
                return
            try:
                bad = check(r.json())
            except (ValueError, KeyError, TypeError, AttributeError) as e:  # not JSON, or a field of the wrong type
                bad = f"malformed body: {e!r:.120}"
            if bad:
                r.failure(bad)
            elif ms := r.headers.get("x-process-time-ms"):
                SERVER_MS[path].append(float(ms))

    @task(40)
    def parse(self) -> None:
        text = random.choice(TEXTS)
        self._call("POST", "/parse", lambda body: parse_problem(body, text), {"text": text})

    @task(3)
    def parse_batch(self) -> None:
        texts = random.sample(TEXTS, BATCH)
        self._call("POST", "/parse/batch", lambda body: batch_problem(body, texts), {"texts": texts})

    @task(1)
    def health(self) -> None:
        self._call("GET", "/health", health_problem)


if os.environ.get("ELMOL_STEP_LOAD") == "1":
    # Defined only on request: locust uses any shape class it finds, and then ignores -u, -r and -t.
    class StepLoad(LoadTestShape):
        """Users in steps (``ELMOL_STEP_USERS``, default 5,10,20,40), ``ELMOL_STEP_SECONDS`` each, then stop."""

        users = tuple(int(u) for u in os.environ.get("ELMOL_STEP_USERS", "5,10,20,40").split(","))
        seconds = float(os.environ.get("ELMOL_STEP_SECONDS", "30"))
        spawn_rate = float(os.environ.get("ELMOL_STEP_RATE", "10"))

        def tick(self) -> tuple[int, float] | None:
            step = int(self.get_run_time() // self.seconds)
            return (self.users[step], self.spawn_rate) if step < len(self.users) else None
