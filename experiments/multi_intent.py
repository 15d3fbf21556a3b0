"""The multi-intent benchmarks (MixSNIPS, MixATIS; data/mix/README.md): a skill trained on each with
`elmol-nlu skill train`, scored once on test, its batch-1 latency, beside the published figures.

    python -m experiments.multi_intent --sets mixsnips mixatis --time-budget 20m

For each set under data/mix/ the skill trains on train, chooses its epoch and its sigmoid threshold on dev
(the skill trainer's own rule) and is read on test once. Overall accuracy is every intent and every slot tag
right (our exact match), intent accuracy the set exactly right, slot F1 CoNLL's. Latency: in process, one
onnxruntime thread, the served precision, each test utterance parsed once after a warm-up. Writes
reports/multi_intent/SET.json; resumable (a set whose skill directory and report exist is skipped; --force).

``--latency SET``: the cost of the sigmoid head. A single-intent skill of the same size (SET's train and dev
with each label cut to its first intent: the same intents, slots and network) is trained for 3 minutes, and
the two skills' in-process p50 at batch 1 is measured side by side in one run (experiments.bench.side_by_side,
on SET's test utterances): reports/multi_intent/latency.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from elmol_nlu.annotations import read_annotations
from elmol_nlu.datasets import tag
from elmol_nlu.intents import split_intents
from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime import Predictor
from elmol_nlu.runtime.evaluate import evaluate_dir
from experiments.bench.report import context
from experiments.bench.stats import time_calls
from experiments.skill_cli import skill_train

log = logging.getLogger("experiments.multi_intent")
MIX = Path("data/mix")
PUBLISHED = MIX / "published.json"
SEED = 0


def test_split(folder: Path) -> list:
    items, _ = read_annotations(folder / "test", "bio")
    return [tag(i.example) for i in items]


def train(data: Path, name: str, out: Path, budget: str, base: Path) -> float:
    started = time.monotonic()
    status = skill_train(str(data), "--name", name, "--base", str(base), "--out", str(out),
                         "--time-budget", budget, "--seed", str(SEED))
    if status != 0:
        raise SystemExit(f"skill train {data} exited with {status}")
    return time.monotonic() - started


def coverage(folder: Path) -> dict:
    """Test intents no train utterance carries, and how many test utterances have one: sets that a model
    learning from train cannot get right."""
    def labels(part: str) -> list[list[str]]:
        return [split_intents(line) for line in (folder / part / "label").read_text().split()]

    known = {i for label in labels("train") for i in label}
    test = labels("test")
    unseen = sorted({i for label in test for i in label} - known)
    hit = sum(any(i in unseen for i in label) for label in test)
    return {"test_intents_unseen_in_train": unseen, "test_utterances_with_one": hit,
            "share_of_test": round(100 * hit / len(test), 2)}


def published(name: str) -> dict:
    """The figures the AGIF and GL-GIN papers report for this set (read from data/mix/published.json)."""
    source = json.loads(PUBLISHED.read_text())
    return {model: figures[name] for model, figures in source["models"].items() if figures.get(name)}


def run_set(name: str, args: argparse.Namespace) -> dict:
    data, out = MIX / name, args.runs / name
    seconds = train(data, name, out, args.time_budget, args.base)
    gold = test_split(data)
    report = evaluate_dir(out, gold, "auto")
    predictor = Predictor.load(out, precision="auto", threads=1)
    texts = [g.example.text for g in gold]
    latency = time_calls(predictor.parse, texts, n=len(texts), warmup=min(300, len(texts)))
    manifest = load_manifest(out)
    return {**context(manifest), "set": name, "seed": SEED, "split": "test (read once; epoch and threshold chosen "
            "on dev)", "command": f"python -m experiments.multi_intent --sets {name} --time-budget {args.time_budget}",
            "train_seconds": round(seconds, 1), "time_budget": args.time_budget, "base": str(args.base),
            "threshold": manifest.intent_threshold, "precision": predictor.precision,
            "test": {"overall_acc": report["exact_match"], "intent_acc": report["intent_acc"],
                     "slot_f1": report["slot_f1"], "n": report["n"]},
            "dev": json.loads((out / "report.json").read_text())["dev"],
            "calibration": manifest.raw.get("calibration", {}).get("dev", {}),
            "latency_ms": latency, "published": published(name), "coverage": coverage(data)}


def single_intent_copy(data: Path, out: Path) -> Path:
    """SET's train and dev folders with every label cut to its first intent."""
    for split in ("train", "dev"):
        (out / split).mkdir(parents=True, exist_ok=True)
        for name in ("seq.in", "seq.out"):
            (out / split / name).write_text((data / split / name).read_text())
        labels = (data / split / "label").read_text().splitlines()
        (out / split / "label").write_text("".join(split_intents(label)[0] + "\n" for label in labels))
    return out


def latency(name: str, args: argparse.Namespace) -> None:
    from experiments.bench import side_by_side

    single_data = single_intent_copy(MIX / name, args.runs / f"{name}-single-data")
    single = args.runs / f"{name}-single"
    if not (single / "manifest.json").exists():
        train(single_data, f"{name}-single", single, "3m", args.base)
    side_by_side.main(["--models", str(single), str(args.runs / name), "--labels", "single-intent", "multi-intent",
                       "--data", str(MIX / name), "--bar", "1.10", "--out", str(args.out / "latency.json")])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["mixsnips", "mixatis"])
    p.add_argument("--time-budget", default="20m", help="of each skill's training, as `skill train` takes it")
    p.add_argument("--base", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--runs", type=Path, default=Path("runs/mix"))
    p.add_argument("--out", type=Path, default=Path("reports/multi_intent"))
    p.add_argument("--force", action="store_true")
    p.add_argument("--latency", metavar="SET", help="only the side-by-side latency against a single-intent skill")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.latency:
        latency(args.latency, args)
        return
    for name in args.sets:
        path = args.out / f"{name}.json"
        if not (MIX / name / "train").is_dir():
            log.warning("%s is not built (make mix-data): skipped", MIX / name)
            continue
        if path.exists() and not args.force:
            log.info("%s exists: skipped (--force to redo); its data's coverage written", path)
            result = json.loads(path.read_text())
            path.write_text(json.dumps({**result, "coverage": coverage(MIX / name)}, indent=1) + "\n")
            continue
        result = run_set(name, args)
        path.write_text(json.dumps(result, indent=1) + "\n")
        t = result["test"]
        log.info("%s test: overall %.2f, intent %.2f, slot F1 %.2f; trained in %.0f s; p50 %.3f ms", name,
                 t["overall_acc"], t["intent_acc"], t["slot_f1"], result["train_seconds"], result["latency_ms"]["p50"])


if __name__ == "__main__":
    main()
