"""Rasa inline marks (``parse_rasa``) and the Rasa YAML and Rasa Markdown readers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from elmol_nlu.annotations.records import Annotated, AnnotationFileError, Problem, Read, _read_text, _warning
from elmol_nlu.datasets import AnnotationError, CharSlot, Example, Mark, parse_marks
from elmol_nlu.intents import SEPARATOR

if TYPE_CHECKING:
    import yaml

_YAML_BREAK_RE = re.compile("[\n\x85\u2028\u2029]")  # the line breaks PyYAML counts in its marks
_RASA_HINT = "marks are written '[value](slot_name)'"


# ---- Rasa marks, YAML and Markdown


def parse_rasa(annotated: str) -> tuple[str, tuple[CharSlot, ...]]:
    """``"fly to [new york](city)"`` or ``[new york]{"entity": "city"}`` to the plain text and its slot spans."""
    return parse_marks(annotated, _rasa_mark)


def _rasa_mark(annotated: str, open_at: int, close_at: int) -> Mark:
    """A ``[value]`` and the label after it; the slot's span leaves out spaces around the value."""
    value = annotated[open_at + 1 : close_at]
    if "[" in value:
        raise AnnotationError(f"nested or overlapping slot marks in '[{value}]': a word can be in one slot only")
    name, end = _rasa_label(annotated, close_at + 1)
    if not value.strip():
        raise AnnotationError(f"slot {name!r} has an empty value in {annotated[open_at:end]!r}")
    lead = len(value) - len(value.lstrip())
    return name, value, lead, len(value.rstrip()), end


def _rasa_label(annotated: str, at: int) -> tuple[str, int]:
    """The slot name in the ``(slot)`` or ``{"entity": "slot"}`` at ``at``, and where it ends."""
    opener = annotated[at : at + 1]
    closer = {"(": ")", "{": "}"}.get(opener)
    if closer is None:
        raise AnnotationError(f"the '[...]' ending at character {at - 1} is not followed by '(slot_name)' "
                              "or '{\"entity\": \"slot_name\"}'")
    end = annotated.find(closer, at)
    if end < 0:
        raise AnnotationError(f"unclosed {opener!r} at character {at}")
    label = annotated[at + 1 : end]
    if opener == "(":
        name = label.partition(":")[0].strip()  # "(city:New York)" also names a synonym, which we don't need
    else:
        try:
            entity = json.loads("{" + label + "}")
        except (ValueError, RecursionError):
            entity = None
        if not isinstance(entity, dict) or not isinstance(entity.get("entity"), str):
            raise AnnotationError(f"{annotated[at : end + 1]!r} is not JSON like {{\"entity\": \"slot_name\"}}")
        name = entity["entity"].strip()
    if not name:
        raise AnnotationError(f"no slot name in {annotated[at : end + 1]!r}")
    return name, end + 1


def _rasa_example(body: str, intent: str, file: str, line_no: int) -> Read:
    try:
        text, slots = parse_rasa(body)
    except AnnotationError as e:
        return [], [Problem(file, line_no, f"{body!r}: {e}; {_RASA_HINT}")]
    # Rasa writes several intents of one utterance as 'a+b' (its multi-intent convention); ours is 'a#b'
    return [Annotated(Example(text, intent.replace("+", SEPARATOR), slots), file, line_no)], []


def _read_rasa_yaml(path: Path) -> Read:
    try:
        import yaml  # only YAML files need pyyaml
    except ImportError:
        raise AnnotationFileError(f"reading {path} needs pyyaml: pip install pyyaml") from None
    file, text = str(path), _read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes, not values: they know their lines
    except yaml.YAMLError as e:
        return [], [_yaml_problem(file, text, e)]
    except RecursionError:
        return [], [Problem(file, None, "not valid YAML: nested too deeply")]
    nlu = _yaml_mapping(root).get("nlu")
    if not isinstance(nlu, yaml.SequenceNode):
        return [], [Problem(file, None, "no 'nlu:' list: a Rasa NLU file has 'nlu:', then '- intent: NAME' items "
                            "with an 'examples: |' block of '- text' lines")]
    items: list[Annotated] = []
    problems: list[Problem] = []
    lines = _YAML_BREAK_RE.split(text)
    for node in nlu.value:
        got, found = _rasa_yaml_item(node, file, lines)
        items += got
        problems += found
    return items, problems


def _yaml_problem(file: str, text: str, e: Exception) -> Problem:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    position = getattr(e, "position", None)
    line = mark.line + 1 if mark else text[:position].count("\n") + 1 if isinstance(position, int) else None
    what = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e).split("\n")[0]
    context, start = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and start and start.line + 1 != line:
        what += f" ({context} that starts on line {start.line + 1})"
    return Problem(file, line, f"not valid YAML: {what}")


def _yaml_mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's scalar keys to value nodes; {} for anything else."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _rasa_yaml_item(node: yaml.Node, file: str, lines: list[str]) -> Read:
    import yaml

    line = node.start_mark.line + 1
    keys = _yaml_mapping(node)
    if "intent" not in keys:
        if keys.keys() & {"synonym", "regex", "lookup"}:
            return [], []  # entity helpers the slot tagger does not use
        return [], [_warning(file, line, "ignored: an nlu item that is not '- intent: NAME', synonym, regex or lookup")]
    intent, examples = keys["intent"], keys.get("examples")
    if not isinstance(intent, yaml.ScalarNode) or not str(intent.value).strip():
        return [], [Problem(file, line, "'intent:' needs a name, like '- intent: weather_query'")]
    name = str(intent.value).strip()
    if not isinstance(examples, yaml.ScalarNode) or not str(examples.value).strip():
        return [], [Problem(file, line, f"intent {name!r} has no 'examples: |' block of '- text' lines")]
    problems = [] if examples.style == "|" else [
        _warning(file, examples.start_mark.line + 1, "write 'examples: |' (a literal block): other YAML styles "
                 "join or change lines, so examples and their line numbers may be wrong")]
    items, found = _rasa_yaml_examples(str(examples.value), name, file, lines, examples.start_mark.line)
    return items, problems + found


def _rasa_yaml_examples(block: str, intent: str, file: str, lines: list[str], start: int) -> Read:
    items: list[Annotated] = []
    problems: list[Problem] = []
    cursor = start
    for raw in block.split("\n"):
        stripped = raw.strip()
        if not stripped:
            continue
        # A literal block keeps one source line per value line; find it rather than assume, for other styles.
        found = next((i for i in range(cursor, len(lines)) if lines[i].strip() == stripped), None)
        line_no = cursor + 1 if found is None else found + 1
        cursor = cursor if found is None else found + 1
        if not stripped.startswith("-"):
            problems.append(Problem(file, line_no, f"{stripped!r} is not an example line: start it with '- '"))
            continue
        got, bad = _rasa_example(stripped[1:].strip(), intent, file, line_no)
        items += got
        problems += bad
    return items, problems


def _md_header(header: str, file: str, line_no: int) -> tuple[str | None, list[Problem]]:
    """The intent a ``##`` header opens, or None for a section to skip."""
    m = re.fullmatch(r"##\s*([A-Za-z_]+)\s*:(.*)", header)
    kind = m[1].lower() if m else ""
    if m and kind == "intent":
        name = re.sub(r"<!--.*", "", m[2]).strip()
        return (name, []) if name else (None, [Problem(file, line_no, "'## intent:' needs a name: '## intent:NAME'")])
    if kind in ("synonym", "regex", "lookup"):
        return None, []  # entity helpers the slot tagger does not use
    return None, [_warning(file, line_no, f"ignored section {header!r}: known are '## intent:NAME', synonym, "
                           "regex and lookup")]


def _read_rasa_md(path: Path) -> Read:
    file = str(path)
    items: list[Annotated] = []
    problems: list[Problem] = []
    intent: str | None = None
    sectioned = False  # inside any '##' section yet
    for line_no, line in enumerate(_read_text(path).split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("##"):
            intent, found = _md_header(stripped, file, line_no)
            sectioned = True
        elif not stripped or stripped.startswith(("#", "<!--")):
            continue
        elif stripped[0] in "-*+" and intent is not None:
            items_, found = _rasa_example(stripped[1:].strip(), intent, file, line_no)
            items += items_
        elif stripped[0] in "-*+" and not sectioned:
            found = [Problem(file, line_no, "an example outside an '## intent:NAME' section: put the header above")]
        elif intent is not None:
            found = [_warning(file, line_no, f"ignored: {stripped!r} is not an example line ('- text')")]
        else:
            continue
        problems += found
    return items, problems
