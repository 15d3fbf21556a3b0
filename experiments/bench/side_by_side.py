"""Two models' in-process latency at batch 1, side by side in one run: a new default against the one it replaces.

    python -m experiments.bench.side_by_side --models runs/models/old models/default --labels before after

Each model is loaded once with one onnxruntime thread (the service's default) and served precision (auto:
int8 when its gate passed). The models take turns in rounds of ``--per-round`` parses of the same MASSIVE test
utterances, so that drift of the machine falls on both alike. Writes ``--out`` (JSON) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from elmol_nlu.runtime import Predictor
from experiments.bench.corpus import DEFAULT_DATA, load_texts, take
from experiments.bench.report import context
from experiments.bench.stats import summarize

log = logging.getLogger("bench.side_by_side")
MAX_P50_RATIO = 1.20  # issue 28: the new default's p50 within +20% of the old one's


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, nargs=2, required=True, help="the old and the new model directory")
    p.add_argument("--labels", nargs=2, default=["before", "after"])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--per-round", type=int, default=200)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bar", type=float, default=MAX_P50_RATIO, help="the largest p50 ratio new / old that passes")
    p.add_argument("--out", type=Path, default=Path("reports/default_side_by_side.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = load_texts(args.data, args.seed)
    predictors = {label: Predictor.load(d, precision="auto", threads=1)
                  for label, d in zip(args.labels, args.models, strict=True)}
    for predictor in predictors.values():
        for text in take(texts, args.warmup):
            predictor.parse(text)
    timed: dict[str, list[float]] = {label: [] for label in predictors}
    for r in range(args.rounds):
        batch = take(texts, args.per_round, skip=r * args.per_round)
        for label in (args.labels if r % 2 == 0 else args.labels[::-1]):
            predictor = predictors[label]
            for text in batch:
                started = time.perf_counter()
                predictor.parse(text)
                timed[label].append(1000 * (time.perf_counter() - started))
    result = {**context(predictors[args.labels[1]].manifest), "args": {k: str(v) for k, v in vars(args).items()},
              "models": {label: {"dir": str(d), "name": predictors[label].manifest.name,
                                 "version": predictors[label].manifest.version,
                                 "precision": predictors[label].precision, "ms": summarize(timed[label])}
                         for label, d in zip(args.labels, args.models, strict=True)}}
    old, new = (result["models"][label]["ms"]["p50"] for label in args.labels)
    result["p50_ratio"], result["max_p50_ratio"] = new / old, args.bar
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for label, m in result["models"].items():
        print(f"{label}: {m['name']} {m['version']} ({m['precision']}): p50 {m['ms']['p50']:.3f} ms, "
              f"p99 {m['ms']['p99']:.3f} ms")
    print(f"p50 ratio {result['p50_ratio']:.3f} (bar {args.bar})")


if __name__ == "__main__":
    main()
