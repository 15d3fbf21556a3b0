"""Would a multi-label lexical intent model help the multi-intent skills (MixATIS, MixSNIPS)? A probe on the
skills ``experiments.multi_intent`` trained (runs/mix/SET): one-vs-rest logistic regressions over the
lexical model's features (``elmol_nlu.lexical``: TF-IDF n-grams and the encoder's pooled layers), fitted on
the set's train split, their log-odds mixed into the sigmoid head's with a weight. Weight, C and threshold
are chosen on dev (the set of intents exactly right, then overall accuracy); test is read once, for the
chosen one and for the skill as it is (weight 0 at its own threshold).

    python -m experiments.multi_lexical --sets mixatis mixsnips --out reports/multi_intent/lexical-probe.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from elmol_nlu.annotations import read_annotations
from elmol_nlu.datasets import TaggedExample, tag
from elmol_nlu.intents import found, split_intents
from elmol_nlu.lexical import LexicalIntents
from elmol_nlu.manifest import load_manifest
from experiments.base_lexical import heads_outputs
from export.skill import source_checkpoint
from training.lexical import design, pooled_features, vocabulary
from training.nlu import with_new_outputs
from training.skill import load_source

log = logging.getLogger("multi_lexical")
CS = (1.0, 10.0)
WEIGHTS = (0.0, 0.25, 0.5, 0.75)
THRESHOLDS = np.round(np.arange(0.1, 0.91, 0.05), 2)


def split(folder: Path, part: str) -> list[TaggedExample]:
    items, _ = read_annotations(folder / part, "bio")
    return [tag(i.example) for i in items]


def skill_model(skill_dir: Path, base: Path):
    manifest = load_manifest(skill_dir)
    if manifest.raw["base"]["encoder_id"] != load_manifest(base).encoder_id:
        raise SystemExit(f"{skill_dir} was not trained on {base}")
    source, _ = load_source(source_checkpoint(base))
    state = torch.load(skill_dir / "skill.pt", map_location="cpu", weights_only=False)
    model = with_new_outputs(source, len(state["intents"]), state["tags"])
    model.cfg = replace(model.cfg, multi_intent=True)
    model.load_state_dict(state["model"], strict=False)
    return model, state, manifest.intent_threshold


def score(logits: np.ndarray, threshold: float, gold: list[set[int]], slots_ok: np.ndarray) -> dict:
    right = np.array([set(found(1 / (1 + np.exp(-row)), threshold)) == g for row, g in zip(logits, gold, strict=True)])
    return {"intent_acc": round(100 * right.mean(), 2), "overall_acc": round(100 * (right & slots_ok).mean(), 2)}


def run_set(name: str, args: argparse.Namespace) -> dict:
    model, state, own_threshold = skill_model(args.runs / name, args.base)
    intents, tags = state["intents"], state["tags"]
    data = {part: split(args.data / name, part) for part in ("train", "dev", "test")}
    labels = {part: [{intents.index(i) if i in intents else -1 for i in split_intents(e.example.intent)} for e in ex]
              for part, ex in data.items()}
    outputs = {part: heads_outputs(model, data[part]) for part in ("dev", "test")}
    slots_ok = {part: np.array([[tags[t] for t in path] == e.tags for path, e in zip(outputs[part][2], data[part],
                                                                                       strict=True)])
                for part in ("dev", "test")}
    sentences = [e.words for e in data["train"]]
    pooled = pooled_features(model, sentences)
    vocab, idf, group = vocabulary(sentences)
    std = pooled.std(axis=0) + 1e-6
    empty = LexicalIntents(vocab, idf, group, pooled.mean(axis=0),
                           (1.0 / (std * np.sqrt(pooled.shape[1]))).astype(np.float32),
                           np.zeros((len(idf) + pooled.shape[1], 1), np.float32), np.zeros(1, np.float32))
    x_train = design(empty, sentences, pooled)
    x = {part: design(empty, [e.words for e in data[part]], outputs[part][1]) for part in ("dev", "test")}
    y = np.zeros((len(sentences), len(intents)), bool)
    for row, g in enumerate(labels["train"]):
        y[row, list(g)] = True  # every train intent is known
    rows = []
    lexical_logits = {}
    for c in CS:
        started = time.monotonic()
        out = {part: np.full((x[part].shape[0], len(intents)), -30.0) for part in x}
        for i in range(len(intents)):
            if y[:, i].any() and not y[:, i].all():
                clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y[:, i])
                for part in x:
                    out[part][:, i] = clf.decision_function(x[part])
        lexical_logits[c] = out
        log.info("%s C=%g: %d one-vs-rest fits in %.0f s", name, c, len(intents), time.monotonic() - started)
        for w in WEIGHTS:
            mixed = (1 - w) * outputs["dev"][0] + w * out["dev"]
            for t in THRESHOLDS:
                rows.append({"c": c, "weight": w, "threshold": float(t),
                             **score(mixed, t, labels["dev"], slots_ok["dev"])})
    best = max(rows, key=lambda r: (r["intent_acc"], r["overall_acc"]))
    chosen = (1 - best["weight"]) * outputs["test"][0] + best["weight"] * lexical_logits[best["c"]]["test"]
    as_is = [r for r in rows if r["weight"] == 0.0 and r["c"] == CS[0] and abs(r["threshold"] - own_threshold) < 1e-6]
    result = {"set": name, "skill": {"dir": str(args.runs / name), "version": load_manifest(args.runs / name).version},
              "own_threshold": own_threshold, "chosen_on_dev": best,
              "skill_as_is_dev": as_is[0] if as_is else None,
              "test_chosen": score(chosen, best["threshold"], labels["test"], slots_ok["test"]),
              "test_skill_as_is": score(outputs["test"][0], own_threshold, labels["test"], slots_ok["test"]),
              "dev_grid": rows}
    log.info("%s: chosen %s; test %s against %s", name, best, result["test_chosen"], result["test_skill_as_is"])
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["mixatis", "mixsnips"])
    p.add_argument("--data", type=Path, default=Path("data/mix"))
    p.add_argument("--runs", type=Path, default=Path("runs/mix"))
    p.add_argument("--base", type=Path, default=Path("models/default"), help="the model the skills were trained on")
    p.add_argument("--out", type=Path, default=Path("reports/multi_intent/lexical-probe.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    results = [run_set(name, args) for name in args.sets]
    args.out.write_text(json.dumps({"seed": 0, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
