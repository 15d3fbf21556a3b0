"""Several skills served together: does each utterance reach the right one?

    python -m experiments.bench.skill_routing [--base runs/models/oos-kd] [--n 500] [--out reports/skills]

The base (``make out-of-scope-kd``) never saw MASSIVE's email, iot, transport, lists and weather. Each becomes
a skill trained as ``elmol-nlu skill train`` trains it, on n of its train utterances (seed 0, the study's
sample), with the other four skills' samples served beside it (as a ``skills/`` directory gives them): the
base's utterances and theirs are what it learns is not its own, and its claim threshold is fitted on dev at
export. Then the base and the five skills answer every MASSIVE test utterance (2,974) together, through the
service's predictor and its specialists-first choice. Scored like the shipped model (models/default), which
saw all 18 scenarios' 11,514 training utterances: the comparison says what serving six models costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from elmol_nlu.datasets import load_massive, sample
from elmol_nlu.manifest import load_manifest
from elmol_nlu.scoring import Prediction, score
from experiments.bench import claim_rules
from experiments.reproduce import TARGETS
from export.skill import CLAIM_RULE, out_of_skill_probabilities
from training.skill import SkillConfig

log = logging.getLogger("bench.skill_routing")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos-kd"))
    p.add_argument("--single", type=Path, default=Path("models/default"), help="the model trained on everything")
    p.add_argument("--negatives", type=float, default=SkillConfig.negatives, help="per skill utterance")
    p.add_argument("--max-negatives", type=int, default=SkillConfig.max_negatives)
    p.add_argument("--lexical-weight", type=float, default=SkillConfig.lexical_weight,
                   help="of each skill's lexical intent model (0: the heads alone)")
    p.add_argument("--alone", action="store_true", help="train each skill without the others' examples")
    p.add_argument("--split", choices=["dev", "test"], default="test",
                   help="dev to choose a setting (writes routing-dev.json); test once, for the one chosen")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path("reports/skills"))
    p.add_argument("--skills-dir", type=Path, default=None,
                   help="keep the trained skills here (default: a temporary folder) for experiments.routing_rules")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from elmol_nlu.runtime import Predictor
    from export.skill import export_skill, source_checkpoint
    from training.skill import train_skill

    torch.set_num_threads(1)
    data = load_massive(args.data, None)
    single = load_manifest(args.single)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.skills_dir or Path(tmp)
        base = Predictor.load(args.base, precision="auto")
        skills, fit_on, rules, refit = [], {}, None, False
        samples = {domain: sample(data["train"][domain], args.n, 0) for domain in TARGETS}
        cfg = SkillConfig(seed=0, time_budget_s=None, negatives=args.negatives, max_negatives=args.max_negatives,
                          lexical_weight=args.lexical_weight)
        for domain in TARGETS:
            others = [] if args.alone else [e for d in TARGETS if d != domain for e in samples[d]]
            skill = train_skill(samples[domain], None, source_checkpoint(args.base), cfg, other_skills=others)
            export_skill(skill, domain, args.base, folder / domain)
            skills.append(base.load_skill(folder / domain))
            fit_on[domain] = (skill.dev, skill.out_of_skill_dev)
            refit |= skill.selection_model is not None
        served = base.with_skills(skills)
        test = [e for part in data[args.split].values() for e in part]
        parses = []
        for i in range(0, len(test), 64):
            parses += served.parse_batch([g.example.text for g in test[i : i + 64]])
        # how each claim rule would route the same utterances; not for refit skills, whose served answers on their
        # dev split are on utterances they trained on (their claim was fitted by the model chosen on dev)
        if args.split == "dev" and not refit:
            texts = [g.example.text for g in test]
            column = {s.name: s.out_of_skill for s in skills}
            probs = {s.name: out_of_skill_probabilities(served, texts, column[s.name], s.name) for s in skills}
            fitted = {name: tuple(out_of_skill_probabilities(served, [e.example.text for e in part], column[name], name)
                                  for part in parts) for name, parts in fit_on.items()}
            rules = claim_rules.compare(fitted, probs, [g.example.domain if g.example.domain in TARGETS
                                                        else base.primary.name for g in test], base.primary.name)
    predicted = [Prediction(p.intent, p.tags) for p in parses]
    skill_of = {d: d for d in TARGETS}
    right_skill = [skill_of.get(g.example.domain, base.primary.name) == p.skill for g, p in zip(test, parses,
                                                                                              strict=True)]
    held_out = [i for i, g in enumerate(test) if g.example.domain in TARGETS]
    rest = [i for i, g in enumerate(test) if g.example.domain not in TARGETS]
    result = {
        "all": {k: v for k, v in score(test, predicted).items() if k in ("n", "intent_acc", "slot_f1", "exact_match")},
        "routed_to_the_right_skill": round(100 * sum(right_skill) / len(test), 2),
        "held_out_scenarios_routed_right": round(100 * sum(right_skill[i] for i in held_out) / len(held_out), 2),
        "base_scenarios_kept_by_the_base": round(100 * sum(right_skill[i] for i in rest) / len(rest), 2),
        "split": args.split,
        "single_model": {"name": single.name, "version": single.version, args.split: single.metrics[args.split]},
        "n_train_per_skill": args.n, "base": base.manifest.name,
        "base_version": base.manifest.version, "precision": base.precision,
        "skills": {"negatives": args.negatives, "max_negatives": args.max_negatives,
                   "lexical_weight": args.lexical_weight, "out_of_skill_tag_weight": cfg.out_of_skill_tag_weight,
                   "other_skills_as_negatives": not args.alone,
                   "refit_from": cfg.refit_min_examples if cfg.refit else None,
                   "mention_copies": cfg.mention_copies, "mention_open_ratio": cfg.mention_open_ratio,
                   "claim_thresholds": {s.name: s.claim_threshold for s in skills}, "claim_rule": CLAIM_RULE},
        **({"claim_rules_compared": rules} if rules else {}),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ("routing.json" if args.split == "test" else f"routing-{args.split}.json")).write_text(
        json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
