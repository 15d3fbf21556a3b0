"""One model three ways, side by side in one run: PyTorch eager, ONNX fp32 and ONNX int8, per utterance.

    python -m experiments.bench.predictor     # the committed checkpoint and the shipped model, 1 thread
    python -m experiments.bench.predictor --n 500 --rounds 3

The checkpoint is the one the model directory was exported from (``make export``). Each way turns the same
MASSIVE test utterances (seed 0) into an intent and BIO tags, on one thread:

- PyTorch eager: tokenize, character ids, ``JointNLU.forward`` (char CNN included) and the CRF's Viterbi
  (``training.crf``), as the export's parity check runs it (``export.parity.torch_outputs``);
- ONNX fp32 and int8: ``elmol_nlu.runtime.Predictor`` as the service runs it (cached word vectors, the joined
  int8 graph, the C Viterbi), with the CRF confidences off so that all three do the same work.

Timed at batch 1 by utterance length (<=5, 6-10, 11+ tokens) and in batches of 8 and 32 (milliseconds an
utterance): p50, p99 and utterances/s, with each ONNX way's speed-up over PyTorch in the same run. The ways
take turns within each round, so a drift of the machine's speed reaches all three alike. Also prints how
often each ONNX way gives PyTorch's intent and tags. Writes ``reports/predictor.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import tokenize
from experiments.bench.corpus import DEFAULT_DATA, load_texts, take
from experiments.bench.inprocess import BUCKETS, bucket_of
from experiments.bench.report import context
from experiments.bench.stats import summarize

log = logging.getLogger("bench.predictor")
WAYS = ("pytorch", "onnx-fp32", "onnx-int8")
Parser = Callable[[list[str]], list[tuple[str, list[str]]]]  # texts -> (intent, tags) each


def pytorch_parser(checkpoint: Path, threads: int) -> Parser:
    import torch

    from export.parity import torch_outputs
    from export.to_onnx import load_nlu

    torch.set_num_threads(threads)
    model, state = load_nlu(checkpoint)
    intents, tags = state["intents"], state["tags"]

    def parse(texts: list[str]) -> list[tuple[str, list[str]]]:
        logits, _, paths = torch_outputs(model, [tokenize(text) for text in texts])
        return [(intents[int(i)], [tags[k] for k in path]) for i, path in zip(logits.argmax(1), paths, strict=True)]

    return parse


def onnx_parser(model_dir: Path, threads: int, precision: str) -> Parser:
    predictor = Predictor.load(model_dir, threads=threads, precision=precision, confidences=False)

    def parse(texts: list[str]) -> list[tuple[str, list[str]]]:
        return [(p.intent, p.tags) for p in predictor.parse_batch(texts)]

    return parse


def timed_calls(parse: Parser, chunks: list[list[str]]) -> list[float]:
    """Milliseconds of ``parse`` on each chunk, one after the other."""
    ms = []
    for chunk in chunks:
        started = time.perf_counter()
        parse(chunk)
        ms.append(1000 * (time.perf_counter() - started))
    return ms


def measure(parsers: dict[str, Parser], texts: list[str], n: int, batches: list[int], rounds: int,
            warmup: int) -> dict:
    """Per way: batch 1 (all, and by length bucket) and each batch size, ms an utterance; ways take turns."""
    singles = [[t] for t in take(texts, n, skip=warmup)]
    batched = {b: [take(texts, b, skip=warmup + i * b) for i in range(max(n // b, 10))] for b in batches}
    for parse in parsers.values():
        timed_calls(parse, [[t] for t in take(texts, warmup)])  # first calls, allocations, new words
    single_ms = {way: [] for way in parsers}
    batch_ms = {way: {b: [] for b in batches} for way in parsers}
    for r in range(rounds):
        order = list(parsers) if r % 2 == 0 else list(parsers)[::-1]
        for way in order:
            single_ms[way] += timed_calls(parsers[way], singles)
            for b, chunks in batched.items():
                batch_ms[way][b] += [ms / b for ms in timed_calls(parsers[way], chunks)]
    lengths = [bucket_of(len(tokenize(chunk[0]))) for chunk in singles] * rounds
    result = {}
    for way in parsers:
        by_bucket = {name: summarize([ms for ms, bucket in zip(single_ms[way], lengths, strict=True) if bucket == name])
                     for name, _, _ in BUCKETS}
        result[way] = {"batch_1": {"all": summarize(single_ms[way]), "by_tokens": by_bucket},
                       "batched_per_utt": {str(b): summarize(batch_ms[way][b]) for b in batches}}
    return result


def agreement(parsers: dict[str, Parser], texts: list[str]) -> dict[str, dict[str, float]]:
    """Share of utterances on which each ONNX way gives PyTorch's intent, and its tags."""
    reference = parsers["pytorch"](texts)
    out = {}
    for way in (w for w in parsers if w != "pytorch"):
        answers = [a for i in range(0, len(texts), 32) for a in parsers[way](texts[i : i + 32])]
        out[way] = {"intent": float(np.mean([a[0] == r[0] for a, r in zip(answers, reference, strict=True)])),
                    "tags": float(np.mean([a[1] == r[1] for a, r in zip(answers, reference, strict=True)]))}
    return out


def table(result: dict, batches: list[int]) -> str:
    rows = [("batch 1, all", lambda w: result[w]["batch_1"]["all"])]
    rows += [(f"batch 1, {name} tokens", lambda w, name=name: result[w]["batch_1"]["by_tokens"][name])
             for name, _, _ in BUCKETS]
    rows += [(f"batch {b}, per utterance", lambda w, b=b: result[w]["batched_per_utt"][str(b)]) for b in batches]
    head = f"{'ms an utterance':<26}" + "".join(f"{w + ' p50':>16}{'p99':>8}{'utt/s':>8}" for w in WAYS)
    head += "".join(f"{w.removeprefix('onnx-') + ' vs torch':>14}" for w in WAYS[1:])
    lines = [head]
    for name, get in rows:
        line = f"{name:<26}" + "".join(f"{get(w)['p50']:>16.3f}{get(w)['p99']:>8.3f}{get(w)['per_s']:>8.0f}"
                                       for w in WAYS)
        line += "".join(f"{get('pytorch')['p50'] / get(w)['p50']:>13.1f}x" for w in WAYS[1:])
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.predictor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--seed", type=int, default=0, help="order of the utterances")
    p.add_argument("--n", type=int, default=1000, help="timed batch-1 utterances a round and way")
    p.add_argument("--batches", type=int, nargs="*", default=[8, 32])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="PyTorch and onnxruntime intra-op threads")
    p.add_argument("--out", type=Path, default=Path("reports/predictor.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = load_texts(args.data, args.seed)
    report = context(load_manifest(args.model_dir))
    parsers = {"pytorch": pytorch_parser(args.checkpoint, args.threads),
               "onnx-fp32": onnx_parser(args.model_dir, args.threads, "fp32"),
               "onnx-int8": onnx_parser(args.model_dir, args.threads, "int8")}
    log.info("%d rounds of %d utterances at batch 1 and in batches of %s, ways in turn", args.rounds, args.n,
             args.batches)
    result = measure(parsers, texts, args.n, args.batches, args.rounds, args.warmup)
    same = agreement(parsers, texts[: args.n])
    import torch

    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report.update({"torch": torch.__version__, "ways": result, "agreement_with_pytorch": same,
                   "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(result, args.batches))
    print("same intent / tags as PyTorch: " + ", ".join(
        f"{way} {100 * s['intent']:.1f}% / {100 * s['tags']:.1f}%" for way, s in same.items()))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
