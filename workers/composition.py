"""The composition root: the one place that builds adapters from settings.

Every entry point asks here for what it needs (the worker's tasks :func:`worker_runtime`, the intakes
:func:`build_intake`, the operator commands :func:`operations`, ``submit`` :func:`batch_counters`, ``inspect``
:func:`credential_reader`, the lease keeper :func:`lease_connection`, ``/metrics`` :func:`serve_metrics`), so which
class implements a port (Redis, S3, the C2PA child) is decided once, here. Each call builds fresh adapters; the
ones one call returns together share one Redis client. Nothing here runs at import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import redis

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader, ReaderLimits
from pipeline.adapters.redis_list import RedisEventList
from pipeline.adapters.redis_store import (
    RedisAuditLog,
    RedisBatchCounters,
    RedisDeliveryCounter,
    RedisFailureSink,
    RedisGroupProgress,
    RedisLabelSink,
    RedisOverrideStore,
    RedisScopeLocks,
    connect,
)
from pipeline.adapters.redis_store.manifests import CachedManifestFetcher
from pipeline.adapters.remote_manifest import HttpManifestFetcher
from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
from pipeline.adapters.sqs import SqsEventQueue, make_sqs_client
from pipeline.credentials.trust import TrustFiles
from pipeline.policy import Policy, load_policy
from pipeline.ports import (
    BatchCounters,
    DeliveryCounter,
    EventQueue,
    FailureSink,
    GroupProgress,
    LabelSink,
    ManifestFetcher,
    ObjectStore,
)
from pipeline.process import Services
from pipeline.remote_manifests import FetchPolicy, parse_origins
from pipeline.settings import Settings
from workers.broker import queue_depth

if TYPE_CHECKING:  # workers.ops imports prometheus_client (through workers.intake): a worker sets it up first
    from workers.intake import IntakeConfig, IntakeLoop
    from workers.ops import Operations, OperatorState, Progress
    from workers.overrides import Overrides


@dataclass(frozen=True)
class Runtime:
    """A worker process's dependencies: the :class:`Services` the plain function needs, plus bookkeeping."""

    services: Services
    failures: FailureSink
    deliveries: DeliveryCounter
    batches: BatchCounters
    groups: GroupProgress


def redis_connection(settings: Settings) -> redis.Redis:
    """A client of the pipeline's Redis, for entry points that read it as the platform does (the demo reads the
    label stream) or adapters an entry point wires itself (MinIO's event list)."""
    return connect(settings.redis_url)


def trust_files(settings: Settings) -> TrustFiles:
    return TrustFiles(settings.trust_anchors, settings.trust_allowed, settings.trust_config)


def reader_limits(settings: Settings) -> ReaderLimits:
    return ReaderLimits(timeout=settings.reader_timeout, memory_mb=settings.reader_memory_mb)


def fetch_policy(settings: Settings, policy: Policy | None = None) -> FetchPolicy:
    """What remote manifests may be fetched: the policy file's allow-list (``policy``, the one loaded already, or
    read from ``POLICY_FILE``) plus ``REMOTE_MANIFEST_HOSTS``."""
    extra = parse_origins(settings.remote_manifest_hosts)
    listed = (policy or load_policy(settings.policy_file)).remote_manifest_hosts
    return FetchPolicy(
        allowed=tuple(dict.fromkeys((*listed, *extra))),
        max_bytes=settings.remote_manifest_max_bytes,
        connect_timeout=settings.remote_manifest_connect_timeout,
        read_timeout=settings.remote_manifest_read_timeout,
        cache_ttl_seconds=settings.remote_manifest_cache_ttl_seconds,
    )


def manifest_fetcher(
    settings: Settings, client: redis.Redis | None = None, *, policy: Policy | None = None
) -> ManifestFetcher | None:
    """The remote manifest fetcher, cached in Redis (single-flight per URL) when ``client`` is given.

    The one place that honours ``REMOTE_MANIFESTS=off``: then there is no fetcher, and the reader reports a remote
    reference ``unreadable``, "remote manifest not fetched" (no request, no cache lookup)."""
    if not settings.remote_manifests:
        return None
    rules = fetch_policy(settings, policy)
    fetcher: ManifestFetcher = HttpManifestFetcher(rules)
    if client is not None:
        fetcher = CachedManifestFetcher(
            fetcher, client, policy=rules, prefix=settings.key_prefix, ttl_seconds=rules.cache_ttl_seconds
        )
    return fetcher


def credential_reader(
    settings: Settings,
    *,
    on_restart: Callable[[str], None] | None = None,
    client: redis.Redis | None = None,
    policy: Policy | None = None,
) -> IsolatedCredentialReader:
    """The C2PA reader in its supervised child; ``on_restart(reason)`` is called each time the child is replaced.

    It fetches remote manifests (:func:`manifest_fetcher`), through the Redis cache when ``client`` is given (the
    worker; ``media-ingest inspect`` fetches without it); ``policy``: the policy already loaded (else read)."""
    return IsolatedCredentialReader(
        trust_files(settings),
        limits=reader_limits(settings),
        on_restart=on_restart,
        manifests=manifest_fetcher(settings, client, policy=policy),
        spool_dir=settings.spool_dir,
    )


def object_store(settings: Settings) -> ObjectStore:
    return S3ObjectStore(make_s3_client(settings.s3_endpoint_url))


def _label_sink(client: redis.Redis, settings: Settings) -> LabelSink:
    return RedisLabelSink(
        client,
        settings.label_stream,
        prefix=settings.key_prefix,
        done_ttl=settings.done_ttl_seconds,
        maxlen=settings.label_stream_maxlen,
    )


def _failure_store(client: redis.Redis, settings: Settings) -> FailureSink:
    return RedisFailureSink(
        client,
        prefix=settings.key_prefix,
        max_entries=settings.failure_max_entries,
        max_age=settings.failure_max_age_seconds,
    )


def _batch_counters(client: redis.Redis, settings: Settings) -> BatchCounters:
    return RedisBatchCounters(client, prefix=settings.key_prefix)


def failure_store(settings: Settings) -> FailureSink:
    return _failure_store(connect(settings.redis_url), settings)


def batch_counters(settings: Settings) -> BatchCounters:
    return _batch_counters(connect(settings.redis_url), settings)


def worker_runtime(settings: Settings, *, on_reader_restart: Callable[[str], None] | None = None) -> Runtime:
    """Everything one worker thread uses; ``on_reader_restart(reason)`` counts the reader child's restarts."""
    client = connect(settings.redis_url)
    prefix = settings.key_prefix
    policy = load_policy(settings.policy_file)  # once: the labels and the manifest allow-list come from it
    services = Services(
        store=object_store(settings),
        reader=credential_reader(settings, on_restart=on_reader_restart, client=client, policy=policy),
        sink=_label_sink(client, settings),
        policy=policy,
        max_object_bytes=settings.max_object_bytes,
        spool_dir=settings.spool_dir,
        overrides=RedisOverrideStore(client, prefix=prefix),
    )
    return Runtime(
        services=services,
        failures=_failure_store(client, settings),
        deliveries=RedisDeliveryCounter(client, prefix=prefix),
        batches=_batch_counters(client, settings),
        groups=RedisGroupProgress(client, prefix=prefix),
    )


IntakeSource = Literal["sqs", "redis"]

REDIS_LIST_BLOCK_SECONDS = 5
"""How long a Redis-list round's first BLMOVE blocks for an event (a stop waits at most this long)."""


def event_queue(settings: Settings, source: IntakeSource, address: str) -> EventQueue:
    """The queue ``media-ingest intake SOURCE ADDRESS`` drains: an SQS queue URL, or the Redis key of MinIO's list."""
    if source == "sqs":
        client = make_sqs_client(settings.s3_endpoint_url)
        return SqsEventQueue(client, address, visibility_timeout=settings.sqs_visibility_timeout)
    return RedisEventList(connect(settings.redis_url), address)


def intake_config(settings: Settings, source: IntakeSource) -> IntakeConfig:
    """Pacing, allow-list, batch window and readiness of an intake of ``source``."""
    from pipeline.events import BucketAllowList
    from workers.intake import BatchWindow, IntakeConfig, Linger

    wait = settings.sqs_wait_seconds if source == "sqs" else REDIS_LIST_BLOCK_SECONDS
    return IntakeConfig(
        wait_seconds=wait,
        linger=Linger(settings.intake_linger_ms / 1000),
        allowed=BucketAllowList.parse(settings.buckets),
        window=BatchWindow(settings.intake_batch_window_seconds),
        batch_ttl=settings.intake_batch_ttl_seconds,
        # A long poll that finds nothing is a success too; a poll stuck or failing this long is not.
        max_quiet=3 * settings.sqs_wait_seconds + 30 if source == "sqs" else 60,
    )


def build_intake(settings: Settings, source: IntakeSource, address: str) -> IntakeLoop:
    """``media-ingest intake SOURCE ADDRESS``: the loop over the source's queue with the grouping enqueue, the
    failure store, batch counters, echo check and broker backlog; ``run()`` it (its exit status is the command's).

    The echo check reads the headers of each candidate (one HEAD per copy event whose guard is set), so the intake
    then needs ``s3:GetObject`` on the buckets (HEAD needs it too), like the workers."""
    from workers.intake import IntakeDependencies, IntakeLoop, echo_filter
    from workers.tasks import grouping_enqueue  # the tasks module imports this one

    client = connect(settings.redis_url)
    is_echo = None
    if settings.intake_skip_echoes:
        policy_version = load_policy(settings.policy_file).version
        is_echo = echo_filter(_label_sink(client, settings), policy_version, object_store(settings))
    depth = queue_depth(settings.broker, settings.queue)

    def behind() -> bool:
        """Tasks wait in the broker's queue."""
        return depth() > 0

    deps = IntakeDependencies(
        queue=event_queue(settings, source, address),
        enqueue=grouping_enqueue(settings),
        failures=_failure_store(client, settings),
        batches=_batch_counters(client, settings),
        is_echo=is_echo,
        behind=behind,
    )
    return IntakeLoop(deps, intake_config(settings, source))


def operator_state(settings: Settings) -> OperatorState:
    """The failure store, batch counters, audit log and scope locks of the operator commands, on one client."""
    from workers.ops import LOCK_TTL_SECONDS, OperatorState

    client = connect(settings.redis_url)
    return OperatorState(
        failures=_failure_store(client, settings),
        batches=_batch_counters(client, settings),
        audit=RedisAuditLog(client, prefix=settings.key_prefix),
        locks=RedisScopeLocks(client, prefix=settings.key_prefix, ttl=LOCK_TTL_SECONDS),
    )


def operations(settings: Settings, *, with_store: bool = False, progress: Progress | None = None) -> Operations:
    """The operator actions (``failures``, ``replay``, ``purge-failures``, ``backfill``, ``audit``), enqueueing
    through the grouping enqueue (backfill's small objects share tasks, as the intake's do); ``with_store``: with
    object storage access, which backfill needs; ``progress`` shows how far a long action has got."""
    from workers.ops import Operations, no_progress
    from workers.tasks import grouping_enqueue

    enqueue = grouping_enqueue(settings)
    store = object_store(settings) if with_store else None
    return Operations(
        operator_state(settings), enqueue=enqueue, flush=enqueue.flush, store=store, progress=progress or no_progress
    )


def lease_connection(settings: Settings) -> redis.Redis:
    """The lease keeper's and the Redis clock's client, on the broker's Redis (kombu keeps its unacked index there,
    which may be another Redis than the state's): short timeouts, no retries (a renewal that fails is simply tried
    again a quarter of the visibility timeout later)."""
    return redis.Redis.from_url(settings.broker, socket_timeout=5, socket_connect_timeout=5)


def serve_metrics(settings: Settings, port: int, check: Callable[[], str | None]) -> None:
    """Serve ``/metrics`` (with the backlog gauges read from Redis), ``/healthz`` and ``/readyz`` on ``port``:
    ready while Redis answers and ``check()`` (the process's own readiness) returns None, else says why not.

    prometheus_client is imported here, not at the module's import: a worker must set up its multiprocess
    directory first (``media-ingest worker``)."""
    from workers.metrics import BacklogCollector, redis_ready, registry_for_process, serve

    client = connect(settings.redis_url)
    backlog = BacklogCollector(
        client,
        queue=settings.queue,
        stream=settings.label_stream,
        prefix=settings.key_prefix,
        queue_depth=queue_depth(settings.broker, settings.queue),
    )

    def ready() -> str | None:
        return redis_ready(client) or check()

    from pipeline.credentials.lote import stale_notes
    from workers.metrics import TrustListCollector

    lists = [("anchors", settings.trust_anchors), ("allowed", settings.trust_allowed)]
    registry = registry_for_process(backlog)
    registry.register(TrustListCollector(lists))
    # A stale list is the last good copy: the process stays ready and says so (docs/operations.md).
    serve(port, registry, ready, lambda: stale_notes(lists))


@contextlib.contextmanager
def override_operations(settings: Settings, *, who: str) -> Iterator[Overrides]:
    """``media-ingest override``: the workers' :class:`Services` (object store, C2PA reader child, label sink,
    policy, override store) and the audit log on one Redis client; the reader child is stopped on exit."""
    from workers.overrides import Overrides

    client = connect(settings.redis_url)
    reader = credential_reader(settings, client=client)
    overrides = RedisOverrideStore(client, prefix=settings.key_prefix)
    services = Services(
        store=object_store(settings),
        reader=reader,
        sink=_label_sink(client, settings),
        policy=load_policy(settings.policy_file),
        max_object_bytes=settings.max_object_bytes,
        spool_dir=settings.spool_dir,
        overrides=overrides,
    )
    try:
        yield Overrides(services, overrides, RedisAuditLog(client, prefix=settings.key_prefix), who=who)
    finally:
        reader.close()
