"""Who should answer when skills are served together: routing rules compared on the same answers, without retraining.

    python -m experiments.bench.skill_routing --split dev --skills-dir runs/routing-skills --out runs/routing-dev
    python -m experiments.routing_rules --skills-dir runs/routing-skills --split dev

Every model's own answer to every utterance is taken once (the predictor's ``per_skill``); each rule then picks
one of them, and is scored as the routing bench scores the served answers (routed to the right model, and
intent accuracy, slot F1 and exact match of what the chosen model said):

- ``specialists-first`` (the service's rule): a skill claims when its calibrated P(out of skill) is under its
  fitted threshold; the claiming skill surest of it answers; the base only when none claims.
- ``most-confident``: the base competes too: a claiming skill answers only when its P(own) = 1 - P(out of
  skill) is above the base's calibrated confidence in its own best intent. The bet: the base, trained on many
  scenarios, is surer of its own utterances than of those of scenarios it never saw (on MASSIVE dev it did not
  route better: docs/SKILLS.md).
- ``most-confident-any``: the same without the skills' thresholds: every skill competes with its P(own).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from elmol_nlu.datasets import load_massive
from elmol_nlu.runtime import Predictor
from elmol_nlu.runtime.parse import Parse, Selection
from elmol_nlu.scoring import Prediction, score
from experiments.reproduce import TARGETS

log = logging.getLogger("routing_rules")
RULES = ("specialists-first", "most-confident", "most-confident-any")


def choose(rule: str, own: dict[str, float], base: str, base_confidence: float) -> str:
    """The model whose answer is served: ``own`` holds P(own) of each claiming skill, ``base_confidence`` the
    base's calibrated probability of its best intent."""
    if not own:
        return base
    best = max(own, key=own.get)
    if rule.startswith("most-confident") and own[best] <= base_confidence:
        return base
    return best


def claims(served: Predictor, answers: dict[str, Parse], base: str, rule: str) -> dict[str, float]:
    """P(own) of each skill that claims the utterance (of every skill, for ``most-confident-any``)."""
    return {name: 1.0 - float(a.intent_probs[served.skills[name].out_of_skill])
            for name, a in answers.items() if name != base and (a.claimed or rule == "most-confident-any")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos-kd"))
    p.add_argument("--skills-dir", type=Path, default=Path("runs/routing-skills"))
    p.add_argument("--split", choices=["dev", "test"], default="dev")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--out", type=Path, default=None, help="default: reports/skills/routing-rules-SPLIT.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    base = Predictor.load(args.base, precision="auto")
    served = base.with_skills([base.load_skill(args.skills_dir / d) for d in TARGETS])
    utterances = [e for part in load_massive(args.data, None)[args.split].values() for e in part]
    answers: list[dict[str, Parse]] = []
    for i in range(0, len(utterances), 64):
        chunk = [g.example.text for g in utterances[i : i + 64]]
        answers += [a.per_skill for a in served.parse_batch(chunk, [Selection(per_skill=True)] * len(chunk))]
    name = base.primary.name
    gold = [g.example.domain if g.example.domain in TARGETS else name for g in utterances]
    report = {"split": args.split, "base": base.manifest.name, "base_version": base.manifest.version,
              "skills": {d: served.skills[d].manifest.version for d in TARGETS}, "rules": {}}
    for rule in RULES:
        chosen = [choose(rule, claims(served, a, name, rule), name, a[name].confidence) for a in answers]
        right = [c == g for c, g in zip(chosen, gold, strict=True)]
        held = [r for r, g in zip(right, gold, strict=True) if g != name]
        kept = [r for r, g in zip(right, gold, strict=True) if g == name]
        predicted = [Prediction(a[c].intent, a[c].tags) for a, c in zip(answers, chosen, strict=True)]
        scores = score(utterances, predicted)
        report["rules"][rule] = {
            "routed_right": round(100 * sum(right) / len(right), 2),
            "held_out_scenarios_routed_right": round(100 * sum(held) / len(held), 2),
            "base_scenarios_kept_by_the_base": round(100 * sum(kept) / len(kept), 2),
            **{k: round(v, 2) for k, v in scores.items() if k in ("intent_acc", "slot_f1", "exact_match")}}
        log.info("%s: %s", rule, report["rules"][rule])
    out = args.out or Path("reports/skills") / f"routing-rules-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
