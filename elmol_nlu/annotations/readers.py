"""Format detection, the MASSIVE and BIO readers, and the entry points: ``read_annotations`` and ``check_file``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from elmol_nlu.annotations.checks import validate
from elmol_nlu.annotations.rasa import _read_rasa_md, _read_rasa_yaml
from elmol_nlu.annotations.records import Annotated, AnnotationFileError, Problem, Read, _read_text, _warning
from elmol_nlu.datasets import AnnotationError, CharSlot, Example, parse_inline
from elmol_nlu.intents import SEPARATOR
from elmol_nlu.vocab import allowed_transition, bio_spans

FORMATS = ("massive", "bio", "rasa-yaml", "rasa-md")
PARTITIONS = ("train", "dev", "test")
_SUFFIXES = {".jsonl": "massive", ".json": "massive", ".yml": "rasa-yaml", ".yaml": "rasa-yaml",
             ".md": "rasa-md", ".markdown": "rasa-md"}
_BIO_FILES = ("seq.in", "seq.out", "label")
_TAG_RE = re.compile(r"O|[BI]-\S+")
_MASSIVE_HINT = '{"annot_utt": "wake me at [time : seven]", "intent": "alarm_set"}'


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# ---- files and formats


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
    if isinstance(intent, list) and intent and all(isinstance(i, str) and i.strip() for i in intent):
        intent = SEPARATOR.join(i.strip() for i in intent)  # several intents of one utterance
    if not isinstance(intent, str) or not intent.strip():
        return error(f"'intent' is missing or empty: name the intent of the utterance (or list its intents), "
                     f"{_MASSIVE_HINT}")
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


_READERS: dict[str, Callable[[Path], Read]] = {
    "massive": _read_massive, "bio": _read_bio, "rasa-yaml": _read_rasa_yaml, "rasa-md": _read_rasa_md}
