"""Home Assistant's sentence templates (hassil syntax) sampled into plain sentences (no I/O).

Syntax: ``(a|b)`` alternatives, ``[x]`` optional, ``{list}`` a list's value, ``<rule>`` an expansion rule.
Lists that Home Assistant fills at run time from the user's devices (``name``, ``area``, ``floor``) and the
wildcards (free text) take values from small made-up tables below, so that the sentences read naturally.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

Node = str | tuple  # a literal, ("seq", [nodes]), ("alt", [nodes]), ("list", name), ("rule", name)

RUNTIME_LISTS = {
    "name": ["kitchen light", "ceiling fan", "front door", "garage door", "tv", "bedroom lamp", "thermostat",
             "porch light", "coffee maker", "living room speaker", "desk lamp", "heater"],
    "area": ["kitchen", "living room", "bedroom", "bathroom", "office", "garage", "hallway", "basement",
             "dining room", "kids room", "garden"],
    "floor": ["first floor", "second floor", "upstairs", "downstairs", "ground floor", "attic"],
}
WILDCARDS = ["milk", "eggs", "pick up the kids", "call mom", "dinner is ready", "pizza", "the beatles",
             "jazz", "pasta", "laundry", "work", "school", "paris", "new york", "tea", "the news", "bread"]


class TemplateError(ValueError):
    pass


def parse(template: str) -> Node:
    node, end = _parse_seq(template, 0, "")
    if end != len(template):
        raise TemplateError(f"unbalanced template at {end}: {template!r}")
    return node


def _parse_seq(s: str, i: int, closers: str) -> tuple[Node, int]:
    """A sequence up to one of ``closers`` (or the end); alternatives at this level split on '|'."""
    alternatives, items, literal = [], [], []

    def flush() -> None:
        if literal:
            items.append("".join(literal))
            literal.clear()

    while i < len(s) and s[i] not in closers:
        c = s[i]
        if c in "([":
            flush()
            inner, i = _parse_seq(s, i + 1, ")" if c == "(" else "]")
            items.append(inner if c == "(" else ("alt", [inner, ""]))
            i += 1  # the closer
        elif c in "{<":
            flush()
            end = s.index("}" if c == "{" else ">", i)
            name = s[i + 1 : end].split(":")[0]
            items.append(("list" if c == "{" else "rule", name))
            i = end + 1
        elif c == "|":
            flush()
            alternatives.append(("seq", items))
            items = []
            i += 1
        else:
            literal.append(c)
            i += 1
    flush()
    if i == len(s) and closers:
        raise TemplateError(f"missing {closers!r}: {s!r}")
    seq = ("seq", items)
    return (("alt", [*alternatives, seq]) if alternatives else seq), i


@dataclass
class Sampler:
    """Random expansions of parsed templates, with the language file's lists and expansion rules."""

    lists: dict
    rules: dict[str, Node]
    rng: random.Random

    def sample(self, node: Node) -> str:
        if isinstance(node, str):
            return node
        kind, value = node
        if kind == "seq":
            return "".join(self.sample(n) for n in value)
        if kind == "alt":
            return self.sample(self.rng.choice(value))
        if kind == "rule":
            return self.sample(self.rules[value])
        return self.list_value(value)

    def list_value(self, name: str) -> str:
        spec = self.lists.get(name, {})
        if name in RUNTIME_LISTS:
            return self.rng.choice(RUNTIME_LISTS[name])
        if "values" in spec:
            value = self.rng.choice(spec["values"])
            return self.sample(parse(value["in"] if isinstance(value, dict) else str(value)))
        if "range" in spec:
            r = spec["range"]
            number = self.rng.randrange(r["from"], r["to"] + 1, r.get("step", 1))
            return f"{number}%" if r.get("type") == "percentage" and self.rng.random() < 0.5 else str(number)
        return self.rng.choice(WILDCARDS)


def sentences(language: dict, per_template: int, seed: int) -> list[str]:
    """Up to ``per_template`` distinct random sentences of every template of a hassil language file."""
    rng = random.Random(seed)
    sampler = Sampler(language.get("lists", {}), {k: parse(v) for k, v in language["expansion_rules"].items()}, rng)
    out: list[str] = []
    for intent in language["intents"].values():
        for data in intent["data"]:
            for template in data["sentences"]:
                tree = parse(template)
                seen = {" ".join(sampler.sample(tree).split()) for _ in range(3 * per_template)}
                out.extend(sorted(seen)[:per_template])
    return out
