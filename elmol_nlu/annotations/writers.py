"""Annotated utterances written back out, in the formats ``read_annotations`` reads (MASSIVE JSON lines and Rasa
YAML): what the service's review queue exports for ``elmol-nlu skill train``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from elmol_nlu.datasets import CharSlot
from elmol_nlu.intents import SEPARATOR


@dataclass(frozen=True)
class Labelled:
    text: str
    intent: str
    slots: tuple[CharSlot, ...]


def _marked(item: Labelled, mark: str) -> str:
    """The text with each slot replaced by ``mark`` formatted with its name and value, left to right."""
    out, at = [], 0
    for slot in sorted(item.slots, key=lambda s: s.start):
        out += [item.text[at:slot.start], mark.format(name=slot.name, value=item.text[slot.start:slot.end])]
        at = slot.end
    return "".join([*out, item.text[at:]])


def massive_lines(items: Iterable[Labelled], partition: str = "train") -> str:
    """One MASSIVE-style JSON object per line: ``utt``, ``annot_utt`` (``[name : value]`` marks), ``intent``."""
    return "".join(json.dumps({"id": str(i), "partition": partition, "intent": item.intent, "utt": item.text,
                               "annot_utt": _marked(item, "[{name} : {value}]")}, ensure_ascii=False) + "\n"
                   for i, item in enumerate(items))


def rasa_yaml(items: Iterable[Labelled]) -> str:
    """Rasa 3 NLU YAML: one block per intent, ``[value](name)`` marks."""
    by_intent: dict[str, list[str]] = {}
    for item in items:
        by_intent.setdefault(item.intent, []).append(_marked(item, "[{value}]({name})"))
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in by_intent.items():
        lines += [f"- intent: {intent.replace(SEPARATOR, '+')}", "  examples: |", *(f"    - {e}" for e in examples)]
    return "\n".join(lines) + "\n"
