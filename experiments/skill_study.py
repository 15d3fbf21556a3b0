"""How good is a skill trained on a few hundred utterances? MASSIVE's five held-out scenarios (email, iot,
transport, lists, weather), 100/200/500 training utterances each, against the same network from scratch
and the MiniLM peer (training/minilm.py) trained on the same sample.

    python -m experiments.skill_study --base runs/models/oos        # after `make out-of-scope` made the base
    python -m experiments.skill_study --report                       # tables and plot from the runs so far

The base never saw the five scenarios (train_nlu --exclude-scenarios). Each run samples n utterances of
the scenario's train split (elmol_nlu.datasets.sample: the seed and n fix the sample) and scores the
scenario's whole test split. Ours and scratch run through ``train_skill``, as ``elmol-nlu skill train``
does: a dev split carved off the sample, out-of-skill utterances from the base's data. Intent accuracy is
the argmax over the skill's own intents (the utterance is known to be the skill's, as for the peer); how
often ours would hand a test utterance to another skill is reported separately (``rejected``).
Runs append to ``OUT/runs.csv`` and are skipped when already there, so the study resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
import warnings
from pathlib import Path

import torch

from elmol_nlu.datasets import TaggedExample, load_massive, load_split, sample
from elmol_nlu.scoring import Prediction, metrics
from elmol_nlu.vocab import Vocab
from experiments.reproduce import TARGETS
from training.evaluate import predict
from training.skill import OUT_OF_SKILL, SkillConfig, train_skill

log = logging.getLogger("skill_study")
ARMS = ("transfer", "scratch", "minilm", "crf", "own-encoder")  # own-encoder: transfer with the encoder fine-tuned too
SIZES = (100, 200, 500)
FIELDS = ["arm", "domain", "n", "seed", "intent_acc", "slot_f1", "exact_match", "rejected", "n_train", "n_test",
          "epochs", "train_seconds"]
# from scratch has no head start: more epochs and patience, so that it is compared converged
SCRATCH = {"min_steps": 1500, "epoch_range": (20, 60), "patience": 10}


def own_intent_predictions(preds: list[Prediction], intents: list[str]) -> tuple[list[Prediction], float]:
    """Predictions with the intent chosen among the skill's own (not OUT_OF_SKILL), and the share rejected."""
    if OUT_OF_SKILL not in intents:
        return preds, 0.0
    other = intents.index(OUT_OF_SKILL)
    out, rejected = [], 0
    for p in preds:
        probs = p.intent_probs.copy()
        rejected += int(probs.argmax()) == other
        probs[other] = -1
        out.append(Prediction(intents[int(probs.argmax())], p.tags, p.intent_probs))
    return out, 100 * rejected / len(preds)


def elmol_run(arm: str, train: list[TaggedExample], test: list[TaggedExample], base: Path, seed: int,
              overrides: dict) -> dict:
    from export.skill import source_checkpoint

    start, shared = ("transfer", False) if arm == "own-encoder" else (arm, True)
    cfg = SkillConfig(start=start, share_encoder=shared, seed=seed, time_budget_s=None,
                      **(SCRATCH if arm == "scratch" else {}), **overrides)
    skill = train_skill(train, None, source_checkpoint(base), cfg)
    intents, tags = skill.state["intents"], skill.state["tags"]
    preds = predict(skill.model, test, Vocab(intents), Vocab(tags), lexical=skill.lexical)  # as served
    preds, rejected = own_intent_predictions(preds, intents)
    return {**metrics(test, preds), "rejected": round(rejected, 2), "epochs": len(skill.state["history"])}


def minilm_run(train: list[TaggedExample], test: list[TaggedExample], seed: int) -> dict:
    from training.minilm import MiniLMConfig, fit_minilm, predict_minilm

    model, intents, tags = fit_minilm(train, MiniLMConfig(seed=seed))
    scores = metrics(test, predict_minilm(model, intents, tags, test))
    return {**scores, "rejected": "", "epochs": len(model.history)}


def crf_run(train: list[TaggedExample], test: list[TaggedExample], seed: int) -> dict:
    """The classic recipe (TF-IDF + logistic regression, CRF) with the hyper-parameters its MASSIVE run chose on
    dev (reports/baseline_classic.json): a user with a few hundred utterances has no dev set to tune on."""
    from experiments.baselines.classic import ClassicNLU, fit_intent, fit_slots

    chosen = json.loads(Path("reports/baseline_classic.json").read_text())["hyperparameters"]
    vectorizer, classifier = fit_intent(train, chosen["C"], seed)
    model = ClassicNLU(vectorizer, classifier, fit_slots(train, chosen["c1"], chosen["c2"]))
    return {**metrics(test, model.predict(test)), "rejected": "", "epochs": ""}


def done_keys(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    with open(path) as f:
        return {(r["arm"], r["domain"], int(r["n"]), int(r["seed"])) for r in csv.DictReader(f)}


def study_data(path: Path) -> dict[str, dict[str, list[TaggedExample]]]:
    """MASSIVE by partition and scenario, or a SNIPS-style folder as one new skill named after the folder."""
    if path.is_dir():
        return {part: {path.name: load_split(path, part, None)} for part in ("train", "dev", "test")}
    return load_massive(path, None)


def run(args: argparse.Namespace) -> None:
    data = study_data(args.data)
    if args.split == "dev":
        log.warning("scoring on dev: for choosing a recipe, not for the figures of record")
    path = args.out / "runs.csv"
    args.out.mkdir(parents=True, exist_ok=True)
    done = done_keys(path)
    plan = [(arm, d, n, s) for s in args.seeds for n in args.sizes for d in args.domains for arm in args.arms]
    for arm, domain, n, seed in plan:
        name = arm + (f"@{args.variant}" if args.variant else "")
        if (name, domain, n, seed) in done:
            continue
        train, test = sample(data["train"][domain], n, seed), data[args.split][domain]
        torch.manual_seed(seed)
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seqeval, early epochs
            result = (minilm_run(train, test, seed) if arm == "minilm" else crf_run(train, test, seed) if arm == "crf"
                      else elmol_run(arm, train, test, args.base, seed, args.overrides))
        row = {"arm": name, "domain": domain, "n": n, "seed": seed, "n_train": len(train), "n_test": len(test),
               "train_seconds": round(time.monotonic() - started, 1),
               **{k: round(v, 2) if isinstance(v, float) else v for k, v in result.items() if k in FIELDS and k != "n"}}
        log.info("%s", row)
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos"), help="model directory skills build on")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"),
                   help="MASSIVE (its --domains are the skills), or a SNIPS-style folder (one skill: --domains snips)")
    p.add_argument("--out", type=Path, default=Path("reports/skills"))
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS[:3]))
    p.add_argument("--domains", nargs="+", default=list(TARGETS))
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--split", choices=("test", "dev"), default="test", help="what the runs are scored on: dev to "
                   "choose a recipe, test once for the one chosen")
    p.add_argument("--variant", default="", help="a name for this recipe or base, appended to the arm (transfer@NAME)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="SkillConfig fields for ours, e.g. refit=false min_steps=1500")
    p.add_argument("--report", action="store_true", help="only write the tables and plot from runs.csv")
    return p.parse_args(argv)


def overrides(pairs: list[str]) -> dict:
    """``FIELD=VALUE`` pairs as SkillConfig fields, each value parsed as its field's default is typed."""
    defaults, out = SkillConfig(), {}
    for pair in pairs:
        field, _, value = pair.partition("=")
        kind = type(getattr(defaults, field))
        out[field] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.overrides = overrides(args.overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    if not args.report:
        run(args)
    from experiments.skill_report import write_report

    write_report(args.out)


if __name__ == "__main__":
    main()
