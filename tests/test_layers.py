"""The layers import only downward and no import cycle exists, read from the source with ``ast``.

    elmol_nlu (torch-free core)  <-  training  <-  export
                                 <-  service
    experiments (paper reproduction, baselines, benchmarks) and cli stand on all of them; tools (the docs'
    tables) reads reports only. Nothing imports experiments, cli or tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

ALLOWED = {
    "elmol_nlu": {"elmol_nlu"},
    "training": {"elmol_nlu", "training"},
    "export": {"elmol_nlu", "training", "export"},
    "service": {"elmol_nlu", "service"},
    "experiments": {"elmol_nlu", "training", "export", "service", "experiments"},
    "cli": {"elmol_nlu", "training", "export", "service", "cli"},
    "tools": {"tools"},
}
PROJECT = set(ALLOWED)


def modules() -> dict[str, Path]:
    found = {}
    for package in PROJECT:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Project modules this file imports, anywhere in it (inside functions too), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in PROJECT}


GRAPH = {name: imports_of(name, path) for name, path in modules().items()}


def test_the_scan_sees_the_project() -> None:
    assert {"elmol_nlu.runtime.predictor", "service.app", "training.pretrain_lm", "cli.main"} <= set(GRAPH)
    assert "elmol_nlu.runtime" in GRAPH["service.serving"] | GRAPH["service.app"] | {
        m.rpartition(".")[0] for m in GRAPH["service.serving"]}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_downward(layer: str) -> None:
    upward = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() if name.split(".")[0] == layer
                    for target in targets if target.split(".")[0] not in ALLOWED[layer])
    assert upward == []


def test_no_import_cycles() -> None:
    graph = {name: {t if t in GRAPH else t.rpartition(".")[0] for t in targets} & set(GRAPH) - {name}
             for name, targets in GRAPH.items()}
    # a package's __init__ importing its own submodules is not a cycle of design: drop package -> child edges
    graph = {name: {t for t in targets if not t.startswith(name + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_core_needs_no_torch() -> None:
    heavy = sorted(f"{p.relative_to(REPO)} imports {n}" for p in (REPO / "elmol_nlu").rglob("*.py")
                   for node in ast.walk(ast.parse(p.read_text()))
                   if isinstance(node, ast.Import | ast.ImportFrom)
                   for n in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
                   if n.split(".")[0] == "torch")
    assert heavy == []
