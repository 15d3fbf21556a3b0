"""The CRF's loops over tokens, compiled (``elmol_nlu._crf``) against numpy, on the shipped model's own
emissions: Viterbi, and the posterior's forward-backward passes.

    python -m experiments.bench.crf                         # 2,000 MASSIVE test utterances (seed 0), 3 rounds

Runs the served graphs once over the utterances to get their slot emissions, then times, per utterance,
with ``compiled=True`` and ``compiled=False`` (interleaved by round): Viterbi decoding, the posterior's
forward pass, and forward + whole backward pass (as a slot starting the utterance asks). Prints the median
microseconds of each, and how many utterances the posterior's scaled tables kept in range; checks that both
Viterbis give the same paths and both posteriors the same marginals (to 1e-9). Writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from elmol_nlu import crf, posterior
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import tokenize
from experiments.bench.corpus import DEFAULT_DATA, load_texts


def emissions_of(predictor: Predictor, texts: list[str]) -> list[np.ndarray]:
    out = []
    for text in tqdm(texts, desc="emissions", unit="utt"):
        tokens = tokenize(text)
        _, emissions = predictor.run([tokens])
        out.append(np.ascontiguousarray(emissions[0, : len(tokens)]))
    return out


def per_call_us(fn: Callable[[np.ndarray], object], inputs: list[np.ndarray]) -> float:
    started = time.perf_counter()
    for x in inputs:
        fn(x)
    return 1e6 * (time.perf_counter() - started) / len(inputs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.crf", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--n", type=int, default=2000, help="utterances")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not crf.COMPILED:
        raise SystemExit("elmol_nlu._crf is not built: reinstall the package (pip install -e .) with a C compiler")
    predictor = Predictor.load(args.model_dir, precision="auto")
    m = predictor.manifest
    inputs = emissions_of(predictor, load_texts(DEFAULT_DATA, args.seed)[: args.n])
    decoders = {compiled: crf.ViterbiDecoder(m.tags, m.crf_start, m.crf_transitions, m.crf_end, compiled=compiled)
                for compiled in (True, False)}
    posteriors = {compiled: posterior.CRFPosterior(m.tags, m.crf_start, m.crf_transitions, m.crf_end,
                                                   m.temperature("crf"), compiled=compiled)
                  for compiled in (True, False)}
    if [decoders[True].decode(x) for x in inputs] != [decoders[False].decode(x) for x in inputs]:
        raise SystemExit("compiled and numpy Viterbi disagree")
    scaled = 0  # sentences whose scaled tables stay in range (the rest take the log-space tables)
    for x in inputs:
        post, reference = (posteriors[compiled].posterior(x) for compiled in (True, False))
        if not np.allclose(post.marginals, reference.marginals, rtol=0, atol=1e-9):
            raise SystemExit("compiled and numpy forward-backward disagree")
        scaled += post.in_range
    timed: dict[str, Callable[[np.ndarray], object]] = {}
    for compiled, label in ((True, "C"), (False, "numpy")):
        timed[f"viterbi, {label}"] = decoders[compiled].decode
    for compiled, label in ((True, "C"), (False, "numpy")):
        timed[f"forward, {label}"] = posteriors[compiled].posterior
        timed[f"forward + backward, {label}"] = lambda x, p=posteriors[compiled]: p.posterior(x).beta(0)
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, fn in timed.items():
            times[name].append(per_call_us(fn, inputs))
    lengths = [len(x) for x in inputs]
    print(f"{len(inputs)} utterances, {statistics.mean(lengths):.1f} tokens on average, {len(m.tags)} tags; "
          f"median of {args.rounds} rounds, us per utterance")
    for name, values in times.items():
        print(f"{name:<28}{statistics.median(values):7.1f}")
    print(f"posterior: {scaled} of {len(inputs)} utterances on the scaled tables, {len(inputs) - scaled} on the "
          "log-space ones")
    for what in ("viterbi", "forward + backward"):
        ratio = statistics.median(times[f"{what}, numpy"]) / statistics.median(times[f"{what}, C"])
        print(f"{what}: C {ratio:.1f}x faster than numpy")

if __name__ == "__main__":
    main()
