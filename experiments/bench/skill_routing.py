"""Several skills served together: does each utterance reach the right one?

    python -m experiments.bench.skill_routing [--base runs/models/oos] [--n 500] [--out reports/skills]

The base (``make out-of-scope``) never saw MASSIVE's email, iot, transport, lists and weather. Each becomes
a skill trained as ``elmol-nlu skill train`` trains it, on n of its train utterances (seed 0, the study's
sample); then the base and the five skills answer every MASSIVE test utterance (2,974) together, through
the service's predictor and its specialists-first choice. Scored like the shipped model, which saw all 18
scenarios' 11,514 training utterances: the comparison says what serving six models over one encoder costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from elmol_nlu.datasets import load_massive, sample
from elmol_nlu.scoring import Prediction, score
from experiments.reproduce import TARGETS

log = logging.getLogger("bench.skill_routing")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=Path("runs/models/oos"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path("reports/skills"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from elmol_nlu.runtime import Predictor
    from export.skill import export_skill, source_checkpoint
    from training.skill import SkillConfig, train_skill

    torch.set_num_threads(1)
    data = load_massive(args.data, None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = Predictor.load(args.base, precision="auto")
        skills = []
        for domain in TARGETS:
            skill = train_skill(sample(data["train"][domain], args.n, 0), None, source_checkpoint(args.base),
                                SkillConfig(seed=0, time_budget_s=None))
            export_skill(skill, domain, args.base, Path(tmp) / domain)
            skills.append(base.load_skill(Path(tmp) / domain))
        served = base.with_skills(skills)
        test = [e for part in data["test"].values() for e in part]
        parses = []
        for i in range(0, len(test), 64):
            parses += served.parse_batch([g.example.text for g in test[i : i + 64]])
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
        "n_train_per_skill": args.n, "base": base.manifest.name, "precision": base.precision,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "routing.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
