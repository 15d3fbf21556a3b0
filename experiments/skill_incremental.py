"""Adding to a skill (`elmol-nlu skill train DATA --from skills/NAME`) against training it anew on everything.

    python -m experiments.skill_incremental [--seed 0]

On the shipped model, a SNIPS skill of five intents is trained on 200 utterances (40 each, seeded). Then
200 more arrive: 20 more of each of those five and 50 each of two new intents (SearchCreativeWork,
SearchScreeningEvent). They are split into train and dev once (15% of each intent), and two skills are
made from them with the CLI, as a user would:
- incremental: ``--from`` the first skill, with the new train and dev files;
- anew: one skill on the first skill's train examples plus the new ones, its dev split plus the new one.
Both are timed (``report.json``'s seconds: training, export, its checks) and scored on the first skill's
dev split (did it forget?), on the new dev split and on all of SNIPS test (read once per skill). Writes
reports/skills/incremental.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

from elmol_nlu.annotations import read_annotations
from elmol_nlu.annotations.writers import massive_lines
from elmol_nlu.datasets import TaggedExample, read_bio_folder, tag
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.runtime.evaluate import evaluate_dir
from experiments.skill_cli import skill_train
from training.skill import split_dev
from training.skill_incremental import examples_of

log = logging.getLogger("experiments.skill_incremental")
SNIPS = Path("data/snips")
FIRST = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook")
ADDED = ("SearchCreativeWork", "SearchScreeningEvent")


def draw(examples: list[TaggedExample], counts: dict[str, int], seed: int, skip: set[str]) -> list[TaggedExample]:
    """``counts[intent]`` examples of each intent, seeded, none of whose text is in ``skip``."""
    rng = random.Random(f"incremental:{seed}")
    out = []
    for intent, n in counts.items():
        pool = [e for e in examples if e.example.intent == intent and e.example.text not in skip]
        out += rng.sample(pool, n)
    return out


def write(path: Path, examples: list[TaggedExample]) -> Path:
    path.write_text(massive_lines([e.example for e in examples]), encoding="utf-8")
    return path


def train(args: argparse.Namespace, data: Path, out: Path, *extra: str) -> dict:
    status = skill_train(str(data), "--name", "snips", "--base", str(args.base), "--out", str(out),
                         "--skills-dir", str(args.runs / "no-other-skills"), "--seed", str(args.seed),
                         "--no-refit", *extra)  # each old dev split stays unseen, so forgetting is measured
    if status != 0:
        raise SystemExit(f"skill train {data} exited with {status}")
    return json.loads((out / "report.json").read_text())


def scores(model_dir: Path, splits: dict[str, list[TaggedExample]]) -> dict:
    keep = ("intent_acc", "slot_f1", "exact_match", "n")
    return {name: {k: v for k, v in evaluate_dir(model_dir, gold, "auto").items() if k in keep}
            for name, gold in splits.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--runs", type=Path, default=Path("runs/incremental"))
    p.add_argument("--out", type=Path, default=Path("reports/skills/incremental.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.runs.mkdir(parents=True, exist_ok=True)
    snips = [tag(e) for e in read_bio_folder(SNIPS / "train")]
    first = draw(snips, dict.fromkeys(FIRST, 40), args.seed, set())
    more = draw(snips, {**dict.fromkeys(FIRST, 20), **dict.fromkeys(ADDED, 50)}, args.seed + 1,
                {e.example.text for e in first})
    more_train, more_dev = split_dev(more, 0.15, args.seed)
    first_report = train(args, write(args.runs / "first.jsonl", first), args.runs / "first")
    old_train, old_dev = examples_of(args.runs / "first")
    write(args.runs / "more-train.jsonl", more_train)
    write(args.runs / "more-dev.jsonl", more_dev)
    write(args.runs / "all-train.jsonl", old_train + more_train)
    write(args.runs / "all-dev.jsonl", old_dev + more_dev)
    incremental = train(args, args.runs / "more-train.jsonl", args.runs / "incremental", "--dev",
                        str(args.runs / "more-dev.jsonl"), "--from", str(args.runs / "first"))
    anew = train(args, args.runs / "all-train.jsonl", args.runs / "anew", "--dev", str(args.runs / "all-dev.jsonl"))
    test_items, _ = read_annotations(SNIPS / "test", "bio")
    splits = {"first_dev": old_dev, "new_dev": more_dev, "snips_test": [tag(i.example) for i in test_items]}
    result = {
        "command": "python -m experiments.skill_incremental", "seed": args.seed, "base": str(args.base),
        "data": {"first": {"intents": list(FIRST), "train": len(old_train), "dev": len(old_dev)},
                 "added": {"intents": list(ADDED), "utterances": len(more), "train": len(more_train),
                           "dev": len(more_dev)}},
        "first": {"seconds": first_report["seconds"], "scores": scores(args.runs / "first", splits)},
        "incremental": {"seconds": incremental["seconds"], "scores": scores(args.runs / "incremental", splits),
                        "old_dev_before": incremental["from"]["old_dev_before"]["intent_acc"],
                        "epochs": json.loads((args.runs / "incremental" / "manifest.json").read_text())
                        ["config"]["fit"]["epochs"]},
        "anew": {"seconds": anew["seconds"], "scores": scores(args.runs / "anew", splits),
                 "epochs": json.loads((args.runs / "anew" / "manifest.json").read_text())["config"]["fit"]["epochs"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for arm in ("first", "incremental", "anew"):
        s = result[arm]["scores"]
        log.info("%s: %.0f s; first dev intent %.2f slot F1 %.2f; new dev %.2f / %.2f; SNIPS test %.2f / %.2f", arm,
                 result[arm]["seconds"], s["first_dev"]["intent_acc"], s["first_dev"]["slot_f1"],
                 s["new_dev"]["intent_acc"], s["new_dev"]["slot_f1"], s["snips_test"]["intent_acc"],
                 s["snips_test"]["slot_f1"])


if __name__ == "__main__":
    main()
