"""deploy/observability: the Grafana dashboard's queries and the Prometheus alert rules parse, and name only
metrics (and labels) the code exports; promtool checks the rules, runs their unit tests and checks the scrape
configuration's relabelling.

"The code exports" is what ``exported_metrics()`` (conftest) finds in ``pipeline/`` and ``workers/``: the
prometheus_client constructors and the metric families of custom collectors, checked below against the live
registry. Prometheus's own ``up`` is the one metric allowed besides them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.deploy.support import (
    OBSERVABILITY,
    build,
    exported_metrics,
    require_tool,
    scrape_target_labels,
    series_names,
)

PROMETHEUS_OWN: dict[str, frozenset[str]] = {"up": frozenset()}
"""Series Prometheus itself writes for every target, with no labels of their own."""
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
ALERTS = OBSERVABILITY / "alerts.yml"


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows keep theirs inside
    return out


def dashboard_queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dash) for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def unknown_names(expr: str) -> list[str]:
    """What in a PromQL expression names a series or label the code does not export (empty: all known). Raises
    ValueError when the expression does not parse."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    ast = promql_parser.parse(expr)
    known_series = series_names()
    target_labels = scrape_target_labels()
    problems: list[str] = []
    selectors: list[Any] = []
    aggregations: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.AggregateExpr):
            aggregations.append(node)

    promql_parser.walk(ast, visit)
    labels_in_scope: set[str] = set(target_labels)
    for selector in selectors:
        name = selector.name or next((m.value for m in selector.matchers.matchers if m.name == "__name__"), None)
        if name in PROMETHEUS_OWN:
            own = PROMETHEUS_OWN[name]
        elif name in known_series:
            metric = known_series[name]
            own = metric.labels | ({"le"} if name.endswith("_bucket") else set())
        else:
            problems.append(f"metric {name!r}")
            continue
        labels_in_scope |= own
        for matcher in selector.matchers.matchers:
            if matcher.name != "__name__" and matcher.name not in own | target_labels:
                problems.append(f"label {matcher.name!r} on {name}")
    for aggregation in aggregations:
        modifier = aggregation.modifier
        for label in modifier.labels if modifier is not None else []:
            if label not in labels_in_scope:
                problems.append(f"label {label!r} in by/without")
    return problems


def test_the_metrics_found_in_the_source_are_the_ones_the_registry_holds():
    from prometheus_client import REGISTRY

    import workers.metrics

    metrics = exported_metrics()
    assert "media_ingest_objects_total" in metrics and "media_ingest_queue_depth" in metrics
    registered = set(REGISTRY._names_to_collectors)  # the sample names of every registered collector
    # The backlog gauges are read from Redis at scrape time by a collector: ask it, with a stand-in for Redis.

    class Pipe:
        def __getattr__(self, _name: str) -> Any:
            return lambda *a, **k: self

        def execute(self) -> list[int]:
            return [3, 4, 5]

    class Redis:
        def pipeline(self, **_: Any) -> Pipe:
            return Pipe()

    collector = workers.metrics.BacklogCollector(Redis(), queue="q", stream="s", prefix="p")
    gauges = {family.name for family in collector.collect()}
    gauges |= {family.name for family in workers.metrics.TrustListCollector([]).collect()}  # read from the files
    assert gauges == {
        m.name
        for m in metrics.values()
        if m.kind == "gauge" and m.module == "workers.metrics" and m.name not in registered
    }
    for metric in metrics.values():  # the rest are constructed in the module and registered at import
        if metric.module == "workers.metrics" and metric.name not in gauges:
            assert metric.series - {s for s in metric.series if s.endswith("_created")} <= registered, metric


def test_the_check_refuses_a_metric_or_label_the_code_does_not_export():
    assert unknown_names('sum(rate(media_ingest_objects_total{outcome="labelled"}[5m]))') == []
    assert unknown_names("rate(media_ingest_fingerprint_matches_total[5m])") == [
        "metric 'media_ingest_fingerprint_matches_total'"
    ]
    assert unknown_names("media_ingest_trust_list_age_seconds > 86400") == [
        "metric 'media_ingest_trust_list_age_seconds'"
    ]
    assert unknown_names('rate(media_ingest_objects_total{errorclass="x"}[5m])') == [
        "label 'errorclass' on media_ingest_objects_total"
    ]
    assert unknown_names("sum by (stage) (media_ingest_queue_depth)") == ["label 'stage' in by/without"]
    with pytest.raises(ValueError):
        unknown_names("rate(media_ingest_objects_total[5m]")


def test_every_dashboard_query_parses_and_names_exported_metrics():
    queries = dashboard_queries(dashboard())
    assert len(queries) >= 15
    problems = {f"{title}: {expr}": unknown_names(expr) for title, expr in queries}
    assert {q: p for q, p in problems.items() if p} == {}


def test_the_dashboard_covers_what_the_issue_lists():
    exprs = " ".join(expr for _, expr in dashboard_queries(dashboard()))
    for needed in (
        r"sum by \(label\) \(rate\(media_ingest_objects_total",  # objects per second by label
        r"sum by \(provenance\) \(rate\(media_ingest_objects_total",  # ... and provenance
        r"sum by \(error_class\) \(rate\(media_ingest_failures_total",  # failures by class
        r"histogram_quantile\(0\.99, sum by \(le, stage\) \(rate\(media_ingest_stage_seconds_bucket",  # per stage
        r"media_ingest_queue_depth",  # queue depth
        r"media_ingest_reader_restarts_total",  # reader restarts
    ):
        assert re.search(needed, exprs), needed
    # Fingerprint matches: no metric yet; docs/operations.md says the panel waits for it.


def test_the_dashboard_is_well_formed():
    dash = dashboard()
    assert dash["uid"] == "media-ingest" and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    namespace_query = variables["namespace"]["query"]["query"]
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", namespace_query)
    assert match and unknown_names(match[1]) == [] and match[2] in scrape_target_labels()
    for panel in panels(dash):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert 'namespace=~"$namespace"' in target["expr"], f"{panel['title']}: not filtered by namespace"
    # No two panels overlap.
    cells: set[tuple[int, int]] = set()
    for panel in panels(dash):
        grid = panel["gridPos"]
        mine = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_every_alert_parses_and_names_exported_metrics():
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    # The issue's list: queue growing, failure rate, no intake heartbeat, reader crash loop (a stale trust list waits
    # for its metric).
    assert {
        "MediaIngestQueueGrowing",
        "MediaIngestFailureRate",
        "MediaIngestNoIntake",
        "MediaIngestReaderCrashLoop",
    } <= names
    problems = {rule["alert"]: unknown_names(rule["expr"]) for rule in rules}
    assert {a: p for a, p in problems.items() if p} == {}
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_jobs_the_rules_and_dashboard_name_are_the_ones_the_scrape_config_makes():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (relabel,) = [r for r in job["relabel_configs"] if r.get("target_label") == "job"]
    assert relabel["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    components = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in build("minio-redis")
        if d["kind"] == "Deployment"
    }
    jobs = {relabel["replacement"].replace("$1", c) for c in components}
    used = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert used and used <= jobs
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["media-ingest"]
    assert [r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"] == [
        "media-ingest",
        "true",
        "metrics",
    ]


def promtool() -> str:
    path = shutil.which("promtool")
    require_tool(
        path is not None,
        "promtool",
        "apt-get install -y --no-install-recommends prometheus",
    )
    assert path
    return path


def run_promtool(*args: str, cwd: Path = OBSERVABILITY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules():
    result = run_promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_the_alert_unit_tests_pass():
    result = run_promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (OBSERVABILITY / "alerts.test.yml").read_text()))
    assert tested == {rule["alert"] for rule in alert_rules()}, "every alert has a unit test"


def test_the_unit_tests_would_catch_a_wrong_expectation(tmp_path):
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    broken = (OBSERVABILITY / "alerts.test.yml").read_text().replace("9.077%", "9.5%")
    (tmp_path / "alerts.test.yml").write_text(broken)
    assert run_promtool("test", "rules", "alerts.test.yml", cwd=tmp_path).returncode != 0


def test_promtool_checks_the_scrape_configuration(tmp_path):
    """Debian's promtool is built without Kubernetes service discovery, so the pod discovery is swapped for a
    static target; the relabelling and the rule file are checked as written."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        job.pop("kubernetes_sd_configs")
        job["static_configs"] = [{"targets": ["127.0.0.1:9102"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    result = run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr
