"""The serving path never imports torch: it is not in the service image."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

SERVING_PACKAGES = ("service", "elmol_nlu", "cli")
TRAINING_ONLY = ("torch", "training", "export", "seqeval", "tqdm", "onnx")
LAZY_TRAINING = {"cli/skill.py"}  # `skill train` imports training code inside the function that runs it


def module_level(tree: ast.AST) -> list[ast.AST]:
    """Every node but those inside functions: ``elmol-nlu skill train`` imports training code when it runs,
    which the image's commands never do (test_importing_loads_no_torch[cli] checks that loading the CLI does not)."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack += [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef)]
    return nodes


def imported_modules(path: Path) -> set[str]:
    names = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lazy = str(path.relative_to(REPO)) in LAZY_TRAINING
    for node in module_level(tree) if lazy else ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


SOURCES = sorted(p for pkg in SERVING_PACKAGES for p in (REPO / pkg).rglob("*.py"))


def test_there_are_sources_to_scan() -> None:
    assert {p.parent.name for p in SOURCES} >= set(SERVING_PACKAGES)
    assert any(p.name == "predictor.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_serving_sources_import_no_training_code(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in TRAINING_ONLY}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}, which the service image does not have"


# what the image runs: the service, and the CLI's eval, add, remove and list (only onnxruntime installed)
ENTRY_POINTS = {"service": "import service.app, elmol_nlu.runtime, service.__main__",
                "cli": "import cli.main as c; c.parser()"}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_importing_loads_no_torch(entry: str) -> None:
    code = (f"import sys; {ENTRY_POINTS[entry]}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'training', 'export', 'onnx')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"
