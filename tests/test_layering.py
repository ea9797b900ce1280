"""The core (pipeline/ outside pipeline/adapters/) stays pure: no I/O library imported, directly or through a
project module, and nothing from the adapters, the entry points or the test tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted(
    str(path.relative_to(ROOT))
    for path in (ROOT / "pipeline").rglob("*.py")
    if (ROOT / "pipeline" / "adapters") not in path.parents
)
"""The core is a folder: every module under pipeline/ except pipeline/adapters/. No list of exceptions."""
BANNED = {"boto3", "botocore", "redis", "celery", "kombu", "c2pa", "prometheus_client", "tqdm", "urllib3"}
OUTSIDE_THE_CORE = ("pipeline.adapters", "workers", "testkit", "bench", "tests")


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
    seen: set[Path] = set()
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


def test_the_core_is_found() -> None:
    assert {"pipeline/process.py", "pipeline/ports.py", "pipeline/policy.py"} <= set(CORE)
    assert not [m for m in CORE if m.startswith("pipeline/adapters/")]


@pytest.mark.parametrize("module_file", CORE)
def test_core_module_imports_no_io_library(module_file: str) -> None:
    leaked = {name for name in closure(module_file) if name.split(".")[0] in BANNED}
    assert leaked == set(), f"{module_file} pulls in {sorted(leaked)}"


@pytest.mark.parametrize("module_file", CORE)
def test_core_module_imports_nothing_outside_the_core(module_file: str) -> None:
    outside = {name for name in closure(module_file) if name.startswith(OUTSIDE_THE_CORE)}
    assert outside == set(), f"{module_file} imports {sorted(outside)}: the core depends on ports, never adapters"
