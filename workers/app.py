"""The Celery application: the module-level :data:`app` that ``celery -A workers.app worker`` finds by its name,
and that ``media-ingest worker`` starts (:func:`start_worker`).

Nothing is read at import. An entry point loads the settings and hands them to :func:`configure` before the app
starts a worker or publishes a task. Under ``celery -A workers.app`` the celery command is the entry point and knows
nothing of ours, so the settings are loaded from the environment the first time Celery reads its configuration
(:func:`_configure_from_environment`, on Celery's ``on_configure`` signal): a bad ``MEDIA_INGEST_*`` value stops that
process there, before the worker starts, with one line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from celery import Celery, signals
from kombu import Exchange, Queue

from pipeline.logs import configure_logging
from pipeline.settings import Settings, SettingsError, load_settings
from workers.broker import TRANSPORT_OPTIONS, install_closed_connection_guard
from workers.lease import LeaseKeeper, RedisClock, install_redis_clock

app = Celery("media_ingest", include=["workers.tasks"])

_SETTINGS = "media_ingest_settings"
"""The key of ``app.conf`` that holds the :class:`Settings` the app was configured with (tasks and signal handlers
read them there: a pool process forked from the worker has the same configuration)."""


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration these settings make: broker, queue, acknowledgement and time limits."""
    return {
        "broker_url": settings.broker,
        "broker_connection_retry_on_startup": True,
        **(_amqp_broker(settings) if settings.broker_is_amqp else _redis_broker(settings)),
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": settings.queue,
        # Ack after the task ran, requeue if the worker process died under it, ack failures (they are recorded).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": max(1, settings.task_time_limit - 30),
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        # On a lost broker connection, running late-ack tasks are cancelled and redelivered (Celery 6's default);
        # the exactly-once guard makes the rerun harmless.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 10,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 3,
        },
    }


def _redis_broker(settings: Settings) -> dict[str, Any]:
    return {
        "broker_transport_options": {
            # Unacknowledged tasks of a worker that died come back after this. Live workers renew the lease of
            # every message they hold (workers/lease.py), so long tasks are never delivered twice.
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            # Bounded socket reads, keepalive, health checks: a stalled connection raises and kombu reconnects.
            **TRANSPORT_OPTIONS,
        },
    }


AMQP_DELIVERY_LIMIT = 5
"""RabbitMQ redelivers a message at most this many times (a quorum queue's ``x-delivery-limit``), then drops it.
Above the worker's own poison guard (MAX_DELIVERIES in workers/tasks.py, which records the object as a failure
first), so the broker's limit is only the last line against a message that kills every worker before it starts."""


def _amqp_broker(settings: Settings) -> dict[str, Any]:
    """RabbitMQ: a durable quorum queue (replicated, at-least-once, a delivery limit for poison messages), publisher
    confirms (a publish returns once the broker has the message), and heartbeats that find a dead connection. An
    unacknowledged message of a worker that died is redelivered as soon as its connection closes: no visibility
    timeout, no lease to renew."""
    exchange = Exchange(settings.queue, type="direct", durable=True)  # type: ignore[no-untyped-call]  # kombu: untyped
    queue = Queue(  # type: ignore[no-untyped-call]  # kombu: untyped
        settings.queue,
        exchange,
        routing_key=settings.queue,
        durable=True,
        queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": AMQP_DELIVERY_LIMIT},
    )
    return {
        "task_queues": [queue],
        "task_default_exchange": settings.queue,
        "task_default_routing_key": settings.queue,
        "broker_transport_options": {"confirm_publish": True},
        "broker_heartbeat": 30,
        # Quorum queues have no global QoS; Celery then sets the prefetch per consumer.
        "worker_detect_quorum_queues": True,
    }


def configure(settings: Settings) -> Celery:
    """Configure :data:`app` from ``settings`` and return it. Called by the entry point before the app starts a
    worker or publishes a task; the tasks' retry policy, queue and limits come from these settings. A later call
    replaces the configuration (one process has one set of settings; a test process configures it per test)."""
    install_closed_connection_guard()  # a reconnect must not end in Celery's "Unrecoverable error" (workers/broker.py)
    app.conf.update(celery_config(settings))
    app.conf[_SETTINGS] = settings
    return app


def current_settings() -> Settings:
    """The settings :data:`app` was configured with (under ``celery -A``, loaded from the environment now)."""
    settings: Settings = app.conf[_SETTINGS]
    return settings


@app.on_configure.connect
def _configure_from_environment(sender: Celery, **_: object) -> None:
    """Celery reads its configuration for the first time: ``celery -A workers.app`` is starting, unless an entry
    point of ours already called :func:`configure`. (The pending configuration answers ``in`` without loading.)"""
    if _SETTINGS in sender.conf:
        return
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"media-ingest: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure(settings)


def start_worker(settings: Settings, celery_argv: Sequence[str]) -> None:
    """Run the Celery worker with ``settings`` (``media-ingest worker``) until it stops; ``celery_argv`` are the
    arguments of ``celery worker`` (queue, pool, concurrency, ...)."""
    if settings.metrics_port:
        _share_metrics_across_pool_processes()
    configure(settings).worker_main(["worker", *celery_argv])


def _share_metrics_across_pool_processes() -> None:
    """prometheus_client's multiprocess mode: the pool's children write their samples into this directory and the
    main process's ``/metrics`` adds them up. An environment variable is the library's only switch, read when it is
    imported and by every child, so it is set before anything imports it (the tasks do, when the worker loads them)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the worker set up its multiprocess metrics")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="media-ingest-metrics-")


@signals.setup_logging.connect
def _setup_logging(**_: object) -> None:
    settings = current_settings()
    configure_logging(settings.log_level, settings.log_format)


_lease: LeaseKeeper | None = None
_clock: RedisClock | None = None


@signals.worker_init.connect
def _use_redis_clock(**_: object) -> None:
    """Before the consumer starts: kombu scores deliveries and sweeps expired ones by the Redis clock."""
    global _clock
    from workers.composition import lease_connection

    settings = current_settings()
    if settings.broker_is_amqp:
        return  # RabbitMQ keeps no delivery scores: nothing to put on the Redis clock
    _clock = install_redis_clock(lease_connection(settings))


@signals.worker_ready.connect
def _start_lease_keeper(**_: object) -> None:
    global _lease
    settings = current_settings()
    from workers.composition import lease_connection

    if settings.broker_is_amqp:  # a RabbitMQ delivery stays with its worker until its connection closes
        if settings.metrics_port:
            _serve_metrics(settings, None)
        return
    _lease = LeaseKeeper(lease_connection(settings), settings.visibility_timeout, clock=_clock)
    _lease.start()
    if settings.metrics_port:
        _serve_metrics(settings, _lease)


def _serve_metrics(settings: Settings, lease: LeaseKeeper | None) -> None:
    """Readiness: Redis answers and, on a Redis broker, the lease keeper runs."""
    from workers.composition import serve_metrics

    def check() -> str | None:
        return None if lease is None or lease.is_alive() else "lease keeper stopped"

    serve_metrics(settings, settings.metrics_port, check)


@signals.worker_process_shutdown.connect
def _forget_child_metrics(pid: int | None = None, **_: object) -> None:
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@signals.worker_shutdown.connect
def _stop_lease_keeper(**_: object) -> None:
    if _lease is not None:
        _lease.stop()
