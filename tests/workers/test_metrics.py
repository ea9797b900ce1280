"""workers/metrics.py, in this process: the metric names dashboards and alerts rely on, the backlog gauges read
from Redis at scrape time, and the /metrics, /healthz, /readyz server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest

from workers import metrics
from workers.metrics import BacklogCollector, redis_ready, registry_for_process, serve

DOCUMENTED = {
    "media_ingest_objects_total": ["outcome", "label", "provenance"],
    "media_ingest_failures_total": ["error_class", "disposition"],
    "media_ingest_stage_seconds": ["stage"],
    "media_ingest_reader_restarts_total": ["reason"],
    "media_ingest_intake_tasks_total": ["source"],
    "media_ingest_group_objects": [],
    "media_ingest_group_handoffs_total": ["reason"],
    "media_ingest_intake_echoes_total": [],
    "media_ingest_intake_rounds_total": ["source"],
    "media_ingest_intake_round_events": ["source"],
    "media_ingest_intake_bad_events_total": ["source"],
    "media_ingest_intake_skipped_total": ["source", "reason"],
    "media_ingest_intake_last_poll_timestamp_seconds": ["source"],
}
"""docs/operations.md, "Metrics and health": the names and labels that must not change."""


def test_the_metric_names_and_labels_are_the_documented_ones() -> None:
    found = {}
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if describe is not None and hasattr(value, "_labelnames"):
            [family] = describe()
            name = family.name + ("_total" if family.type == "counter" else "")
            found[name] = list(value._labelnames)
    assert found == DOCUMENTED


def test_the_backlog_gauges_are_read_from_redis_when_scraped(redis_client: Any, key_prefix: str) -> None:
    queue, stream = f"{key_prefix}:tasks", f"{key_prefix}:labels"
    collector = BacklogCollector(redis_client, queue=queue, stream=stream, prefix=key_prefix)
    redis_client.rpush(queue, "t1", "t2", "t3")
    redis_client.xadd(stream, {"record": "{}"})
    redis_client.hset(f"{key_prefix}:failures", mapping={"e1": "{}", "e2": "{}"})
    values = {family.name: family.samples[0].value for family in collector.collect()}
    assert values == {
        "media_ingest_queue_depth": 3,
        "media_ingest_label_stream_length": 1,
        "media_ingest_failure_store_size": 2,
    }
    redis_client.lpop(queue)
    assert {f.name: f.samples[0].value for f in collector.collect()}["media_ingest_queue_depth"] == 2, "read anew"


def dead_redis() -> redis.Redis:
    return redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)


def test_a_scrape_while_redis_is_away_has_no_backlog_gauges_and_does_not_fail() -> None:
    collector = BacklogCollector(dead_redis(), queue="q", stream="s", prefix="p")
    assert list(collector.collect()) == []


def test_readiness_asks_redis(redis_client: Any) -> None:
    assert redis_ready(redis_client) is None
    problem = redis_ready(dead_redis())
    assert problem is not None and problem.startswith("Redis unreachable: ")


def test_one_process_uses_the_default_registry_a_prefork_worker_its_multiprocess_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    backlog = BacklogCollector(dead_redis(), queue="q", stream="s", prefix="p")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    registry = registry_for_process(backlog)
    try:
        assert registry is REGISTRY
    finally:
        REGISTRY.unregister(backlog)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert registry_for_process(None) is not REGISTRY


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[], str | None]], str]]:
    """Start the metrics server on a free port with a readiness check; its base URL. Stopped afterwards."""
    started: list[Any] = []

    def start(ready: Callable[[], str | None]) -> str:
        registry = CollectorRegistry()
        registry.register(BacklogCollector(dead_redis(), queue="q", stream="s", prefix="p"))
        Counter("media_ingest_test_total", "A counter of this test.", registry=registry).inc(2)
        httpd = serve(0, registry, ready)
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_server_answers_metrics_liveness_and_readiness(server: Any) -> None:
    problems: list[str | None] = [None]
    base = server(lambda: problems[-1])
    status, content_type, body = get(f"{base}/metrics")
    assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert "media_ingest_test_total 2.0" in body
    assert get(f"{base}/healthz") == (200, "text/plain", "ok\n")
    assert get(f"{base}/readyz") == (200, "text/plain", "ready\n")
    problems.append("no successful poll for 95s")
    assert get(f"{base}/readyz") == (503, "text/plain", "no successful poll for 95s\n")
    assert get(f"{base}/healthz")[0] == 200, "alive while not ready"
    assert get(f"{base}/other") == (404, "text/plain", "try /metrics, /healthz or /readyz\n")


def test_a_stale_trust_list_is_a_gauge_and_a_readyz_note_not_unreadiness(tmp_path: Path) -> None:
    import datetime

    from pipeline.credentials.lote import list_info_path, parse_lote, stale_notes
    from testkit.pki import make_test_pki
    from testkit.trust_lists import make_lote, service
    from workers.metrics import TrustListCollector

    pki = make_test_pki()
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=100)
    info = parse_lote(
        make_lote([("A", [service(pki.root_pem)])], name="C2PA Trust List", sequence=5, issued=long_ago)
    ).info
    pem = tmp_path / "anchors.pem"
    pem.write_bytes(pki.root_pem)
    list_info_path(pem).write_text(json.dumps(info.__dict__))
    lists: list[tuple[str, Path | None]] = [("anchors", pem), ("allowed", None)]

    registry = CollectorRegistry()
    registry.register(TrustListCollector(lists))
    text = generate_latest(registry).decode()
    assert 'media_ingest_trust_list_stale{file="anchors",list="C2PA Trust List"} 1.0' in text
    assert 'media_ingest_trust_list_sequence{file="anchors",list="C2PA Trust List"} 5.0' in text

    httpd = serve(0, registry, lambda: None, lambda: stale_notes(lists))
    try:
        status, _, body = get(f"http://127.0.0.1:{httpd.server_port}/readyz")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 200
    assert body.startswith("ready\ntrust list 'C2PA Trust List' (anchors, sequence 5) is stale")
