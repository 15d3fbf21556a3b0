"""The tables of README.md and docs/*.md, generated from the committed reports: `make docs-tables`.

    python -m tools.docs_tables          # rewrite every table between its markers
    python -m tools.docs_tables --check  # exit 1 and name each table a committed file has stale

A generated table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` on lines of their own;
NAME is a key of ``TABLES``. Everything between the markers is the generator's, so edit the report (by
re-running its command) or the generator, never the table. Standard library only: no torch, no numpy.
The dated logs under docs/log/ are history and are not regenerated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tools.docs_tables import confidence, console, encoder, multi_intent, performance, results, skills
from tools.docs_tables.common import REPO

TABLES: dict[str, Callable[[], str]] = {**results.TABLES, **performance.TABLES, **confidence.TABLES,
                                         **skills.TABLES, **encoder.TABLES, **console.TABLES,
                                         **multi_intent.TABLES}
MARKER = re.compile(r"^<!-- table:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /table:(?P=name) -->$",
                    re.MULTILINE | re.DOTALL)


def documents() -> list[Path]:
    """The markdown files whose tables are generated: the README and docs/ (not the dated logs)."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def names_in(text: str) -> list[str]:
    return [m["name"] for m in MARKER.finditer(text)]


def render(text: str, tables: dict[str, str] | None = None) -> str:
    """``text`` with every marked table replaced by what the reports say now."""
    cache = {} if tables is None else tables

    def fill(m: re.Match) -> str:
        name = m["name"]
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}: add it to tools/docs_tables or fix the marker")
        if name not in cache:
            cache[name] = TABLES[name]().strip()
        return f"<!-- table:{name} -->\n{cache[name]}\n<!-- /table:{name} -->"

    return MARKER.sub(fill, text)


def stale(paths: list[Path] | None = None) -> dict[Path, list[str]]:
    """The tables, by file, whose committed text differs from what the reports would write."""
    out: dict[Path, list[str]] = {}
    cache: dict[str, str] = {}
    for path in paths or documents():
        text = path.read_text()
        new = render(text, cache)
        if new != text:
            old = {m["name"]: m["body"] for m in MARKER.finditer(text)}
            fresh = {m["name"]: m["body"] for m in MARKER.finditer(new)}
            out[path] = [n for n in old if old[n] != fresh[n]]
    return out


def write(paths: list[Path] | None = None) -> list[Path]:
    """Rewrite the stale tables in place; returns the files changed."""
    changed = []
    cache: dict[str, str] = {}
    for path in paths or documents():
        text = path.read_text()
        new = render(text, cache)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
