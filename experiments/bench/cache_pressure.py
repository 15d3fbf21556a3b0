"""How much of a request's time is the core's cache being too small for the model?

    python -m experiments.bench.cache_pressure              # 2,000 MASSIVE test utterances (seed 0), 3 rounds

Two parts, each timed per utterance at batch 1 on one thread, after reading a buffer of each size in
``--sweep-mb`` (which evicts that much of the cache and does nothing else; the read is not timed):

1. **The graphs.** One onnxruntime call of each int8 graph: alone, call after call (its weights stay
   cached); after the other graph, as a request runs them; after each buffer read. If "after the other
   graph" matches the read of about the other graph's size, the slowdown is cache capacity, not its work.
   Then the joined graph (``export.join``, what a lone utterance runs) against the two calls in a row.
2. **The app's own path.** Whole POST /parse requests through the real app (in process, as
   ``bench.app_overhead``) with the graphs' outputs replayed from a table filled by a first pass, so that
   only Python runs: middleware, validation, tokenizing, the CRF, the answer. After a read of about the
   graphs' weights, this is what the rest of a request pays for sharing the core's cache with them.

Prints microseconds (median of the rounds) and the L2 size Linux reports. Writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import tokenize
from experiments.bench.corpus import DEFAULT_DATA, load_texts

L2_SIZE = Path("/sys/devices/system/cpu/cpu0/cache/index2/size")


def timed(call: Callable[[int], object], between: Callable[[int], object] | None, n: int, rounds: int) -> float:
    """Median over rounds of the mean microseconds of ``call(i)``, i = 0..n-1, each after ``between(i)`` (untimed)."""
    results = []
    for _ in range(rounds):
        spent = 0.0
        for i in range(n):
            if between is not None:
                between(i)
            started = time.perf_counter()
            call(i)
            spent += time.perf_counter() - started
        results.append(1e6 * spent / n)
    return statistics.median(results)


def weight_mb(path: Path) -> float:
    import onnx  # export extra; only for the sizes printed
    from onnx import numpy_helper

    return sum(numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer) / 2**20


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.cache_pressure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--n", type=int, default=2000, help="utterances")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sweep-mb", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 4.0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    predictor = Predictor.load(args.model_dir, precision="int8")
    encoder, heads = predictor.encoder.session, predictor.primary.session
    texts = load_texts(DEFAULT_DATA, args.seed)[: args.n]
    feeds = []
    for text in texts:
        tokens = tokenize(text)
        vectors = predictor.encoder.token_cache.lookup([t.text for t in tokens])[None]
        lengths = np.array([len(tokens)], dtype=np.int64)
        layers = encoder.run(None, {"tokens": vectors, "lengths": lengths})[0]
        feeds.append(({"tokens": vectors, "lengths": lengths}, {"layers": layers, "lengths": lengths}))
    graphs: dict[str, tuple[ort.InferenceSession, int]] = {"encoder": (encoder, 0), "heads": (heads, 1)}
    sizes = {name: weight_mb(predictor.manifest.graph_path(name, "int8", True)) for name in graphs}
    l2 = L2_SIZE.read_text().strip() if L2_SIZE.exists() else "unknown"
    print(f"{len(feeds)} utterances, batch 1, one thread; L2 per core {l2}; int8 weights: "
          + ", ".join(f"{name} {mb:.2f} MiB" for name, mb in sizes.items()))
    buffers = {mb: np.ones(int(mb * 2**20) // 8) for mb in args.sweep_mb}
    n = len(feeds)
    for name, (session, slot) in graphs.items():
        other, other_slot = next(v for k, v in graphs.items() if k != name)

        def call(i: int, session: ort.InferenceSession = session, slot: int = slot) -> object:
            return session.run(None, feeds[i][slot])

        def other_call(i: int, other: ort.InferenceSession = other, other_slot: int = other_slot) -> object:
            return other.run(None, feeds[i][other_slot])

        print(f"{name}: alone {timed(call, None, n, args.rounds):.1f} us; "
              f"after the other graph {timed(call, other_call, n, args.rounds):.1f} us")
        for mb, buf in buffers.items():
            print(f"{name}: after reading {mb:.1f} MiB {timed(call, lambda i, b=buf: b.sum(), n, args.rounds):.1f} us")
    if predictor.joined is not None:
        print_joined(predictor.joined, encoder, heads, feeds, buffers[max(buffers)], args.rounds)
    for mb, us in asyncio.run(app_path(args.model_dir, texts, [0.0, *args.sweep_mb], args.rounds)).items():
        print(f"app's own path, graphs replayed: after reading {mb:.1f} MiB {us:.1f} us a request")


def print_joined(joined: ort.InferenceSession, encoder: ort.InferenceSession, heads: ort.InferenceSession,
                 feeds: list[tuple[dict, dict]], buffer: np.ndarray, rounds: int) -> None:
    """The joined graph (what a lone utterance runs) against the encoder and heads calls one after the other."""
    def one(i: int) -> object:
        return joined.run(None, feeds[i][0])

    def two(i: int) -> object:
        layers = encoder.run(None, feeds[i][0])[0]
        return heads.run(None, {"layers": layers, "lengths": feeds[i][0]["lengths"]})

    mb = buffer.nbytes / 2**20
    for name, call in (("joined graph", one), ("encoder then heads", two)):
        print(f"{name}: alone {timed(call, None, len(feeds), rounds):.1f} us; after reading {mb:.1f} MiB "
              f"{timed(call, lambda i: buffer.sum(), len(feeds), rounds):.1f} us")


class Replayed:
    """A session's outputs by input bytes: the first call of each input runs the graph, later ones look it up."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.outputs: dict[tuple, list] = {}

    def run(self, names: list[str] | None, feed: dict[str, np.ndarray]) -> list:
        key = tuple((k, v.shape, v.tobytes()) for k, v in sorted(feed.items()))
        if key not in self.outputs:
            self.outputs[key] = self.session.run(names, feed)
        return self.outputs[key]


async def app_path(model_dir: Path, texts: list[str], sweep_mb: list[float], rounds: int) -> dict[float, float]:
    """Median microseconds of a whole request with the graphs replayed, after reading each buffer size."""
    from experiments.bench.app_overhead import call
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(model_dir=model_dir, precision="int8"))
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    results: dict[float, list[float]] = {mb: [] for mb in sweep_mb}
    async with app.router.lifespan_context(app):
        serving = app.state.reloader.current
        predictor = serving.predictor
        encoder, heads = predictor.encoder, predictor.primary
        encoder.session, heads.session = Replayed(encoder.session), Replayed(heads.session)
        encoder.token_session = Replayed(encoder.token_session)
        if predictor.joined is not None:  # what a lone utterance runs (export.join)
            graphs = replace(predictor.graphs, joined=Replayed(predictor.joined))
            app.state.reloader.current = replace(serving, predictor=replace(predictor, graphs=graphs))
        for body in bodies:  # fills the tables (and the token cache)
            await call(app, body)
        for _ in range(rounds):
            for mb in sweep_mb:
                buf = np.ones(int(mb * 2**20) // 8)
                spent = 0.0
                for body in bodies:
                    buf.sum()
                    started = time.perf_counter()
                    if await call(app, body) != 200:
                        raise SystemExit("the app did not answer 200")
                    spent += time.perf_counter() - started
                results[mb].append(1e6 * spent / len(bodies))
    return {mb: statistics.median(values) for mb, values in results.items()}


if __name__ == "__main__":
    main()
