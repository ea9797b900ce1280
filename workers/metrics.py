"""Prometheus metrics, and liveness/readiness endpoints, for the worker and the intake.

One HTTP server per process that asks for it (``--metrics-port`` or ``MEDIA_INGEST_METRICS_PORT``):

* ``/metrics`` — objects processed by outcome, label and provenance; failures by error class; per-stage latency
  histograms; intake tasks; and, read from Redis at scrape time, queue depth, label stream length and failure store
  size. A prefork worker aggregates its pool children through prometheus_client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, which ``media-ingest worker`` sets up when metrics are on).
* ``/healthz`` — the process is serving (liveness).
* ``/readyz`` — the process can do its job: Redis answers and the process's own check passes (readiness).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

OBJECTS = Counter(
    "media_ingest_objects_total",
    "Objects processed, by outcome, label and provenance.",
    ["outcome", "label", "provenance"],
)
FAILURES = Counter(
    "media_ingest_failures_total",
    "Objects given up on (failed) or skipped, by error class.",
    ["error_class", "disposition"],
)
STAGE_SECONDS = Histogram(
    "media_ingest_stage_seconds",
    "Seconds per pipeline stage (fetch, read, publish, write_back).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
READER_RESTARTS = Counter(
    "media_ingest_reader_restarts_total",
    "C2PA reader children replaced, by reason: crash, timeout, cpu_limit, interrupted (soft time limit), "
    "start_failed / start_exit / start_timeout (bad trust files: a crash loop), mismatch, bad_line, oversized_answer, "
    "died_idle.",
    ["reason"],
)
INTAKE_TASKS = Counter("media_ingest_intake_tasks_total", "Tasks enqueued by an intake bridge.", ["source"])
GROUP_OBJECTS = Histogram(
    "media_ingest_group_objects",
    "Objects carried by each group task (media_ingest.label_objects); full groups save the most.",
    buckets=(2, 3, 4, 5, 6, 8, 10, 15, 20, 50),
)
GROUP_HANDOFFS = Counter(
    "media_ingest_group_handoffs_total",
    "Objects a group task handed on: to a task of their own (transient), to a new group (soft limit), or all "
    "unfinished ones after the group failed whole.",
    ["reason"],
)
INTAKE_ECHOES = Counter(
    "media_ingest_intake_echoes_total", "Write-back copy events an intake dropped as our own echoes."
)
INTAKE_ROUNDS = Counter(
    "media_ingest_intake_rounds_total", "Intake rounds finished (events taken, enqueued, acknowledged).", ["source"]
)
INTAKE_ROUND_EVENTS = Histogram(
    "media_ingest_intake_round_events",
    "Events (SQS messages, Redis list items) per finished intake round; the batches are per time window.",
    ["source"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
INTAKE_BAD_EVENTS = Counter(
    "media_ingest_intake_bad_events_total",
    "Notifications an intake could not parse, recorded as BadEvent in the failure store and acknowledged.",
    ["source"],
)
INTAKE_SKIPPED = Counter(
    "media_ingest_intake_skipped_total",
    "What an intake did not enqueue, by reason: not_created (test events, deletions), bucket_not_allowed "
    "(a bucket outside MEDIA_INGEST_BUCKETS, recorded as a skip).",
    ["source", "reason"],
)

INTAKE_HEARTBEAT = Gauge(
    "media_ingest_intake_last_poll_timestamp_seconds",
    "Unix time of the intake's last successful poll (a receive that returned, with events or none, and their round "
    "enqueued and acknowledged): its heartbeat. It stops moving when the intake cannot poll or publish.",
    ["source"],
    multiprocess_mode="max",
)


class BacklogCollector(Collector):
    """Gauges read from Redis when scraped: they describe the shared pipeline, not this process."""

    def __init__(
        self,
        redis: Any,
        *,
        queue: str,
        stream: str,
        prefix: str,
        queue_depth: Callable[[], int] | None = None,
    ) -> None:
        """``queue_depth`` reads the broker's queue when it is not the Redis list ``queue`` (RabbitMQ)."""
        self._redis, self._queue, self._stream, self._prefix = redis, queue, stream, prefix
        self._queue_depth = queue_depth

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(self._queue)
            pipe.xlen(self._stream)
            pipe.hlen(f"{self._prefix}:failures")
            depth, stream, failures = pipe.execute()
            if self._queue_depth is not None:
                depth = self._queue_depth()
        except Exception:  # noqa: BLE001 - a scrape must not fail because Redis or the broker is away; readiness says so
            return []
        return [
            GaugeMetricFamily("media_ingest_queue_depth", "Tasks waiting in the Celery queue.", value=depth),
            GaugeMetricFamily("media_ingest_label_stream_length", "Records on the label stream.", value=stream),
            GaugeMetricFamily("media_ingest_failure_store_size", "Entries in the failure store.", value=failures),
        ]


class TrustListCollector(Collector):
    """Gauges of the published trust lists this process validates against, read from the files at scrape time
    (``trust refresh`` replaces them while the process runs)."""

    def __init__(self, files: list[tuple[str, Path | None]]) -> None:
        self._files = files

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from pipeline.credentials.lote import read_list_info

        stale = GaugeMetricFamily(
            "media_ingest_trust_list_stale",
            "1 while a published trust list is past its next update (run `media-ingest trust refresh`), else 0.",
            labels=["file", "list"],
        )
        due = GaugeMetricFamily(
            "media_ingest_trust_list_next_update_timestamp_seconds",
            "When a published trust list's next issue is due (Unix time; absent for a closed list).",
            labels=["file", "list"],
        )
        sequence = GaugeMetricFamily(
            "media_ingest_trust_list_sequence",
            "Sequence number of the published trust list loaded.",
            labels=["file", "list"],
        )
        for kind, path in self._files:
            info = read_list_info(path) if path else None
            if info is None:
                continue
            labels = [kind, info.name]
            stale.add_metric(labels, 1.0 if info.stale() else 0.0)
            sequence.add_metric(labels, float(info.sequence))
            if info.next_update:
                due.add_metric(labels, datetime.fromisoformat(info.next_update).timestamp())
        return [stale, due, sequence]


def registry_for_process(backlog: Collector | None) -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    if backlog is not None:
        registry.register(backlog)
    return registry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def serve(
    port: int,
    registry: CollectorRegistry,
    ready: Callable[[], str | None],
    notes: Callable[[], list[str]] | None = None,
) -> WSGIServer:
    """Start the metrics/health server in a daemon thread. ``ready()`` returns None when ready, else why not;
    ``notes()`` lines that ``/readyz`` adds without making the process unready (a stale trust list)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body = generate_latest(registry)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return iter([body])
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter([b"ok\n"])
        if path == "/readyz":
            problem = ready()
            status = "200 OK" if problem is None else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain")])
            lines = [problem or "ready", *(notes() if notes is not None else [])]
            return iter(["".join(f"{line}\n" for line in lines).encode()])
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return iter([b"try /metrics, /healthz or /readyz\n"])

    server = make_server("0.0.0.0", port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="media-ingest-metrics", daemon=True).start()
    return server


def redis_ready(redis: Any) -> str | None:
    try:
        redis.ping()
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure of the ping as "not ready", never raises
        return f"Redis unreachable: {exc}"
    return None
