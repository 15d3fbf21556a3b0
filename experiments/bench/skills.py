"""A new skill end to end, against the MiniLM peer: how long ``elmol-nlu skill train`` takes on a 501-utterance
file (export and its checks included), how the skill scores on held-out utterances, and its time per
utterance at batch 1, alone and beside the shipped model, next to MiniLM fine-tuned on the same file.

    python -m experiments.bench.skills [--base DIR] [--out reports/skills]

The file is SNIPS (CC0): 167 training utterances of each of RateBook, SearchScreeningEvent, BookRestaurant
(examples/make_leisure_skill.py draws them, seeded by intent), intents MASSIVE lacks; the test set is SNIPS
test of the same intents (examples/leisure-test.yml). Timings alternate between the predictors in rounds,
one process, one thread each, after a warm-up, so that the machine's state is shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from elmol_nlu.annotations import read_annotations
from elmol_nlu.datasets import tag
from elmol_nlu.paths import DEFAULT_MODEL_DIR, PROJECT_ROOT
from elmol_nlu.runtime.evaluate import evaluate_dir, predictor_metrics
from elmol_nlu.scoring import Prediction, score
from experiments.bench.stats import summarize

log = logging.getLogger("bench.skills")
REPO = PROJECT_ROOT
TEST = REPO / "examples" / "leisure-test.yml"
METRICS = ("intent_acc", "slot_f1", "exact_match")


def train_with_cli(data: Path, base: Path, out: Path) -> float:
    """Wall seconds of the real command, in its own process (as a user runs it)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "cli", "skill", "train", str(data), "--name", "leisure",
                    "--base", str(base), "--out", str(out)], cwd=REPO, check=True, capture_output=True)
    return time.monotonic() - started


def minilm_peer(train: list, test: list, onnx_path: Path) -> tuple[dict, float, object]:
    from experiments.baselines.minilm_onnx import MiniLMOnnx, export_minilm_onnx
    from training.minilm import MiniLMConfig, fit_minilm

    started = time.monotonic()
    model, _, _ = fit_minilm(train, MiniLMConfig(seed=0))
    seconds = time.monotonic() - started
    export_minilm_onnx(model, onnx_path)
    peer = MiniLMOnnx(onnx_path)
    parses = [peer.parse(g.example.text) for g in test]
    return score(test, [Prediction(p.intent, p.tags) for p in parses]), seconds, peer


def interleaved(parsers: dict, texts: list[str], rounds: int, per_round: int) -> dict:
    """Batch-1 ms of each parser, alternating rounds of ``per_round`` texts after one untimed round."""
    timings: dict[str, list[float]] = {name: [] for name in parsers}
    for r in range(rounds + 1):
        chunk = [texts[(r * per_round + i) % len(texts)] for i in range(per_round)]
        for name, parse in parsers.items():
            for text in chunk:
                started = time.perf_counter()
                parse(text)
                if r:
                    timings[name].append(1000 * (time.perf_counter() - started))
    return {name: summarize(ms) for name, ms in timings.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--out", type=Path, default=REPO / "reports" / "skills")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=200)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from elmol_nlu.runtime import Predictor, Selection
    from examples.make_leisure_skill import write

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data, skill_dir = Path(tmp) / "leisure500.yml", Path(tmp) / "leisure"
        write(data, "train", 167, "167 training utterances of each intent")
        train = [tag(a.example) for a in read_annotations(data)[0]]
        test = [tag(a.example) for a in read_annotations(TEST)[0]]
        log.info("elmol-nlu skill train on %d utterances ...", len(train))
        train_s = train_with_cli(data, args.base, skill_dir)
        ours = {k: v for k, v in evaluate_dir(skill_dir, test, "auto").items() if k != "model"}
        log.info("MiniLM on the same %d utterances ...", len(train))
        peer_scores, peer_s, peer = minilm_peer(train, test, Path(tmp) / "minilm.onnx")
        alone = Predictor.load(skill_dir, precision="auto")
        heads_only = Predictor.load(skill_dir, precision="auto")
        heads_only.primary.lexical = None  # the same skill without its lexical intent model, as before it had one
        ours_heads = {k: v for k, v in predictor_metrics(heads_only, test).items() if k in METRICS}
        shipped = Predictor.load(args.base, precision="auto")
        beside = shipped.with_skills([shipped.load_skill(skill_dir)])
        texts = [g.example.text for g in test]
        latency = interleaved({
            "skill alone": alone.parse,
            "skill alone, heads only (no lexical model)": heads_only.parse,
            "skill beside the shipped model": lambda t: beside.parse_batch([t], [Selection()]),
            "shipped model alone": shipped.parse,
            "MiniLM ONNX": peer.parse,
        }, texts, args.rounds, args.per_round)
    result = {
        "data": {"train": f"{len(train)} SNIPS train utterances (examples/make_leisure_skill.py, 167 per intent)",
                 "test": f"{len(test)} SNIPS test utterances of the same intents ({TEST.name})"},
        "skill_train_seconds": round(train_s, 1),
        "minilm_train_seconds": round(peer_s, 1),
        "scores": {"ours": {k: ours[k] for k in METRICS}, "ours, heads only": ours_heads,
                   "minilm": {k: peer_scores[k] for k in METRICS}},
        "latency_ms": latency,
        "p50_ratio_minilm_over_ours": round(latency["MiniLM ONNX"]["p50"] / latency["skill alone"]["p50"], 2),
        "precision": alone.precision,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("skill_train_seconds", "minilm_train_seconds", "scores",
                                             "p50_ratio_minilm_over_ours")}, indent=1))
    for name, s in latency.items():
        print(f"{name:<32} p50 {s['p50']:.3f} ms  p90 {s['p90']:.3f}  p99 {s['p99']:.3f}")


if __name__ == "__main__":
    main()
