"""Build the concrete implementations the settings choose, once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader, ReaderLimits
from pipeline.adapters.redis_store import (
    RedisBatchCounters,
    RedisDeliveryCounter,
    RedisFailureSink,
    RedisGroupProgress,
    RedisLabelSink,
    connect,
)
from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
from pipeline.credentials.trust import TrustFiles
from pipeline.policy import load_policy
from pipeline.ports import DeliveryCounter, FailureSink, GroupProgress
from pipeline.process import Services
from pipeline.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """A worker process's dependencies: the :class:`Services` the plain function needs, plus bookkeeping."""

    services: Services
    failures: FailureSink
    deliveries: DeliveryCounter
    batches: RedisBatchCounters
    groups: GroupProgress
    redis: Any


def trust_files(settings: Settings) -> TrustFiles:
    return TrustFiles(settings.trust_anchors, settings.trust_allowed, settings.trust_config)


def reader_limits(settings: Settings) -> ReaderLimits:
    return ReaderLimits(timeout=settings.reader_timeout, memory_mb=settings.reader_memory_mb)


def build_runtime(settings: Settings, *, on_reader_restart: Callable[[str], None] | None = None) -> Runtime:
    """``on_reader_restart(reason)`` is called each time the reader child is replaced (the worker counts it)."""
    client = connect(settings.redis_url)
    prefix = settings.key_prefix
    services = Services(
        store=S3ObjectStore(make_s3_client(settings.s3_endpoint_url)),
        reader=IsolatedCredentialReader(
            trust_files(settings), limits=reader_limits(settings), on_restart=on_reader_restart
        ),
        sink=RedisLabelSink(
            client,
            settings.label_stream,
            prefix=prefix,
            done_ttl=settings.done_ttl_seconds,
            maxlen=settings.label_stream_maxlen,
        ),
        policy=load_policy(settings.policy_file),
        max_object_bytes=settings.max_object_bytes,
        spool_dir=settings.spool_dir,
    )
    return Runtime(
        services=services,
        failures=RedisFailureSink(
            client,
            prefix=prefix,
            max_entries=settings.failure_max_entries,
            max_age=settings.failure_max_age_seconds,
        ),
        deliveries=RedisDeliveryCounter(client, prefix=prefix),
        batches=RedisBatchCounters(client, prefix=prefix),
        groups=RedisGroupProgress(client, prefix=prefix),
        redis=client,
    )
