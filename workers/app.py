"""The Celery application. ``celery -A workers.app worker`` and ``media-ingest worker`` both start it.

Settings are read once, here, at import: a bad ``MEDIA_INGEST_*`` value stops the worker at start with one line.
"""

from __future__ import annotations

import sys

from celery import Celery, signals

from pipeline.logs import configure_logging
from pipeline.settings import Settings, SettingsError, load_settings
from workers.broker import TRANSPORT_OPTIONS, install_closed_connection_guard
from workers.lease import LeaseKeeper, RedisClock, install_redis_clock


def make_app(settings: Settings) -> Celery:
    install_closed_connection_guard()  # a reconnect must not end in Celery's "Unrecoverable error" (workers/broker.py)
    app = Celery("media_ingest", include=["workers.tasks"])
    app.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Unacknowledged tasks of a worker that died come back after this. Live workers renew the lease of
            # every message they hold (workers/lease.py), so long tasks are never delivered twice.
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            # Bounded socket reads, keepalive, health checks: a stalled connection raises and kombu reconnects.
            **TRANSPORT_OPTIONS,
        },
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue,
        # Ack after the task ran, requeue if the worker process died under it, ack failures (they are recorded).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(1, settings.task_time_limit - 30),
        worker_prefetch_multiplier=settings.worker_prefetch_multiplier,
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        # On a lost broker connection, running late-ack tasks are cancelled and redelivered (Celery 6's default);
        # the exactly-once guard makes the rerun harmless.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 10,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 3,
        },
    )
    app.conf.media_ingest_settings = settings
    return app


def _load() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"media-ingest: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


settings = _load()
app = make_app(settings)


@signals.setup_logging.connect
def _setup_logging(**_: object) -> None:
    configure_logging(settings.log_level, settings.log_format)


_lease: LeaseKeeper | None = None
_clock: RedisClock | None = None


@signals.worker_init.connect
def _use_redis_clock(**_: object) -> None:
    """Before the consumer starts: kombu scores deliveries and sweeps expired ones by the Redis clock."""
    global _clock
    from workers.composition import lease_connection

    _clock = install_redis_clock(lease_connection(settings))


@signals.worker_ready.connect
def _start_lease_keeper(**_: object) -> None:
    global _lease
    from workers.composition import lease_connection

    _lease = LeaseKeeper(lease_connection(settings), settings.visibility_timeout, clock=_clock)
    _lease.start()
    if settings.metrics_port:
        _serve_metrics(_lease)


def _serve_metrics(lease: LeaseKeeper) -> None:
    from workers.composition import serve_metrics

    serve_metrics(settings, settings.metrics_port, lambda: None if lease.is_alive() else "lease keeper stopped")


@signals.worker_process_shutdown.connect
def _forget_child_metrics(pid: int | None = None, **_: object) -> None:
    import os

    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@signals.worker_shutdown.connect
def _stop_lease_keeper(**_: object) -> None:
    if _lease is not None:
        _lease.stop()
