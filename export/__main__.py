"""Export a trained NLU checkpoint to an ONNX model directory and check parity with PyTorch.

    python -m export --checkpoint runs/nlu/nlu.pt --out models/default

Parity runs PyTorch and onnxruntime on MASSIVE test utterances of mixed lengths at batch 1 and 8;
its figures go into the manifest, and a failure exits non-zero without leaving a manifest behind.
Then the int8 graphs are written and gated on dev against fp32 (test read after, for the record), as ``variants.int8``;
last, the confidence temperatures are fitted on the dev split (``calibration``, see export/calibrate.py).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

from elmol_nlu.datasets import load_split, read_massive
from elmol_nlu.manifest import MANIFEST, write_manifest
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import normalize, tokenize
from export.calibrate import calibrate
from export.parity import check_parity
from export.quantize import INT8_GRAPHS, int8_gate, write_int8
from export.spelling_vocab import CORPUS, MIN_COUNT, add_spelling
from export.to_onnx import export, load_nlu

log = logging.getLogger("export")


def parity_sentences(data: Path, n: int, seed: int) -> list:
    texts = [e.text for e in read_massive(data, "test")]
    random.Random(seed).shuffle(texts)
    return [tokenize(t) for t in texts[:n] if tokenize(t)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="train_nlu's nlu.pt")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--name", default="massive-en-elmol")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--parity-utterances", type=int, default=256)
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                   help="also write the int8 graph and its accuracy gate on the dev split")
    p.add_argument("--gate-utterances", type=int, default=None, help="dev and test utterances of the gate (all)")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the intent and CRF temperatures on the dev split (python -m export.calibrate)")
    p.add_argument("--exclude-scenarios", default="", help="MASSIVE scenarios the model was trained without "
                   "(train_nlu's option): left out of the int8 gate and calibration too")
    p.add_argument("--spelling", action=argparse.BooleanOptionalAction, default=True,
                   help="write a spelling vocabulary, so that the service corrects unknown words (elmol_nlu.spelling)")
    p.add_argument("--spelling-corpus", type=Path, default=CORPUS)
    p.add_argument("--spelling-min-count", type=int, default=MIN_COUNT)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    exclude = frozenset(x for x in args.exclude_scenarios.split(",") if x)
    (args.out / MANIFEST).unlink(missing_ok=True)
    warm_words = [normalize(w) for g in load_split(args.data, "train", None, exclude) for w in g.words]
    content = export(args.checkpoint, args.out, args.name, warm_words)
    if args.spelling:
        add_spelling(args.out, content, warm_words, args.spelling_corpus, args.spelling_min_count)
    write_manifest(args.out, content)
    model, _ = load_nlu(args.checkpoint)
    report = check_parity(model, Predictor.load(args.out, spelling=False),  # the graphs, as PyTorch runs them
                          parity_sentences(args.data, args.parity_utterances, seed=0))
    log.info("parity: %s", report.to_dict())
    if not report.ok:
        (args.out / MANIFEST).unlink()
        sys.exit(f"parity failed: {report.to_dict()}")
    content["parity"] = report.to_dict()
    if args.int8:
        write_int8(args.out, content["graphs"])
        content["files"] = [*content["files"], *INT8_GRAPHS.values()]
        write_manifest(args.out, {**content, "variants": {"int8": {"graphs": dict(INT8_GRAPHS)}}})
        dev, test = (load_split(args.data, part, args.gate_utterances, exclude) for part in ("dev", "test"))
        content["variants"] = {"int8": int8_gate(args.out, dev, test)}
    write_manifest(args.out, content)
    if args.calibrate:  # on the graph the service will serve, so after the int8 gate is recorded
        dev = load_split(args.data, "dev", None, exclude)
        content["calibration"] = calibrate(args.out, dev, args.data.name)
        write_manifest(args.out, content)
    log.info("wrote %s", args.out / MANIFEST)


if __name__ == "__main__":
    main()
