"""Reproduce the paper's transfer experiment on MASSIVE en-US: four embeddings, five new domains.

    python -m experiments.reproduce --tier full            # hours; resumable, one CSV row per run
    python -m experiments.reproduce --tier quick --out /tmp/q   # a minute: tiny LMs, one domain (CI)

For each embedding (none, fasttext, elmo, elmol): a joint model is trained on the 13 source
scenarios (embeddings frozen first, then unfrozen top-down); then, for each target scenario (email,
iot, transport, lists, weather), size n and seed, n examples are sampled from the target's train
split and a model is trained on them either from the source model with new output layers
(``supervised_pretraining=1``) or from the embeddings alone (``0``), and scored on the target's
full test split. Rows are appended to ``OUT/runs.csv`` as runs finish, so a stopped run resumes
where it was, and workers on other cores may share the grid (``--embeddings`` and ``--seeds`` split
it); ``python -m experiments.reproduce_report`` makes tables and plots.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from elmol_nlu.datasets import label_vocabs, load_massive, sample
from elmol_nlu.scoring import metrics
from experiments.results_csv import append_row, completed_keys, run_key
from training import reproduce_inputs as inputs
from training.checkpoint import load_joint_model, save_checkpoint
from training.evaluate import predict
from training.finetune import FitConfig, fit
from training.nlu import NLUConfig, with_new_outputs

log = logging.getLogger("reproduce")
TARGETS = ("email", "iot", "transport", "lists", "weather")
# arms beyond the paper's four: (embedder, language model, network settings). elmol-kd is ELMoL pretrained further
# on the bigger corpus with MiniLM's states distilled into it and typo noise (make pretrain-kd); +fasttext appends
# the FastText vector to its layers; -ln normalises each layer before the scalar mix; -frozen never unfreezes it
ARMS = {"elmol-kd": ("elmol", "elmol-kd", {}),
        "elmol-kd+fasttext": ("elmol+fasttext", "elmol-kd", {}),
        "elmol-kd-ln": ("elmol", "elmol-kd", {"mix_layer_norm": True}),
        "elmol-kd-frozen": ("elmol", "elmol-kd", {})}
FROZEN = ("elmol-kd-frozen",)  # arms whose pretrained encoder stays frozen, in the source model and in transfer


def unfrozen_groups(embedding: str, model) -> int:
    """How many of the model's pretrained encoder groups the unfreezing schedule reaches."""
    return 0 if embedding in FROZEN else len(model.encoder_groups())


def build_model(embedding: str, args: argparse.Namespace, train: list, intents, tags):
    kind, lm, settings = ARMS.get(embedding, (embedding, embedding, {}))
    return inputs.build_model(kind, {kind: args.lm.get(lm)}, args.fasttext, train, intents, tags,
                              NLUConfig(**settings))


@dataclass(frozen=True)
class Tier:
    embeddings: tuple[str, ...] = ("elmol", "fasttext", "none", "elmo")
    domains: tuple[str, ...] = TARGETS
    sizes: tuple[int, ...] = (100, 200, 500, 1000)
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[int, ...] = (1, 0)  # with supervised pretraining on the source domains, then without
    source_epochs: int = 12
    min_steps: int = 150  # a transfer run takes at least this many optimizer steps ...
    epoch_range: tuple[int, int] = (8, 40)  # ... within this many epochs
    limit: int | None = None  # examples per split (quick tier only)


TIERS = {
    "full": Tier(),
    "quick": Tier(domains=("weather",), sizes=(20,), seeds=(0,), source_epochs=2, min_steps=2,
                  epoch_range=(2, 2), limit=200),
}


def unfreeze_schedule(epochs: int, n_encoder_groups: int, new_outputs: bool) -> tuple[int, ...]:
    """Epochs at which groups after the first unfreeze: the body at 10%, encoder layers from 25% of training."""
    encoder = [max(1, round(epochs * f)) for f in (0.25, 0.4, 0.55, 0.7)[:n_encoder_groups]]
    return tuple([max(1, round(epochs * 0.1)), *encoder] if new_outputs else encoder)


def transfer_epochs(n_examples: int, batch_size: int, tier: Tier) -> int:
    steps_per_epoch = math.ceil(n_examples / batch_size)
    low, high = tier.epoch_range
    return min(high, max(low, math.ceil(tier.min_steps / steps_per_epoch)))


def source_model(embedding: str, data: dict, tier: Tier, args: argparse.Namespace) -> Path:
    """Train (once) the joint model on the source scenarios; the epoch is chosen on their dev split."""
    path = args.work / "source" / f"{embedding}.pt"
    if path.exists():
        return path
    train, dev = ([e for s, ex in data[part].items() if s not in TARGETS for e in ex] for part in ("train", "dev"))
    if tier.limit:  # a few examples of every source scenario, not all of the first ones
        train, dev = (random.Random(args.seed).sample(x, min(tier.limit, len(x))) for x in (train, dev))
    intents, tags = label_vocabs(train)
    torch.manual_seed(args.seed)
    model = build_model(embedding, args, train, intents, tags)
    n_groups = unfrozen_groups(embedding, model)
    cfg = FitConfig(epochs=tier.source_epochs, unfreeze_at=unfreeze_schedule(tier.source_epochs, n_groups, False),
                    patience=tier.source_epochs, seed=args.seed)
    log.info("source model for %s: %d train, %d dev examples, %d intents", embedding, len(train), len(dev),
             len(intents))
    best, history = fit(model, train, intents, tags, cfg, lambda m: metrics(dev, predict(m, dev, intents, tags)))
    model.load_state_dict(best)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"config": model.cfg.to_dict(), "fit": cfg.to_dict(), "intents": intents.itos,
                           "tags": tags.itos, "words": model.word_vocab.itos if model.word_vocab else None,
                           "model": model.state_dict(), "history": history})
    return path


def transfer_run(key: dict, data: dict, tier: Tier, args: argparse.Namespace) -> dict:
    started = time.monotonic()
    train = sample(data["train"][key["domain"]], key["n"], key["seed"])
    test = data[args.split][key["domain"]]
    intents, tags = label_vocabs(train)
    torch.manual_seed(key["seed"])
    pretrained = bool(key["supervised_pretraining"])
    if pretrained:
        source = load_joint_model(args.work / "source" / f"{key['embedding']}.pt")
        model = with_new_outputs(source, len(intents), tags.itos)
    else:
        model = build_model(key["embedding"], args, train, intents, tags)
    epochs = transfer_epochs(len(train), FitConfig.batch_size, tier)
    cfg = FitConfig(epochs=epochs, seed=key["seed"], new_outputs=pretrained,
                    unfreeze_at=unfreeze_schedule(epochs, unfrozen_groups(key["embedding"], model), pretrained))
    fit(model, train, intents, tags, cfg, dev_score=None)  # no dev set at 100 examples: the last epoch counts
    scores = metrics(test, predict(model, test, intents, tags))
    return {**key, "intent_acc": round(scores["intent_acc"], 2), "slot_f1": round(scores["slot_f1"], 2),
            "exact_match": round(scores["exact_match"], 2), "n_train": len(train), "n_test": len(test),
            "epochs": epochs, "seconds": round(time.monotonic() - started, 1)}


def planned_runs(tier: Tier) -> list[dict]:
    """Every run, in the order that makes partial results most useful: seed 0 of everything first."""
    return [{"embedding": emb, "domain": d, "n": n, "seed": seed, "supervised_pretraining": arm}
            for arm in tier.arms for seed in tier.seeds for n in tier.sizes for d in tier.domains
            for emb in tier.embeddings]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", choices=sorted(TIERS), default="quick")
    p.add_argument("--out", type=Path, default=None, help="where runs.csv goes; default reports/reproduce/TIER")
    p.add_argument("--work", type=Path, default=None, help="models and inputs; default runs/reproduce/TIER")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--split", choices=("test", "dev"), default="test",
                   help="the targets' split runs are scored on: dev to choose among arms, test once for the chosen")
    p.add_argument("--elmol-lm", type=Path, default=Path("checkpoints/elmol-lm-epoch2.pt"))
    p.add_argument("--elmo-lm", type=Path, default=Path("checkpoints/elmo-lm-epoch2.pt"))
    p.add_argument("--elmol-kd-lm", type=Path, default=Path("checkpoints/elmol-kd-lm.pt"),
                   help="the elmol-kd arm's language model (make pretrain-kd)")
    p.add_argument("--fasttext", type=Path, default=Path("runs/fasttext/vectors.npz"))
    p.add_argument("--embeddings", type=str, default=None, help="comma-separated subset, e.g. elmo (parallel workers)")
    p.add_argument("--seeds", type=str, default=None, help="comma-separated subset of the tier's seeds")
    p.add_argument("--sizes", type=str, default=None, help="comma-separated subset of the tier's sizes")
    p.add_argument("--arms", type=str, default=None, help="1 (supervised pretraining), 0 (without), or 1,0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=13, help="of the source models")
    p.add_argument("--max-minutes", type=float, default=None, help="stop starting new runs after this long")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    tier = TIERS[args.tier]
    if args.embeddings:
        tier = replace(tier, embeddings=tuple(args.embeddings.split(",")))
    if args.seeds:
        tier = replace(tier, seeds=tuple(int(x) for x in args.seeds.split(",")))
    if args.sizes:
        tier = replace(tier, sizes=tuple(int(x) for x in args.sizes.split(",")))
    if args.arms:
        tier = replace(tier, arms=tuple(int(x) for x in args.arms.split(",")))
    args.out = args.out or Path("reports/reproduce") / (args.tier if args.split == "test" else f"{args.tier}-dev")
    args.work = args.work or Path("runs/reproduce") / args.tier
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tier == "quick":
        args.elmol_lm, args.elmo_lm, args.fasttext = inputs.tiny_inputs(args.work / "inputs")
    args.lm = {"elmol": args.elmol_lm, "elmo": args.elmo_lm, "elmol-kd": args.elmol_kd_lm}
    arms = [ARMS[e] for e in tier.embeddings if e in ARMS]
    static = ("fasttext",) if any(kind.endswith("fasttext") for kind, _, _ in arms) else ()
    inputs.check_exist(args, (*(e for e in tier.embeddings if e not in ARMS), *static))
    if any(lm == "elmol-kd" for _, lm, _ in arms) and not args.elmol_kd_lm.exists():
        raise SystemExit(f"{args.elmol_kd_lm} is missing: make it with `make pretrain-kd`")
    data = load_massive(args.data, tier.limit)
    csv_path = args.out / "runs.csv"
    todo = [k for k in planned_runs(tier) if run_key(k) not in completed_keys(csv_path)]
    log.info("%d of %d runs to do, rows in %s", len(todo), len(planned_runs(tier)), csv_path)
    started = time.monotonic()
    for key in tqdm(todo, desc="runs", unit="run"):
        if args.max_minutes is not None and time.monotonic() - started > args.max_minutes * 60:
            log.info("time budget reached; re-run the same command to go on")
            break
        if run_key(key) in completed_keys(csv_path):  # done meanwhile by a parallel worker
            continue
        if key["supervised_pretraining"]:
            source_model(key["embedding"], data, tier, args)
        row = transfer_run(key, data, tier, args)
        append_row(csv_path, row)
        log.info("%s", row)
    return csv_path


if __name__ == "__main__":
    main()
