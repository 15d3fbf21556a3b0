"""Train the joint intent + slot model on MASSIVE en-US (or SNIPS) over a pretrained ELMo-Light encoder.

    python -m training.train_nlu --lm runs/elmol/last.pt --out runs/nlu
    python -m training.train_nlu --lm runs/elmol/last.pt --data data/snips --out runs/nlu-snips

Selects the epoch on the dev split, reports dev and test metrics, and writes ``OUT/nlu.pt``
(a plain dict: config, vocabularies, weights, metrics) that ``python -m export`` turns into a model.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from elmol_nlu.datasets import TaggedExample, load_split
from elmol_nlu.scoring import metrics
from elmol_nlu.vocab import Vocab, slot_tag_vocab
from training import reproduce_inputs as inputs
from training.checkpoint import load_checkpoint, save_checkpoint
from training.embedders import EMBEDDINGS
from training.evaluate import predict
from training.finetune import FitConfig, fit
from training.nlu import JointNLU, NLUConfig

log = logging.getLogger("train_nlu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lm", type=Path, default=None, help="language-model checkpoint (pretrain_lm's last.pt)")
    p.add_argument("--embedding", choices=EMBEDDINGS, default="elmol",
                   help="elmol/elmo read --lm, fasttext reads --fasttext, elmol+fasttext both, none learns its own "
                   "(only elmol/elmo export)")
    p.add_argument("--fasttext", type=Path, default=Path("runs/fasttext/vectors.npz"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"),
                   help="MASSIVE JSON lines, or a folder with train/dev/test in SNIPS's BIO format")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=FitConfig.epochs)
    p.add_argument("--batch-size", type=int, default=FitConfig.batch_size)
    p.add_argument("--lr", type=float, default=FitConfig.lr)
    p.add_argument("--unfreeze-at", type=str, default="4,8", help="epochs at which encoder layers unfreeze, top-down")
    p.add_argument("--patience", type=int, default=FitConfig.patience)
    p.add_argument("--shared-hidden", type=int, default=NLUConfig.shared_hidden)
    p.add_argument("--slot-hidden", type=int, default=NLUConfig.slot_hidden)
    p.add_argument("--dropout", type=float, default=NLUConfig.dropout)
    p.add_argument("--pool-embeddings", action="store_true", help="intent head also sees pooled embeddings")
    p.add_argument("--intent-weight", type=float, default=FitConfig.intent_weight)
    p.add_argument("--label-smoothing", type=float, default=FitConfig.label_smoothing)
    p.add_argument("--seed", type=int, default=FitConfig.seed)
    p.add_argument("--typo-rate", type=float, default=FitConfig.typo_rate,
                   help="share of training words of 4+ letters given one character edit")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N examples of each split (smoke tests)")
    p.add_argument("--exclude-scenarios", type=str, default="",
                   help="comma-separated MASSIVE scenarios left out of every split (an out-of-scope study)")
    return p.parse_args(argv)


def build_model(args: argparse.Namespace, train: list[TaggedExample], intents: Vocab, tags: Vocab) -> JointNLU:
    base = NLUConfig(shared_hidden=args.shared_hidden, slot_hidden=args.slot_hidden, dropout=args.dropout,
                     embed_dropout=args.dropout, pool_embeddings=args.pool_embeddings)
    return inputs.build_model(args.embedding, {args.embedding: args.lm}, args.fasttext, train, intents, tags, base)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    exclude = frozenset(x for x in args.exclude_scenarios.split(",") if x)
    train, dev, test = (load_split(args.data, p, args.limit, exclude) for p in ("train", "dev", "test"))
    intents = Vocab(sorted({e.example.intent for e in train}))
    tags = slot_tag_vocab({t[2:] for e in train for t in e.tags if t != "O"})
    log.info("%d train, %d dev, %d test; %d intents, %d tags", len(train), len(dev), len(test), len(intents), len(tags))

    if args.embedding not in ("fasttext", "none") and args.lm is None:
        raise SystemExit(f"--embedding {args.embedding} needs --lm, a pretrain_lm checkpoint")
    lm_state = load_checkpoint(args.lm) if args.lm else {}
    torch.manual_seed(args.seed)
    model = build_model(args, train, intents, tags)
    unfreeze = tuple(int(x) for x in args.unfreeze_at.split(",") if x)
    fit_cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, unfreeze_at=unfreeze,
                        patience=args.patience, seed=args.seed, label_smoothing=args.label_smoothing,
                        intent_weight=args.intent_weight, typo_rate=args.typo_rate)

    def dev_score(m: JointNLU) -> dict[str, float]:
        return metrics(dev, predict(m, dev, intents, tags))

    best_state, history = fit(model, train, intents, tags, fit_cfg, dev_score)
    model.load_state_dict(best_state)
    results = {"dev": dev_score(model), "test": metrics(test, predict(model, test, intents, tags))}
    minutes = (time.monotonic() - started) / 60
    log.info("dev %s", results["dev"])
    log.info("test %s (%.1f minutes)", results["test"], minutes)

    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out / "nlu.pt", {
        "config": model.cfg.to_dict(), "fit": fit_cfg.to_dict(), "intents": intents.itos, "tags": tags.itos,
        "words": model.word_vocab.itos if model.word_vocab else None,
        "model": model.state_dict(), "metrics": results, "history": history,
        "lm": {"path": str(args.lm), "heldout_perplexity": lm_state.get("heldout_perplexity"),
               "epoch": lm_state.get("epoch"), "vocab_size": len(lm_state["vocab"])} if lm_state else None,
        "data": {"path": str(args.data), "train": len(train), "dev": len(dev), "test": len(test),
                 "excluded_scenarios": sorted(exclude)},
        "train_minutes": round(minutes, 1),
    })
    (args.out / "metrics.json").write_text(json.dumps({**results, "history": history}, indent=2))


if __name__ == "__main__":
    main()
