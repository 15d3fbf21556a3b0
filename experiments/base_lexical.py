"""Choose, on MASSIVE dev, whether the shipped model gets a lexical intent model (elmol_nlu.lexical) beside its
heads, as skills have, and with which weight and regularisation. The lexical model is fitted on MASSIVE train
(the data the heads trained on); each (C, weight) is scored on dev: intent accuracy, and exact match (the
heads' slots do not change, so slot F1 does not either). Test is not read.

    python -m experiments.base_lexical --checkpoint checkpoints/massive-en-nlu.pt --out reports/base-lexical.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import TaggedExample, load_split
from elmol_nlu.lexical import LexicalHead, pooled_layers
from elmol_nlu.text import batch_char_ids
from training.lexical import fit_lexical
from training.nlu import lengths_to_mask
from training.skill import load_source

log = logging.getLogger("base_lexical")
CS = (1.0, 10.0, 100.0)
WEIGHTS = (0.0, 0.25, 0.5, 0.75)


@torch.no_grad()
def heads_outputs(model, examples: list[TaggedExample], batch: int = 128) -> tuple[np.ndarray, np.ndarray, list]:
    """The heads' intent logits, the pooled layers and the slot tag path (tag ids) of each example."""
    model.eval()
    logits, pooled, paths = [], [], []
    for start in range(0, len(examples), batch):
        words = [e.words for e in examples[start : start + batch]]
        chars, lengths = batch_char_ids(words, model.cfg.lm.max_chars)
        chars_t, lengths_t = torch.from_numpy(chars), torch.from_numpy(lengths)
        layers = model.encoder(chars_t, lengths_t)
        intent, emissions = model.heads(layers, lengths_t)  # ELMoL reads characters only
        logits.append(intent.numpy())
        pooled.append(pooled_layers(torch.stack(layers).numpy(), lengths))
        paths += model.crf.decode(emissions, lengths_to_mask(lengths_t, chars.shape[1]))
    return np.concatenate(logits), np.concatenate(pooled), paths


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--noisy-dev", type=Path, default=Path("data/massive/en-US.dev-typos.jsonl"))
    p.add_argument("--out", type=Path, default=Path("reports/base-lexical.json"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    model, state = load_source(args.checkpoint)
    intents = state["intents"]
    train = load_split(args.data, "train")
    sets = {"dev": load_split(args.data, "dev"), "dev-typos": load_split(args.noisy_dev, "dev")}
    outputs = {name: heads_outputs(model, ex) for name, ex in sets.items()}
    results = []
    for c in CS:
        started = time.monotonic()
        lexical = fit_lexical(model, train, intents, c, args.seed)
        fit_seconds = round(time.monotonic() - started, 1)
        for name, examples in sets.items():
            neural, pooled, paths = outputs[name]
            alone = LexicalHead(lexical, 1.0).intent_logits(neural, [e.words for e in examples], pooled)
            gold = np.array([intents.index(e.example.intent) for e in examples])
            slots_ok = np.array([[state["tags"][t] for t in path] == e.tags
                                 for path, e in zip(paths, examples, strict=True)])
            for w in WEIGHTS:
                right = ((1 - w) * neural + w * alone).argmax(axis=1) == gold
                row = {"c": c, "weight": w, "set": name, "intent_acc": round(100 * right.mean(), 2),
                       "exact_match": round(100 * (right & slots_ok).mean(), 2), "fit_seconds": fit_seconds}
                log.info("%s", row)
                results.append(row)
    args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint), "seed": args.seed, "split": "dev",
                                    "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
