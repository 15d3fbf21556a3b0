"""Do the served graphs slow each other down by evicting each other's weights from the core's cache?

    python -m bench.cache_pressure              # 2,000 MASSIVE test utterances (seed 0), 3 rounds

Times one onnxruntime call of each int8 graph per utterance (batch 1, one thread), run four ways: the
graph alone, call after call (its weights stay cached); alternated with the other graph, as a request
runs them; and alternated with a read of a buffer of each size in ``--sweep-mb`` instead (which evicts
that much of the cache and nothing else; the read's own time, measured alone, is taken off). If the
alternated figure matches the sweep of about the other graph's size, the slowdown is cache capacity, not
the other graph's work. Prints microseconds per call (median of the rounds) and the core's L2 size as
Linux reports it. Writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.corpus import DEFAULT_DATA, load_texts
from elmol_nlu.text import tokenize
from service.predictor import Predictor

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
    p = argparse.ArgumentParser(prog="python -m bench.cache_pressure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=Path("models/default"))
    p.add_argument("--n", type=int, default=2000, help="utterances")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sweep-mb", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 4.0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    predictor = Predictor(args.model_dir, precision="int8")
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


if __name__ == "__main__":
    main()
