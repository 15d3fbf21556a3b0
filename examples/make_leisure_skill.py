"""Write the README's example skill from SNIPS (CC0): 100 training utterances each of three intents that
MASSIVE does not have (rating books, cinema showtimes, restaurant bookings) as Rasa YAML, and the SNIPS
test utterances of the same intents as a second file to evaluate on.

    python examples/make_leisure_skill.py     # writes examples/leisure.yml and examples/leisure-test.yml
"""

from __future__ import annotations

import random
from pathlib import Path

from elmol_nlu.datasets import read_bio_folder

ROOT = Path(__file__).resolve().parent.parent
INTENTS = ("RateBook", "SearchScreeningEvent", "BookRestaurant")
HEADER = ("# SNIPS NLU benchmark (CC0 1.0; data/snips/LICENSE_snips_nlu-benchmark), {what}, "
          "written by examples/make_leisure_skill.py\n")


def marked(text: str, slots: tuple) -> str:
    """Rasa's inline marks: ``[value](slot)``."""
    out, at = [], 0
    for s in sorted(slots, key=lambda s: s.start):
        out += [text[at : s.start], f"[{text[s.start : s.end]}]({s.name})"]
        at = s.end
    return "".join([*out, text[at:]])


def write(path: Path, partition: str, per_intent: int | None, what: str) -> None:
    examples = read_bio_folder(ROOT / "data" / "snips" / partition)
    lines = [HEADER.format(what=what), 'version: "3.1"', "nlu:"]
    for intent in INTENTS:
        chosen = [e for e in examples if e.intent == intent]
        if per_intent:
            chosen = random.Random(intent).sample(chosen, per_intent)
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {marked(e.text, e.slots)}" for e in chosen]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(ROOT / "examples" / "leisure.yml", "train", 100, "100 training utterances of each intent")
    write(ROOT / "examples" / "leisure-test.yml", "test", None, "its test utterances of the same intents")
