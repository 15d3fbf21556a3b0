"""Choose, on MASSIVE dev, how a skill's lexical intent model (elmol_nlu.lexical) joins its heads: the weight of
its log-probabilities and its regularisation. The skills are those of ``experiments.skill_study`` (the five
held-out scenarios on the out-of-scope base), trained once each with the heads alone; each (C, weight) is then
scored on the scenario's dev split (the own-intent argmax, as the study scores, and the share of own
utterances the skill would reject as out of skill).

    python -m experiments.lexical_choice --base runs/models/oos-kd --out reports/skills/lexical-choice.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import load_massive, sample
from elmol_nlu.lexical import LexicalHead
from elmol_nlu.scoring import metrics
from elmol_nlu.vocab import Vocab
from experiments.skill_study import own_intent_predictions
from training.evaluate import predict
from training.lexical import fit_lexical
from training.skill import SkillConfig, train_skill

log = logging.getLogger("lexical_choice")
SCENARIOS = ("email", "iot", "lists", "transport", "weather")
CS = (1.0, 10.0, 100.0)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main(argv: list[str] | None = None) -> None:
    from export.skill import source_checkpoint

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos-kd"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--out", type=Path, default=Path("reports/skills/lexical-choice.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    data = load_massive(args.data, None)
    checkpoint = source_checkpoint(args.base)
    rows = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    done = {(r["scenario"], r["n"], r["seed"]) for r in rows}
    for seed in args.seeds:
        for n in args.sizes:
            for scenario in SCENARIOS:
                if (scenario, n, seed) in done:
                    continue
                torch.manual_seed(seed)
                skill = train_skill(sample(data["train"][scenario], n, seed), None, checkpoint,
                                    SkillConfig(seed=seed, time_budget_s=None, lexical_weight=0.0,
                                                refit=False))  # as when the weight was chosen
                intents, tags = Vocab(skill.state["intents"]), Vocab(skill.state["tags"])
                dev = data["dev"][scenario]
                for c in CS:
                    lexical = fit_lexical(skill.model, skill.train + skill.out_of_skill_train, intents.itos, c, seed)
                    for weight in WEIGHTS:
                        preds = predict(skill.model, dev, intents, tags, lexical=LexicalHead(lexical, weight))
                        own, rejected = own_intent_predictions(preds, intents.itos)
                        rows.append({"scenario": scenario, "n": n, "seed": seed, "c": c, "weight": weight,
                                     "intent_acc": metrics(dev, own)["intent_acc"], "rejected": rejected})
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"split": "dev", "base": str(args.base), "runs": rows}, indent=2))
    summary = {}
    for c in CS:
        for weight in WEIGHTS:
            for n in args.sizes:
                pick = [r for r in rows if r["c"] == c and r["weight"] == weight and r["n"] == n]
                summary[f"C={c:g} weight={weight:g} n={n}"] = {
                    "intent_acc": round(float(np.mean([r["intent_acc"] for r in pick])), 2),
                    "rejected": round(float(np.mean([r["rejected"] for r in pick])), 2), "runs": len(pick)}
    args.out.write_text(json.dumps({"split": "dev", "base": str(args.base), "summary": summary, "runs": rows},
                                   indent=2))
    for key, value in summary.items():
        log.info("%-28s %s", key, value)


if __name__ == "__main__":
    main()
