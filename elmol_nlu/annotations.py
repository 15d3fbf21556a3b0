"""A new skill's annotated utterances: read from the formats people write them in, checked before training.

MASSIVE JSON lines, SNIPS-style BIO folders, Rasa YAML and Rasa Markdown become ``Example``s that remember
the file and line they came from. Content never raises: every problem becomes a ``Problem`` (file, line,
message), so that a command-line tool can list them all at once. Torch-free; pyyaml is imported only for YAML.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from elmol_nlu.datasets import AnnotationError, CharSlot, Example, parse_inline, tag
from elmol_nlu.text import Token, normalize, tokenize
from elmol_nlu.vocab import allowed_transition, bio_spans

if TYPE_CHECKING:
    import yaml

FORMATS = ("massive", "bio", "rasa-yaml", "rasa-md")
PARTITIONS = ("train", "dev", "test")
_SUFFIXES = {".jsonl": "massive", ".json": "massive", ".yml": "rasa-yaml", ".yaml": "rasa-yaml",
             ".md": "rasa-md", ".markdown": "rasa-md"}
_BIO_FILES = ("seq.in", "seq.out", "label")
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")  # BIO tag vocabularies and the service's JSON need plain names
_TAG_RE = re.compile(r"O|[BI]-\S+")
_YAML_BREAK_RE = re.compile("[\n\x85\u2028\u2029]")  # the line breaks PyYAML counts in its marks
_MASSIVE_HINT = '{"annot_utt": "wake me at [time : seven]", "intent": "alarm_set"}'
_RASA_HINT = "marks are written '[value](slot_name)'"
_RARE = 2  # a label used this often or less, next to a frequent look-alike, is probably a typo


class AnnotationFileError(ValueError):
    """A path that cannot be read as annotations at all: missing, of unknown format, or not UTF-8 text."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based; None for problems of the whole file
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Annotated:
    example: Example
    file: str
    line: int
    partition: str | None = None  # "train", "dev" or "test" when the file says so


Read = tuple[list[Annotated], list[Problem]]


def _warning(file: str, line: int | None, message: str) -> Problem:
    return Problem(file, line, message, "warning")


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# ---- files and formats


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnnotationFileError(f"{path} cannot be read: {e.strerror}") from None
    if b"\x00" in data:
        raise AnnotationFileError(f"{path} looks binary (it has NUL bytes): annotations are UTF-8 text files")
    try:
        text = data.decode("utf-8-sig")  # a BOM would otherwise spoil the first line
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise AnnotationFileError(f"{path} is not UTF-8 text (bad byte on line {line}): save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _bio_folders(path: Path) -> list[tuple[Path, str | None]]:
    if (path / "seq.in").is_file():
        return [(path, None)]
    return [(path / name, name) for name in PARTITIONS if (path / name / "seq.in").is_file()]


def _not_bio(path: Path) -> AnnotationFileError:
    return AnnotationFileError(f"{path} is a folder without seq.in: a BIO folder holds seq.in, seq.out and label, "
                               "or train/ (and dev/, test/) subfolders that do")


def _sniff(text: str) -> str | None:
    if text.lstrip().startswith("{"):
        return "massive"
    if re.search(r"^nlu\s*:", text, re.MULTILINE):
        return "rasa-yaml"
    if re.search(r"^##\s*intent\s*:", text, re.MULTILINE):
        return "rasa-md"
    return None


def detect_format(path: Path) -> str:
    """The format of ``path`` from its suffix (or, failing that, its first lines); one of ``FORMATS``."""
    path = Path(path)
    if not path.exists():
        raise AnnotationFileError(f"{path} does not exist")
    if path.is_dir():
        if _bio_folders(path):
            return "bio"
        raise _not_bio(path)
    if path.name in _BIO_FILES:
        raise AnnotationFileError(f"{path} is one file of a BIO folder: pass the folder {path.parent} instead")
    fmt = _SUFFIXES.get(path.suffix.lower()) or _sniff(_read_text(path))
    if fmt is None:
        raise AnnotationFileError(
            f"cannot tell the format of {path}: name it .jsonl (MASSIVE JSON lines), .yml (Rasa YAML) or .md "
            f"(Rasa Markdown), pass a folder with seq.in, seq.out and label, or give the format ({', '.join(FORMATS)})")
    return fmt


def read_annotations(path: Path, fmt: str | None = None) -> Read:
    """Examples and the problems met reading them; bad lines are reported and skipped."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise AnnotationFileError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise AnnotationFileError(f"{path} does not exist")
    fmt = fmt or detect_format(path)
    if path.is_dir() != (fmt == "bio"):
        wanted = "a folder" if fmt == "bio" else "a file"
        raise AnnotationFileError(f"{path} is {'a folder' if path.is_dir() else 'a file'}: {fmt} is read from {wanted}")
    return _READERS[fmt](path)


def check_file(path: Path, fmt: str | None = None, min_per_intent: int = 5) -> Read:
    """Read and validate: the examples and every problem, sorted by file and line."""
    items, problems = read_annotations(path, fmt)
    problems = problems + validate(items, min_per_intent)
    return items, sorted(problems, key=lambda p: (p.file, p.line or 0))


# ---- MASSIVE JSON lines


def _read_massive(path: Path) -> Read:
    file, text = str(path), _read_text(path)
    if text.lstrip().startswith("["):
        return [], [Problem(file, None, f"the file is a JSON array: write one object per line, like {_MASSIVE_HINT}")]
    items, problems = [], []
    for line_no, line in enumerate(text.split("\n"), 1):
        if line.strip():
            item, found = _massive_row(line, file, line_no)
            items += [item] if item else []
            problems += found
    return items, problems


def _massive_row(line: str, file: str, line_no: int) -> tuple[Annotated | None, list[Problem]]:
    def error(message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(file, line_no, message)]

    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return error(f"not valid JSON ({e.msg} at column {e.colno}): each line is one object like {_MASSIVE_HINT}")
    except (ValueError, RecursionError):  # huge numbers, absurd nesting
        return error(f"not JSON this reader can use: each line is one object like {_MASSIVE_HINT}")
    if not isinstance(row, dict):
        return error(f"a JSON {type(row).__name__} where an object is needed, like {_MASSIVE_HINT}")
    annotated, intent = row.get("annot_utt"), row.get("intent")
    if not isinstance(annotated, str):
        return error(f"'annot_utt' is missing or not a string: write the utterance with slot marks, {_MASSIVE_HINT}")
    if not isinstance(intent, str) or not intent.strip():
        return error(f"'intent' is missing or empty: name the intent of the utterance, {_MASSIVE_HINT}")
    try:
        text, slots = parse_inline(annotated)
    except AnnotationError as e:
        return error(f"{e}; marks are written '[slot_name : value]'")
    problems = []
    if "utt" in row and row["utt"] != text:
        problems.append(Problem(file, line_no, f"'utt' {row['utt']!r} differs from the text of 'annot_utt' "
                                f"{text!r}: correct one of them, or drop 'utt'"))
    partition = row.get("partition")
    if partition is not None and partition not in PARTITIONS:
        problems.append(Problem(file, line_no, f"partition {partition!r} is not one of {', '.join(PARTITIONS)}"))
        partition = None
    example = Example(text, intent, slots, str(row.get("scenario") or ""), str(row.get("id", "")))
    return Annotated(example, file, line_no, partition), problems


# ---- BIO folders


def _read_bio(path: Path) -> Read:
    folders = _bio_folders(path)
    if not folders:
        raise _not_bio(path)
    items: list[Annotated] = []
    problems = [_warning(str(sub), None, f"ignored: subfolder {sub.name!r} is not train, dev or test")
                for sub in sorted(path.iterdir())
                if folders[0][1] and sub.name not in PARTITIONS and (sub / "seq.in").is_file()]
    for folder, partition in folders:
        got, found = _read_bio_split(folder, partition)
        items += got
        problems += found
    return items, problems


def _lines(path: Path) -> list[str]:
    lines = _read_text(path).split("\n")
    while lines and not lines[-1].strip():  # trailing blank lines are no utterances
        lines.pop()
    return lines


def _read_bio_split(folder: Path, partition: str | None) -> Read:
    missing = [name for name in _BIO_FILES if not (folder / name).is_file()]
    if missing:
        raise AnnotationFileError(f"{folder} has seq.in but no {' or '.join(missing)}: a BIO folder holds "
                                  "seq.in (words), seq.out (one tag per word) and label (one intent per line)")
    words, tags, labels = (_lines(folder / name) for name in _BIO_FILES)
    if not len(words) == len(tags) == len(labels):
        return [], [Problem(str(folder), None, f"seq.in has {len(words)} lines, seq.out {len(tags)} and label "
                            f"{len(labels)}: line N of each file is the same utterance, so the counts must match")]
    items, problems = [], []
    for line_no, lines in enumerate(zip(words, tags, labels, strict=True), 1):
        item, found = _bio_line(folder, line_no, *lines, partition)
        items += [item] if item else []
        problems += found
    return items, problems


def _bio_line(folder: Path, line_no: int, words: str, tags: str, label: str,
              partition: str | None) -> tuple[Annotated | None, list[Problem]]:
    ws, ts, out = words.split(), tags.split(), str(folder / "seq.out")
    if len(ws) != len(ts):
        return None, [Problem(out, line_no, f"{len(ts)} tags for {len(ws)} words: give one tag per word of seq.in")]
    bad = [t for t in ts if not _TAG_RE.fullmatch(t)]
    if bad:
        listed = ", ".join(repr(t) for t in bad)
        return None, [Problem(out, line_no, f"tag {listed} is not of the form O, B-slot_name or I-slot_name")]
    if not label.strip():
        return None, [Problem(str(folder / "label"), line_no, "no intent: each line of label names one intent")]
    problems = [_warning(out, line_no, f"tag {k + 1} {t!r} follows {ts[k - 1] if k else 'nothing'!r}, not "
                         f"'B-{t[2:]}' or {t!r}: read as 'B-{t[2:]}'")
                for k, t in enumerate(ts) if not allowed_transition(ts[k - 1] if k else None, t)]
    starts = [0]
    for w in ws[:-1]:
        starts.append(starts[-1] + len(w) + 1)
    slots = tuple(CharSlot(sp.name, starts[sp.start], starts[sp.end - 1] + len(ws[sp.end - 1])) for sp in bio_spans(ts))
    example = Example(" ".join(ws), label.strip(), slots, id=str(line_no))
    return Annotated(example, str(folder / "seq.in"), line_no, partition), problems


# ---- Rasa marks, YAML and Markdown


def parse_rasa(annotated: str) -> tuple[str, tuple[CharSlot, ...]]:
    """``"fly to [new york](city)"`` or ``[new york]{"entity": "city"}`` to the plain text and its slot spans."""
    text: list[str] = []
    slots: list[CharSlot] = []
    i = length = 0
    while True:
        open_at = annotated.find("[", i)
        plain = annotated[i:] if open_at < 0 else annotated[i:open_at]
        if "]" in plain:
            raise AnnotationError(f"']' without '[' at character {i + plain.index(']')}")
        text.append(plain)
        length += len(plain)
        if open_at < 0:
            return "".join(text), tuple(slots)
        close_at = annotated.find("]", open_at)
        if close_at < 0:
            raise AnnotationError(f"unclosed '[' at character {open_at}")
        value = annotated[open_at + 1 : close_at]
        if "[" in value:
            raise AnnotationError(f"nested or overlapping slot marks in '[{value}]': a word can be in one slot only")
        name, i = _rasa_label(annotated, close_at + 1)
        if not value.strip():
            raise AnnotationError(f"slot {name!r} has an empty value in {annotated[open_at:i]!r}")
        lead = len(value) - len(value.lstrip())
        slots.append(CharSlot(name, length + lead, length + len(value.rstrip())))
        text.append(value)
        length += len(value)


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
    return [Annotated(Example(text, intent, slots), file, line_no)], []


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


_READERS: dict[str, Callable[[Path], Read]] = {
    "massive": _read_massive, "bio": _read_bio, "rasa-yaml": _read_rasa_yaml, "rasa-md": _read_rasa_md}


# ---- checks across the data set


def validate(items: list[Annotated], min_per_intent: int = 5, known_slots: set[str] | None = None,
             known_intents: set[str] | None = None) -> list[Problem]:
    """Problems in the examples themselves and across them: labels, typos, conflicts, duplicates."""
    problems = [p for item in items for p in _check_example(item)]
    problems += _check_labels(items, "intent", lambda e: [e.intent], min_per_intent, known_intents)
    problems += _check_labels(items, "slot", lambda e: [s.name for s in e.slots], 0, known_slots)
    return problems + _check_texts(items)


def _check_example(item: Annotated) -> list[Problem]:
    text, at = item.example.text, (item.file, item.line)
    tokens = tokenize(text)
    if not tokens:
        return [Problem(*at, "the utterance is empty: write the words a user would say")]
    problems = []
    prev: CharSlot | None = None
    prev_end = 0  # where the previous slot ends once widened to whole tokens
    for slot in sorted(item.example.slots, key=lambda s: (s.start, s.end)):
        value = text[slot.start : slot.end]
        if slot.end > len(text) or not value.strip():
            problems.append(Problem(*at, f"slot {slot.name!r} has an empty value: mark the words it stands for"))
        elif prev is not None and slot.start < prev.end:
            problems.append(Problem(*at, f"slots {prev.name!r} ({text[prev.start:prev.end]!r}) and {slot.name!r} "
                                    f"({value!r}) overlap: a word can be in one slot only"))
        else:
            problems += _check_words(slot, text, tokens, prev_end, at)
            prev, prev_end = slot, max(t.end for t in _covered(tokens, slot))
    return problems


def _covered(tokens: list[Token], slot: CharSlot) -> list[Token]:
    return [t for t in tokens if t.start < slot.end and t.end > slot.start]


def _check_words(slot: CharSlot, text: str, tokens: list[Token], prev_end: int, at: tuple[str, int]) -> list[Problem]:
    """Slots are tagged on whole tokens: warn where a mark cuts a word or shares one with the slot before."""
    covered = _covered(tokens, slot)
    start, end = covered[0].start, covered[-1].end
    value = text[slot.start : slot.end]
    if start < prev_end:
        return [_warning(*at, f"slot {slot.name!r} ({value!r}) shares the word {covered[0].text!r} with the slot "
                         "before it, which takes the word: separate the two marks with a space")]
    if start < slot.start or end > slot.end:
        cut = [t.text for t in covered if t.start < slot.start or t.end > slot.end]
        return [_warning(*at, f"slot {slot.name!r} ({value!r}) cuts the word {cut[0]!r}: it will be widened to whole "
                         f"words ({text[start:end]!r}); put the mark's brackets at word boundaries")]
    return []


def _where(item: Annotated, kind: str) -> tuple[str, int]:
    """Where to report a label: a BIO folder keeps intents in ``label`` and slots in ``seq.out``."""
    path = Path(item.file)
    if path.name == "seq.in":
        return str(path.with_name("label" if kind == "intent" else "seq.out")), item.line
    return item.file, item.line


def _check_labels(items: list[Annotated], kind: str, names_of: Callable[[Example], Iterable[str]], min_count: int,
                  known: set[str] | None) -> list[Problem]:
    counts: Counter[str] = Counter()
    first: dict[str, Annotated] = {}
    for item in items:
        for name in names_of(item.example):
            counts[name] += 1
            first.setdefault(name, item)
    problems = []
    for name, item in first.items():
        at, count = _where(item, kind), counts[name]
        if not _NAME_RE.fullmatch(name):
            ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_name).strip("_")
            problems.append(Problem(*at, f"{kind} name {name!r} is not plain: use only letters, digits, '_', '.' and "
                                    "'-'" + (f", e.g. {plain!r}" if plain else "")))
        if count < min_count:
            problems.append(Problem(*at, f"{kind} {name!r} has {count} example{'s' * (count != 1)}; at least "
                                    f"{min_count} are needed to learn it: add {min_count - count} more, or merge it "
                                    "into another intent"))
        if known is not None and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"closest known: {', '.join(map(repr, close))}" if close else f"{len(known)} {kind}s are known"
            problems.append(_warning(*at, f"{kind} {name!r} is not known to the model ({hint})"))
        typo = _look_alike(name, counts)
        if typo:
            problems.append(_warning(*at, f"{kind} {name!r}: did you mean {typo!r}? ({name!r} is used {count} "
                                     f"time{'s' * (count != 1)}, {typo!r} {counts[typo]} times)"))
    return problems


def _fold(name: str) -> str:
    return re.sub(r"[\s_-]", "", name.lower()).removesuffix("s")


def _look_alike(name: str, counts: Counter[str]) -> str | None:
    """The most frequent label that a rare ``name`` looks like a typo of, if any."""
    if counts[name] > _RARE:
        return None
    alike = [other for other, n in counts.items() if n > counts[name] and _NAME_RE.fullmatch(other)
             and (_fold(other) == _fold(name) or difflib.SequenceMatcher(None, name, other).ratio() >= 0.85)]
    return max(alike, key=lambda other: counts[other], default=None)


def _slots(example: Example) -> str:
    marks = [f"{s.name} {example.text[s.start : s.end]!r}" for s in example.slots]
    return "slots " + ", ".join(marks) if marks else "no slots"


def _check_texts(items: list[Annotated]) -> list[Problem]:
    """The same words (as the model sees them) with two intents, other slots, or twice the same."""
    intents: dict[tuple[str, ...], dict[str, Annotated]] = defaultdict(dict)
    tagged_as: dict[tuple[tuple[str, ...], str], tuple[Annotated, list[str]]] = {}
    problems = []
    for item in items:
        tagged = tag(item.example)
        words, intent, text = tuple(normalize(w) for w in tagged.words), item.example.intent, item.example.text
        if not words:
            continue
        others = intents[words]
        if intent not in others and others:
            other = next(iter(others.values()))
            problems.append(Problem(item.file, item.line, f"{text!r} has intent {intent!r} here but "
                                    f"{other.example.intent!r} at {other.file}:{other.line}: the same words need one "
                                    "intent"))
        others.setdefault(intent, item)
        if (words, intent) not in tagged_as:
            tagged_as[words, intent] = (item, tagged.tags)
            continue
        first, tags = tagged_as[words, intent]
        if tags != tagged.tags:
            problems.append(_warning(item.file, item.line, f"{text!r} has {_slots(item.example)} here but "
                                     f"{_slots(first.example)} at {first.file}:{first.line}: mark the same words the "
                                     "same way"))
        elif first.partition != item.partition:
            problems.append(_warning(item.file, item.line, f"{text!r} duplicates {first.file}:{first.line}, which is "
                                     f"in {first.partition or 'no partition'} and this in {item.partition or 'none'}: "
                                     "drop one, evaluation should not see training examples"))
        else:
            problems.append(_warning(item.file, item.line, f"{text!r} duplicates {first.file}:{first.line}: drop one"))
    return problems
