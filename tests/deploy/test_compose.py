"""docker-compose.yml and the Dockerfile, kept true without a Docker engine: the compose file validates against the
Compose Specification's JSON schema (vendored: tests/deploy/README.md), its commands parse with the CLI and its
settings load; the image installs the lean runtime set (no demo or test extras) from the files it copies."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from pipeline.settings import PREFIX, load_settings
from tests.deploy.support import ROOT

SCHEMA = Path(__file__).resolve().parent / "compose-spec.json"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_the_compose_file_validates_against_the_compose_specification():
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(compose())]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key():
    broken = copy.deepcopy(compose())
    broken["services"]["worker"]["stop_grace_perod"] = "60s"
    broken["services"]["worker"]["depends_on"]["redis"]["condition"] = "service_happy"
    messages = " ".join(e.message for e in validator().iter_errors(broken))
    assert "stop_grace_perod" in messages and "service_happy" in messages


def test_compose_commands_parse_and_their_settings_load(tmp_path, monkeypatch):
    import workers.cli as cli

    parser = (getattr(cli, "build_parser", None) or cli._parser)()  # type: ignore[attr-defined]
    services = compose()["services"]
    for name in ("worker", "intake"):
        service = services[name]
        command = service["command"]
        assert command[0] == "media-ingest"
        parser.parse_args(command[1:])
        env = {k: str(v) for k, v in service["environment"].items()}
        env = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v) for k, v in env.items()}  # compose's defaults
        unknown = [k for k in env if k.startswith(PREFIX)]
        assert unknown, "the compose file sets the pipeline's settings"
        load_settings({k: v for k, v in env.items() if k.startswith(PREFIX)}, check_trust=False)
    assert services["worker"]["stop_grace_period"], "a warm shutdown gets time to finish running tasks"


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_copies_the_package_and_not_the_test_tooling():
    copied = {
        src.rstrip("/") for line in _dockerfile().splitlines() if line.startswith("COPY ") for src in line.split()[1:-1]
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert {"pyproject.toml", "README.md", "config", "pipeline", "workers"} <= copied
    assert not copied & {"testkit", "tests", "bench", "."}, "no test tooling, no whole build context"
    assert project["project"]["scripts"]["media-ingest"].split(":")[0].split(".")[0] in copied
    (install,) = [line for line in _dockerfile().splitlines() if "pip install" in line]
    assert re.search(r"pip install --no-cache-dir /src(\s|$)", install), "no extras: the lean runtime set"


def _closure(requirements: list[str]) -> set[str]:
    """The distributions installing ``requirements`` (no extras) pulls in, from the installed packages' metadata."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        extras = set(req.extras)
        key = name + (f"[{','.join(sorted(extras))}]" if extras else "")
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ["", *extras]):
                todo.append(Requirement(str(sub).split(";")[0]))
    return {k.split("[")[0] for k in seen}


def test_the_runtime_set_leaves_out_the_demo_and_test_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _closure(project["dependencies"])
    assert {"celery", "c2pa-python", "boto3", "prometheus-client"} <= runtime
    for extra in ("demo", "dev"):
        names = {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in project["optional-dependencies"][extra]}
        assert not (names - {"media-ingest"}) & runtime, f"the {extra} extra leaks into the image's runtime set"


@pytest.mark.parametrize("module", ["pipeline", "workers"])
def test_the_runtime_packages_do_not_import_test_tooling(module):
    import ast

    for path in (ROOT / module).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in {"tests", "bench"}:
                    pytest.fail(f"{path.relative_to(ROOT)} imports {name}: not in the image")
