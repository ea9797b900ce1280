"""The decision layer stays pure: no I/O library imported, directly or through a project module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [
    "pipeline/events.py",
    "pipeline/credentials/manifest.py",
    "pipeline/policy.py",
    "pipeline/record.py",
    "pipeline/model.py",
    "pipeline/errors.py",
    "pipeline/interfaces.py",
    "pipeline/process.py",
    "pipeline/settings.py",
    "pipeline/memory.py",
    "pipeline/signals.py",
    "pipeline/failures.py",
    "pipeline/grouping.py",
    "pipeline/credentials/xmp.py",
    "pipeline/credentials/raw.py",
    "pipeline/credentials/trust.py",
]
BANNED = {"boto3", "botocore", "redis", "celery", "kombu", "c2pa"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def closure(module_file: str) -> set[str]:
    """Every module imported by the file, following imports of project modules."""
    seen: set[str] = set()
    todo = [ROOT / module_file]
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path):
            found.add(name)
            if name.startswith("pipeline"):
                candidate = ROOT / (name.replace(".", "/") + ".py")
                package = ROOT / name.replace(".", "/") / "__init__.py"
                todo += [p for p in (candidate, package) if p.exists()]
    return found


@pytest.mark.parametrize("module_file", PURE)
def test_pure_module_imports_no_io_library(module_file):
    leaked = {name for name in closure(module_file) if name.split(".")[0] in BANNED}
    assert leaked == set(), f"{module_file} pulls in {sorted(leaked)}"
