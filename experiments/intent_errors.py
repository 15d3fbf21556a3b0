"""Where a new skill's intents go wrong and a fine-tuned MiniLM's do not: both trained on the same n examples
of MASSIVE's held-out scenarios (as ``experiments.skill_study`` samples them), scored on the scenario's dev split.

    python -m experiments.intent_errors --domains email iot --n 100 --seeds 2 --out reports/skills/errors.json

Writes each run's accuracies, how many dev utterances only ours, only MiniLM, or both get wrong, our most
frequent confusions, and the utterances only ours gets wrong (with both answers), to aim the next recipe.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import torch

from elmol_nlu.datasets import load_massive, sample
from elmol_nlu.vocab import Vocab
from experiments.skill_study import own_intent_predictions

log = logging.getLogger("intent_errors")


def one_run(domain: str, n: int, seed: int, base: Path, data: dict) -> dict:
    from export.skill import source_checkpoint
    from training.evaluate import predict
    from training.minilm import MiniLMConfig, fit_minilm, predict_minilm
    from training.skill import SkillConfig, train_skill

    train, dev = sample(data["train"][domain], n, seed), data["dev"][domain]
    skill = train_skill(train, None, source_checkpoint(base), SkillConfig(seed=seed, time_budget_s=None))
    intents, tags = skill.state["intents"], skill.state["tags"]
    ours, _ = own_intent_predictions(predict(skill.model, dev, Vocab(intents), Vocab(tags), lexical=skill.lexical),
                                     intents)
    model, m_intents, m_tags = fit_minilm(train, MiniLMConfig(seed=seed))
    theirs = predict_minilm(model, m_intents, m_tags, dev)
    gold = [e.example.intent for e in dev]
    ok_ours = [p.intent == g for p, g in zip(ours, gold, strict=True)]
    ok_theirs = [p.intent == g for p, g in zip(theirs, gold, strict=True)]
    only_ours_wrong = [{"text": e.example.text, "gold": g, "ours": o.intent, "minilm": t.intent}
                       for e, g, o, t, a, b in zip(dev, gold, ours, theirs, ok_ours, ok_theirs, strict=True)
                       if not a and b]
    confusions = Counter(f"{g} -> {o.intent}" for g, o, a in zip(gold, ours, ok_ours, strict=True) if not a)
    seen = {e.example.intent for e in train}
    return {"domain": domain, "n": n, "seed": seed, "dev": len(dev), "train_intents": len(seen),
            "dev_intents_unseen_in_train": sorted(set(gold) - seen),
            "ours_acc": round(100 * sum(ok_ours) / len(dev), 2),
            "minilm_acc": round(100 * sum(ok_theirs) / len(dev), 2),
            "both_wrong": sum(not a and not b for a, b in zip(ok_ours, ok_theirs, strict=True)),
            "only_ours_wrong": len(only_ours_wrong),
            "only_minilm_wrong": sum(a and not b for a, b in zip(ok_ours, ok_theirs, strict=True)),
            "our_confusions": confusions.most_common(8), "only_ours_wrong_examples": only_ours_wrong}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos-kd"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--domains", nargs="+", default=["email", "iot"])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seeds", nargs="+", type=int, default=[2])
    p.add_argument("--out", type=Path, default=Path("reports/skills/intent-errors-dev.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    data = load_massive(args.data, None)
    runs = [one_run(d, args.n, s, args.base, data) for s in args.seeds for d in args.domains]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"split": "dev", "base": str(args.base), "runs": runs}, indent=1) + "\n")
    for r in runs:
        log.info("%s n=%d seed %d: ours %.2f, MiniLM %.2f; only ours wrong %d, only MiniLM wrong %d, both %d",
                 r["domain"], r["n"], r["seed"], r["ours_acc"], r["minilm_acc"], r["only_ours_wrong"],
                 r["only_minilm_wrong"], r["both_wrong"])


if __name__ == "__main__":
    main()
