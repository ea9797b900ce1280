"""What the deployment tests (tests/deploy) share: the kustomize builds, the environment a container gets, the
metrics the code exports.

Tools that are not Python packages (``kubectl`` for kustomize, ``promtool``, ``node`` with KEDA's schemas from
``tests/deploy/keda``) are optional on a developer's machine, where a test that needs one skips with the reason;
in CI (``CI=true``) a missing tool fails the test instead, so nothing passes there unchecked.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OBSERVABILITY = ROOT / "deploy" / "observability"
OVERLAYS = ("aws-sqs", "minio-redis", "minio-rabbitmq")
KEDA_DIR = Path(__file__).resolve().parent / "keda"


def require_tool(available: bool, why: str, install: str) -> None:
    """Skip (locally) or fail (CI) a test whose tool is missing."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} is missing in CI: {install}")
    pytest.skip(f"{why} is not installed ({install})")


def kubectl() -> str:
    path = shutil.which("kubectl")
    require_tool(path is not None, "kubectl (for kustomize)", "install kubectl")
    assert path
    return path


@cache
def _build(directory: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [kubectl(), "kustomize", directory], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def build(overlay: str) -> list[dict[str, Any]]:
    """The resources ``kubectl kustomize deploy/kubernetes/overlays/OVERLAY`` renders (``base`` for the base)."""
    directory = KUBERNETES / "base" if overlay == "base" else KUBERNETES / "overlays" / overlay
    return [dict(doc) for doc in _build(str(directory))]


def one(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployments(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (r for r in resources if r["kind"] == "Deployment")


def containers(resources: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, container) for every container, init containers included."""
    for deployment in deployments(resources):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield deployment, container


def container_env(resources: list[dict[str, Any]], container: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The environment a container gets: (literal values from ConfigMaps and ``env``, secret refs as
    ``{name: "secret/key"}``). A ConfigMap that is not in the build (created by the operator) must not be one
    ``envFrom`` needs."""
    values: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        assert "configMapRef" in source, f"envFrom takes ConfigMaps only (secrets go by key): {source}"
        values.update({k: str(v) for k, v in one(resources, "ConfigMap", ref["name"]).get("data", {}).items()})
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            secrets[var["name"]] = f"{ref['name']}/{ref['key']}"
        else:
            raise AssertionError(f"unexpected env source {var}")
    return values, secrets


@dataclass(frozen=True)
class Metric:
    """A metric the code defines: its name as written, its kind, its label names and where."""

    name: str
    kind: str  # counter, gauge, histogram, summary, info, enum
    labels: frozenset[str]
    module: str
    series: frozenset[str] = field(default_factory=frozenset)
    """The sample names Prometheus scrapes: counter ``x_total`` (and ``x_created``), histogram ``x_bucket`` ..."""


_CONSTRUCTORS = {
    "Counter": "counter",
    "Gauge": "gauge",
    "Histogram": "histogram",
    "Summary": "summary",
    "Info": "info",
    "Enum": "enum",
}
_FAMILIES = {
    "GaugeMetricFamily": "gauge",
    "CounterMetricFamily": "counter",
    "HistogramMetricFamily": "histogram",
    "SummaryMetricFamily": "summary",
    "InfoMetricFamily": "info",
}


def _series(name: str, kind: str) -> frozenset[str]:
    if kind == "counter":
        base = name.removesuffix("_total")
        return frozenset({base + "_total", base + "_created"})
    if kind in ("histogram", "summary"):
        parts = {"_sum", "_count", "_created"} | ({"_bucket"} if kind == "histogram" else set())
        return frozenset(name + p for p in parts) | (frozenset({name}) if kind == "summary" else frozenset())
    if kind == "info":
        return frozenset({name.removesuffix("_info") + "_info"})
    return frozenset({name})


def _string_list(node: ast.AST | None) -> frozenset[str]:
    if isinstance(node, ast.List | ast.Tuple):
        return frozenset(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return frozenset()


@cache
def exported_metrics() -> dict[str, Metric]:
    """Every Prometheus metric defined in ``pipeline/`` and ``workers/``, found in the source: the constructors of
    prometheus_client (Counter, Histogram, ...) and the metric families custom collectors yield."""
    found: dict[str, Metric] = {}
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if func in _CONSTRUCTORS:
                kind = _CONSTRUCTORS[func]
                labels = _string_list(node.args[2] if len(node.args) > 2 else keywords.get("labelnames"))
            elif func in _FAMILIES:
                kind = _FAMILIES[func]
                labels = _string_list(keywords.get("labels"))
            else:
                continue
            name = first.value
            if kind == "counter":
                name = name.removesuffix("_total") + "_total"
            found[name] = Metric(name, kind, labels, module, _series(name, kind))
    return found


def series_names() -> dict[str, Metric]:
    """Scraped sample name -> the metric it belongs to."""
    return {series: metric for metric in exported_metrics().values() for series in metric.series}


def scrape_target_labels() -> frozenset[str]:
    """Labels every scraped series carries besides its own: ``job``, ``instance`` and the scrape config's
    relabelling targets (deploy/observability/prometheus.yml)."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    labels = {"job", "instance"}
    for job in config["scrape_configs"]:
        labels |= {r["target_label"] for r in job.get("relabel_configs", []) if "target_label" in r}
    return frozenset(labels)
