"""The figures in README.md and docs/ are the committed reports' figures, and the docs' links lead somewhere.

Every table between ``<!-- table:NAME -->`` markers is what ``make docs-tables`` (``python -m
tools.docs_tables``) writes from reports/ and the model manifests; a re-run benchmark whose report is
committed without regenerating the docs fails here, and so does a hand edit of a generated table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.docs_tables import MARKER, TABLES, documents, names_in, render, stale
from tools.docs_tables.common import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
LINKED_DOCS = [*documents(), *sorted((REPO / "docs" / "log").glob("*.md")), REPO / "checkpoints" / "README.md"]


def test_every_generated_table_is_what_its_reports_say() -> None:
    found = stale()
    assert not found, "tables differ from their reports; run `make docs-tables` and commit: " + "; ".join(
        f"{path.relative_to(REPO)}: {', '.join(names)}" for path, names in found.items())


def test_every_marker_names_a_generator_and_every_generator_is_used() -> None:
    used = {name for path in documents() for name in names_in(path.read_text())}
    assert used == set(TABLES), f"unused generators {set(TABLES) - used}, unknown markers {used - set(TABLES)}"


def test_a_hand_edited_table_is_found() -> None:
    text = (REPO / "README.md").read_text()
    body = MARKER.search(text)["body"]
    edited = text.replace(body, body.replace("|", "| 1", 1), 1)
    assert render(edited) == text


@pytest.mark.parametrize("path", [REPO / "README.md"], ids=["README"])
def test_the_readme_says_how_to_start_use_and_test_in_200_lines(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 200
    for command in ("docker compose up", "make test", "localhost:8000/parse"):
        assert command in text, command


def test_performance_md_is_the_current_state_in_300_lines() -> None:
    text = (REPO / "docs" / "PERFORMANCE.md").read_text()
    assert len(text.splitlines()) <= 300
    assert "docs/log/" in text or "(log/" in text, "PERFORMANCE.md should point to its dated log"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            base = slug(m[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=[str(p.relative_to(REPO)) for p in LINKED_DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(CODE.sub("", FENCE.sub("", doc.read_text()))):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, f"{doc.relative_to(REPO)}: links to nothing: {broken}"
