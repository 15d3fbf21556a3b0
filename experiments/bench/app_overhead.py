"""What the app costs per /parse besides the model, in process: ASGI calls straight into it, no sockets.

    python -m experiments.bench.app_overhead          # thread, hybrid (default), loop: 2,000 requests, 3 rounds
    python -m experiments.bench.app_overhead --targets int8-loop --n 5000

Builds the real app (``create_app``, lifespan run, shipped model), then awaits it with one POST /parse at
a time, MASSIVE test utterances (seed 0), and times the whole request and, apart, the predictor's
``parse_batch`` inside it. The difference is the app's own work: middleware, validation, batcher hand-off,
answer encoding. No network and no uvicorn (``bench.latency`` and ``bench.server`` measure those), so the
figure moves only with the app's code and the machine. Prints a line per round; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from elmol_nlu.paths import DEFAULT_MODEL_DIR
from experiments.bench.corpus import DEFAULT_DATA, load_texts
from experiments.bench.server import INT8_TARGETS, SCHEDULERS, TARGETS

HEADERS = [(b"host", b"bench"), (b"content-type", b"application/json")]


async def call(app: Any, body: bytes) -> int:
    """One POST /parse through the ASGI app; returns the status."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/parse", "raw_path": b"/parse", "query_string": b"", "root_path": "",
             "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect: the request is answered first
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        nonlocal status
        status = message.get("status", status)

    await app(scope, receive, send)
    return status


async def rounds(env: dict[str, str], model_dir: Path, texts: list[str], n: int,
                 n_rounds: int) -> list[tuple[float, float]]:
    """(ms per request, ms of it in the predictor) for each round, with the settings ``env`` adds."""
    for name in {name for _, target_env in TARGETS.values() for name in target_env}:
        os.environ.pop(name, None)  # another target's
    os.environ.update(env)
    from service import predictor
    from service.app import create_app
    from service.settings import Settings

    spent = [0.0]
    parse_batch = predictor.Predictor.parse_batch

    def timed(self: predictor.Predictor, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return parse_batch(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    predictor.Predictor.parse_batch = timed  # type: ignore[method-assign]
    try:
        app = create_app(Settings(model_dir=model_dir))
        bodies = [json.dumps({"text": t}).encode() for t in texts]
        results = []
        async with app.router.lifespan_context(app):
            for body in bodies[:300]:  # warm up: caches, first allocations
                await call(app, body)
            for r in range(n_rounds):
                chunk = [bodies[(300 + r * n + i) % len(bodies)] for i in range(n)]
                spent[0] = 0.0
                started = time.perf_counter()
                statuses = [await call(app, body) for body in chunk]
                wall = time.perf_counter() - started
                if set(statuses) != {200}:
                    raise SystemExit(f"statuses {sorted(set(statuses))}: the app did not answer every request")
                results.append((1000 * wall / n, 1000 * spent[0] / n))
        return results
    finally:
        predictor.Predictor.parse_batch = parse_batch  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.app_overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--targets", nargs="+", default=SCHEDULERS, choices=INT8_TARGETS,
                   help="bench.server's targets: the batcher settings")
    p.add_argument("--n", type=int, default=2000, help="requests per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    texts = load_texts(DEFAULT_DATA, args.seed)
    for name in args.targets:
        results = asyncio.run(rounds(TARGETS[name][1], args.model_dir, texts, args.n, args.rounds))
        for wall, model in results:
            print(f"{name}: {wall:.3f} ms a request, {model:.3f} in the predictor, {wall - model:.3f} the app's own")
        print(f"{name}: median of {args.rounds} rounds, the app's own "
              f"{statistics.median(w - m for w, m in results):.3f} ms a request")


if __name__ == "__main__":
    main()
