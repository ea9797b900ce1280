"""Celery tasks: glue only. Build dependencies once per process, guard, call :func:`pipeline.process.label_object`
(one object) or :func:`workers.groups.label_group` (several small ones).

Nothing here reads settings at import: the tasks read the ones :func:`workers.app.configure` gave the app. The retry
policy comes from them too: :class:`RetryableError` (S3 5xx/throttling, Redis faults) is retried with exponential
backoff and full jitter up to ``task_max_retries``; what exhausts its retries, a permanent error, a hard time
limit, or an object that killed its worker process ``MAX_DELIVERIES`` times ends in the failure store
(:meth:`LabelTask.on_failure`), never in an endless retry.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import structlog
from celery import Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval

from pipeline.errors import ObjectChanged, ObjectNotFound, PermanentError, RetryableError
from pipeline.events import BucketAllowList, BucketNotAllowed
from pipeline.grouping import Grouper, GroupingRule
from pipeline.model import ObjectRef, ObjectVersion
from pipeline.ports import FailureEntry
from pipeline.process import label_object
from pipeline.settings import Settings
from pipeline.spool import sweep_stale
from workers.app import app, configure, current_settings
from workers.composition import Runtime, worker_runtime
from workers.groups import GroupWork, hand_on_unfinished, label_group
from workers.metrics import FAILURES, OBJECTS, READER_RESTARTS, STAGE_SECONDS

log = structlog.get_logger("media_ingest.task")

MAX_DELIVERIES = 3
"""Deliveries of one object version that may start without finishing (worker killed, reader crashed)."""


_local = threading.local()


def runtime() -> Runtime:
    """Dependencies of the executing thread, built on first use (after the fork: boto3 and c2pa state is not
    fork-safe). One per pool process under prefork; one per thread under ``--pool threads``, where each thread
    then has its own C2PA reader child, whose pipe carries one request at a time."""
    current: Runtime | None = getattr(_local, "runtime", None)
    if current is None:
        current = _local.runtime = worker_runtime(
            current_settings(), on_reader_restart=lambda reason: READER_RESTARTS.labels(reason).inc()
        )
    return current


@signals.worker_process_init.connect
def _fresh_runtime_after_fork(**_: object) -> None:
    global _local
    _local = threading.local()
    _sweep_spool()


@signals.worker_init.connect
def _sweep_spool(**_: object) -> None:
    """Spool files of pool processes that were killed mid-task (they never deleted theirs)."""
    settings = current_settings()
    removed = sweep_stale(settings.spool_dir, older_than=settings.task_time_limit + 60)
    if removed:
        log.info("spool.swept", removed=removed, directory=str(settings.spool_dir or "(temp dir)"))


class LabelTask(Task):  # type: ignore[misc]
    """Records every object the task gives up on in the failure store, with its reason."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        message = kwargs.get("ref") or (args[0] if args else {})
        ref = ObjectRef.from_message(message)
        batch_id = kwargs.get("batch_id") or (args[1] if len(args) > 1 else None)
        attempts = int(getattr(self.request, "retries", 0) or 0) + 1
        _record_failure(ref, batch_id, task_id, exc, attempts)


def _record_failure(
    ref: ObjectRef,
    batch_id: str | None,
    task_id: str | None,
    exc: BaseException,
    attempts: int,
    disposition: str = "failed",
) -> None:
    rt = runtime()
    message = str(exc)[:2000] or type(exc).__name__
    entry = FailureEntry.of(
        ref,
        batch_id=batch_id,
        task_id=task_id,
        error_class=type(exc).__name__,
        message=message,
        attempts=attempts,
        disposition=disposition,
    )
    rt.failures.record(entry)
    FAILURES.labels(entry.error_class, disposition).inc()
    if batch_id:
        rt.batches.count(batch_id, "skipped" if disposition == "skipped" else "failed")
    log.warning("object." + disposition, error_class=entry.error_class, reason=entry.message, attempts=attempts)


class PoisonObject(PermanentError):
    """The object was delivered MAX_DELIVERIES times without finishing: it crashes or hangs the worker."""


@functools.cache
def _allowed_buckets(buckets: str | None) -> BucketAllowList:
    """MEDIA_INGEST_BUCKETS: a task for another bucket (from any path: intake, submit, replay, backfill) is a skip."""
    return BucketAllowList.parse(buckets)


@signals.worker_ready.connect
def _warn_any_bucket(**_: object) -> None:
    if _allowed_buckets(current_settings().buckets).allows_any:
        log.warning(
            "buckets.any_allowed",
            reason="MEDIA_INGEST_BUCKETS is not set: objects of any bucket a task names are read and written back",
            fix="set MEDIA_INGEST_BUCKETS to the comma-separated buckets this pipeline labels",
        )


def _label_one(request: Any, obj: ObjectRef, batch_id: str | None) -> str:
    """Guard, label, count and log one object; the body both tasks share.

    Returns the outcome status. Raises :class:`RetryableError` / :class:`PermanentError` for the caller's retry
    policy; an object that was recorded (poison, vanished, replaced, a bucket not allowed) returns its status.
    """
    allowed = _allowed_buckets(current_settings().buckets)
    if not allowed.allows(obj.bucket):  # before anything touches the object: it is never fetched
        refusal = BucketNotAllowed(allowed.refusal(obj.bucket))
        _record_failure(obj, batch_id, request.id, refusal, (request.retries or 0) + 1, disposition="skipped")
        return "skipped"
    rt = runtime()
    identity = ObjectVersion.of(obj).identity()  # the crash counter's: policy-independent, unlike the guard
    deliveries = rt.deliveries.started(identity)
    if deliveries > MAX_DELIVERIES:
        rt.deliveries.finished(identity)
        _record_failure(
            obj,
            batch_id,
            request.id,
            PoisonObject(f"started {deliveries - 1} times without finishing: it crashes or hangs the worker"),
            deliveries - 1,
        )
        return "failed"
    started = time.perf_counter()
    try:
        outcome = label_object(obj, rt.services, batch_id=batch_id)
    except (ObjectNotFound, ObjectChanged) as exc:
        _record_failure(obj, batch_id, request.id, exc, (request.retries or 0) + 1, disposition="skipped")
        return "skipped"
    except SoftTimeLimitExceeded as exc:
        raise _soft_limit_error() from exc
    finally:
        # However the attempt ended in this process (a retry is a new delivery, counted afresh); only a process
        # killed under it leaves the count standing, which is what the poison guard counts.
        rt.deliveries.finished(identity)
    if batch_id:
        rt.batches.count(batch_id, outcome.status)
    record = outcome.record
    OBJECTS.labels(outcome.status, record.label if record else "", record.provenance if record else "").inc()
    for stage, seconds in outcome.stages.items():
        STAGE_SECONDS.labels(stage).observe(seconds)
    log.info(
        "object.processed",
        outcome=outcome.status,
        label=record.label if record else None,
        provenance=record.provenance if record else None,
        etag=record.etag if record else obj.etag,
        version_id=record.version_id if record else obj.version_id,
        metadata_written=outcome.metadata_written,
        detail=outcome.detail,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return outcome.status


@app.task(bind=True, base=LabelTask, name="media_ingest.label_object")
def label_object_task(self: Task, ref: dict[str, Any], batch_id: str | None = None) -> str:
    """Label one object version named by ``ref`` (bucket/key/version/etag; never bytes)."""
    try:
        return _label_one(self.request, ObjectRef.from_message(ref), batch_id)
    except RetryableError as exc:
        _retry_later(self, exc)


def _retry_later(task: Task, exc: RetryableError) -> NoReturn:
    """The retry policy of the settings: exponential backoff from one second with full jitter, capped at
    ``task_retry_backoff_max``, at most ``task_max_retries`` times. ``Task.retry`` raises: the retry, or ``exc``
    itself once the retries are used up (then :meth:`LabelTask.on_failure` records it)."""
    settings = current_settings()
    countdown = get_exponential_backoff_interval(
        factor=1, retries=task.request.retries, maximum=settings.task_retry_backoff_max, full_jitter=True
    )
    raise task.retry(exc=exc, countdown=countdown, max_retries=settings.task_max_retries)


def _soft_limit_error() -> PermanentError:
    return PermanentError(f"took longer than the {current_settings().task_time_limit - 30}s soft limit")


def _time_up(exc: BaseException) -> PermanentError | None:
    """The soft time limit struck: raised as such, or translated into a PermanentError by :func:`_label_one`."""
    if isinstance(exc, SoftTimeLimitExceeded) or isinstance(exc.__cause__, SoftTimeLimitExceeded):
        return exc if isinstance(exc, PermanentError) else _soft_limit_error()
    return None


class LabelGroupTask(Task):  # type: ignore[misc]
    """A group that dies as a whole (the hard time limit) hands the objects it had not finished on
    (:func:`workers.groups.hand_on_unfinished`)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        refs = kwargs.get("refs") or (args[0] if args else [])
        batch_id = kwargs.get("batch_id") or (args[1] if len(args) > 1 else None)
        hand_on_unfinished(
            task_id,
            [ObjectRef.from_message(r) for r in refs],
            batch_id,
            exc,
            progress=runtime().groups,
            queue=_worker_queue(),
        )


REQUEUE_PAUSE_SECONDS = 2.0
"""How long a group waits before going back to the queue, so a broker that refuses writes is not spun on."""


@app.task(bind=True, base=LabelGroupTask, name="media_ingest.label_objects")
def label_objects_task(self: Task, refs: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, int]:
    """Label several small object versions in one task (:func:`workers.groups.label_group`). When the broker or
    the state store cannot take a hand-on or the progress mark, the group goes back to the queue
    (``Reject(requeue=True)``) and resumes there."""
    request = self.request
    work = GroupWork(
        progress=runtime().groups,
        queue=_worker_queue(),
        label=lambda obj: _label_one(request, obj, batch_id),
        record_failure=lambda obj, exc: _record_failure(obj, batch_id, request.id, exc, 1),
        time_up=_time_up,
    )
    try:
        return label_group(request.id, [ObjectRef.from_message(r) for r in refs], batch_id, work)
    except RetryableError as exc:
        time.sleep(REQUEUE_PAUSE_SECONDS)
        raise Reject(exc, requeue=True) from exc


@signals.task_prerun.connect
def _bind_ids(task_id: str | None = None, task: Any = None, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    kwargs = kwargs or {}
    ref = kwargs.get("ref") or (args[0] if args else {})
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        task_id=task_id,
        bucket=ref.get("bucket") if isinstance(ref, dict) else None,
        key=ref.get("key") if isinstance(ref, dict) else None,
        batch_id=kwargs.get("batch_id") or (args[1] if len(args) > 1 else None),
    )


@signals.task_postrun.connect
def _unbind_ids(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@dataclass(frozen=True)
class TaskPublisher:
    """Publishes label tasks on ``queue`` through :data:`workers.app.app`, durably: the broker confirms each write
    before a call returns. Build it with :func:`publisher`, which configures the app first."""

    queue: str

    def one(self, ref: ObjectRef, batch_id: str | None, *, countdown: float | None = None, retries: int = 0) -> None:
        """One single-object task. ``retries`` says how many attempts it already had (a group's), so its retry
        budget and attempt count stay right."""
        label_object_task.apply_async(
            kwargs={"ref": ref.to_message(), "batch_id": batch_id},
            queue=self.queue,
            countdown=countdown,
            retries=retries,
        )

    def group(self, refs: Sequence[ObjectRef], batch_id: str | None) -> None:
        """Several objects as one group task (:func:`label_objects_task`)."""
        label_objects_task.apply_async(
            kwargs={"refs": [r.to_message() for r in refs], "batch_id": batch_id}, queue=self.queue
        )


def publisher(settings: Settings) -> TaskPublisher:
    """The publisher of an entry point that sends tasks (intake, submit, replay, backfill), on the settings' broker
    and queue."""
    configure(settings)
    return TaskPublisher(settings.queue)


def _worker_queue() -> TaskPublisher:
    """Where a worker's hand-ons go: the queue of the settings the worker runs with."""
    return TaskPublisher(current_settings().queue)


def grouping_enqueue(settings: Settings) -> Grouper:
    """The enqueue of an intake or a backfill: small objects share tasks (:mod:`pipeline.grouping`)."""
    tasks = publisher(settings)
    return Grouper(grouping_rule(settings), publish_one=tasks.one, publish_group=tasks.group)


def grouping_rule(settings: Settings) -> GroupingRule:
    return GroupingRule(max_objects=settings.task_group_size, max_object_bytes=settings.task_group_max_bytes)
