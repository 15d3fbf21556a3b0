"""How well does the model trained on everything "route"? The routing benchmark (experiments.bench.skill_routing)
counts an utterance routed right when the model that answers it is its scenario's: the skill for the five
held-out scenarios, the base for the others. The single model (models/default, all 18 scenarios' training
data) has no routing step, but its answer's intent names a scenario; counted the same way, that is the
separation the routing bar asks of six models trained apart, measured on the one model that saw every
scenario's data together. Nothing is chosen here.

    python -m experiments.routing_ceiling --out reports/skills/routing-ceiling.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from elmol_nlu.datasets import read_massive
from elmol_nlu.runtime import Predictor
from experiments.bench.report import context
from experiments.reproduce import TARGETS

log = logging.getLogger("routing_ceiling")


def scenario_of(intent: str, scenarios: set[str]) -> str:
    """MASSIVE intents are named ``scenario_action``; the longest scenario name that prefixes the intent."""
    return max((s for s in scenarios if intent.startswith(s + "_")), key=len, default="")


def routed(predictor: Predictor, data: Path, partition: str) -> dict:
    examples = read_massive(data, partition)
    scenarios = {e.domain for e in read_massive(data, "train")}
    right = {"held_out": [0, 0], "base": [0, 0]}
    for e in examples:
        said = scenario_of(predictor.parse(e.text).intent, scenarios)
        if e.domain in TARGETS:
            right["held_out"][0] += said == e.domain
            right["held_out"][1] += 1
        else:
            right["base"][0] += said not in TARGETS
            right["base"][1] += 1
    total = sum(r[0] for r in right.values()), sum(r[1] for r in right.values())
    return {"n": total[1], "routed_right": round(100 * total[0] / total[1], 2),
            "held_out_scenarios_routed_right": round(100 * right["held_out"][0] / right["held_out"][1], 2),
            "base_scenarios_kept_by_the_base": round(100 * right["base"][0] / right["base"][1], 2)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=Path("models/default"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--out", type=Path, default=Path("reports/skills/routing-ceiling.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    predictor = Predictor.load(args.model_dir, precision="auto", threads=1)
    result = {**context(predictor.manifest), "held_out": list(TARGETS), "precision": predictor.precision,
              "command": "python -m experiments.routing_ceiling",
              **{part: routed(predictor, args.data, part) for part in ("dev", "test")}}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("%s", {part: result[part] for part in ("dev", "test")})


if __name__ == "__main__":
    main()
