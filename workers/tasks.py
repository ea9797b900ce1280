"""Celery tasks: glue only. Build dependencies once per process, guard, call :func:`pipeline.process.label_object`.

Retry policy lives in the decorator: :class:`RetryableError` (S3 5xx/throttling, Redis faults) is retried with
exponential backoff and full jitter up to ``task_max_retries``; what exhausts its retries, a permanent error, a
hard time limit, or an object that killed its worker process ``MAX_DELIVERIES`` times ends in the failure store
(:meth:`LabelTask.on_failure`), never in an endless retry.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import structlog
from celery import Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded

from pipeline.errors import ObjectChanged, ObjectNotFound, PermanentError, RetryableError, StateUnavailable
from pipeline.events import BucketAllowList, BucketNotAllowed
from pipeline.grouping import Grouper, GroupingRule
from pipeline.model import ObjectRef, ObjectVersion
from pipeline.ports import FailureEntry
from pipeline.process import label_object
from pipeline.spool import sweep_stale
from workers.app import app, settings
from workers.composition import Runtime, worker_runtime
from workers.metrics import FAILURES, GROUP_HANDOFFS, GROUP_OBJECTS, OBJECTS, READER_RESTARTS, STAGE_SECONDS

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
            settings, on_reader_restart=lambda reason: READER_RESTARTS.labels(reason).inc()
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


BUCKETS = BucketAllowList.parse(settings.buckets)
"""MEDIA_INGEST_BUCKETS: a task for another bucket (from any path: intake, submit, replay, backfill) is a skip."""


@signals.worker_ready.connect
def _warn_any_bucket(**_: object) -> None:
    if BUCKETS.allows_any:
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
    if not BUCKETS.allows(obj.bucket):  # before anything touches the object: it is never fetched
        refusal = BucketNotAllowed(BUCKETS.refusal(obj.bucket))
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
        rt.deliveries.finished(identity)
        _record_failure(obj, batch_id, request.id, exc, (request.retries or 0) + 1, disposition="skipped")
        return "skipped"
    except SoftTimeLimitExceeded as exc:
        rt.deliveries.finished(identity)
        raise _soft_limit_error() from exc
    except (RetryableError, PermanentError):
        rt.deliveries.finished(identity)  # a retry is a new delivery, counted afresh
        raise
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


@app.task(
    bind=True,
    base=LabelTask,
    name="media_ingest.label_object",
    autoretry_for=(RetryableError,),
    retry_backoff=1,
    retry_backoff_max=settings.task_retry_backoff_max,
    retry_jitter=True,
    max_retries=settings.task_max_retries,
)
def label_object_task(self: Task, ref: dict[str, Any], batch_id: str | None = None) -> str:
    """Label one object version named by ``ref`` (bucket/key/version/etag; never bytes)."""
    return _label_one(self.request, ObjectRef.from_message(ref), batch_id)


def _soft_limit_error() -> PermanentError:
    return PermanentError(f"took longer than the {settings.task_time_limit - 30}s soft limit")


def _soft_limit(exc: BaseException) -> bool:
    """The soft time limit struck: raised as such, or translated into a PermanentError by :func:`_label_one`."""
    return isinstance(exc, SoftTimeLimitExceeded) or isinstance(exc.__cause__, SoftTimeLimitExceeded)


class LabelGroupTask(Task):  # type: ignore[misc]
    """A group that dies as a whole (the hard time limit) hands the objects it had not finished on, each as a task
    of its own with the single task's full retry policy; the ones that ended are not run or counted again."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        refs = kwargs.get("refs") or (args[0] if args else [])
        batch_id = kwargs.get("batch_id") or (args[1] if len(args) > 1 else None)
        groups = runtime().groups
        try:
            done = groups.done(task_id)
        except RetryableError:
            done = 0  # the state store is down: hand everything on, the guards keep reruns harmless
        rest = [ObjectRef.from_message(r) for r in refs[done:]]
        log.warning("group.failed", error_class=type(exc).__name__, reason=str(exc)[:500], handed_on=len(rest))
        for position, ref in enumerate(rest):
            try:
                enqueue(ref, batch_id)
            except Exception:
                # Nowhere left to put them: say exactly which objects need a `media-ingest submit` by hand.
                log.critical("group.hand_on_failed", objects=[r.uri for r in rest[position:]], batch_id=batch_id)
                raise
        GROUP_HANDOFFS.labels("group_failed").inc(len(rest))
        with contextlib.suppress(RetryableError):
            groups.clear(task_id)


@app.task(bind=True, base=LabelGroupTask, name="media_ingest.label_objects")
def label_objects_task(self: Task, refs: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, int]:
    """Label several small object versions in one task (see :mod:`pipeline.grouping`), one after another.

    Each object is on its own: a transient fault hands that object to :func:`label_object_task` (after the first
    backoff, counted as its first retry); a permanent one records it; the others go on. The group remembers how
    many objects have ended (:class:`pipeline.ports.GroupProgress`), so a redelivery after a killed worker
    resumes after them. When the soft time limit strikes, the object at hand is recorded as the single task would
    record it and the objects not started go on in a new group. When the broker or the state store cannot take a
    hand-on or the progress mark, the group goes back to the queue (``Reject(requeue=True)``) and resumes there.
    """
    groups = runtime().groups
    group_id = self.request.id
    statuses: dict[str, int] = {}
    GROUP_OBJECTS.observe(len(refs))
    try:
        start = groups.done(group_id)
    except RetryableError as exc:
        _back_to_queue(exc)
    for position in range(start, len(refs)):
        obj = ObjectRef.from_message(refs[position])
        with structlog.contextvars.bound_contextvars(bucket=obj.bucket, key=obj.key):
            try:
                status = _one_of_group(self.request, obj, batch_id, refs[position + 1 :])
                groups.advance(group_id, position + 1)
            except _HandedOn:
                statuses["failed"] = statuses.get("failed", 0) + 1
                statuses["handed_on"] = len(refs) - position - 1
                break
            except RetryableError as exc:  # the broker or the state store is down: keep the group, retry later
                _back_to_queue(exc)
        statuses[status] = statuses.get(status, 0) + 1
    with contextlib.suppress(RetryableError):
        groups.clear(group_id)
    return statuses


REQUEUE_PAUSE_SECONDS = 2.0
"""How long a group waits before going back to the queue, so a broker that refuses writes is not spun on."""


def _back_to_queue(exc: Exception) -> NoReturn:
    log.warning("group.requeued", error_class=type(exc).__name__, reason=str(exc)[:500])
    time.sleep(REQUEUE_PAUSE_SECONDS)
    raise Reject(exc, requeue=True) from exc


class _HandedOn(Exception):
    """The soft time limit ended this group: its object at hand was recorded and the rest went to a new group."""


def _one_of_group(request: Any, obj: ObjectRef, batch_id: str | None, rest: list[dict[str, Any]]) -> str:
    """One object of a group, ended as a single task would end it. Raises :class:`_HandedOn` after the soft time
    limit, and a :class:`RetryableError` when a hand-on could not be published."""
    try:
        return _label_one(request, obj, batch_id)
    except RetryableError as exc:
        log.info("object.retry_alone", error_class=type(exc).__name__, reason=str(exc)[:500])
        _publish(lambda: enqueue(obj, batch_id, countdown=random.uniform(0, 1), retries=1))
        GROUP_HANDOFFS.labels("transient").inc()
        return "retrying"
    except Exception as exc:  # one object's fault or bug must not cost the group's other objects
        if not isinstance(exc, PermanentError):
            log.exception("object.error")
        soft = _soft_limit(exc)
        if soft and not isinstance(exc, PermanentError):
            exc = _soft_limit_error()
        _record_failure(obj, batch_id, request.id, exc, 1)
        if soft:
            if rest:
                _publish(lambda: enqueue_group([ObjectRef.from_message(r) for r in rest], batch_id))
                GROUP_HANDOFFS.labels("soft_limit").inc(len(rest))
            raise _HandedOn() from exc
        return "failed"


def _publish(send: Any) -> None:
    """Publish a hand-on; a broker that cannot take it is a transient fault of the whole group."""
    try:
        send()
    except (RetryableError, Reject):
        raise
    except Exception as exc:
        raise StateUnavailable(f"could not hand an object on to a new task: {exc}") from exc


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


def enqueue(ref: ObjectRef, batch_id: str | None, *, countdown: float | None = None, retries: int = 0) -> None:
    """Publish one single-object task durably (the broker confirms the write before this returns). ``retries``
    says how many attempts it already had (a group's), so its retry budget and attempt count stay right."""
    label_object_task.apply_async(
        kwargs={"ref": ref.to_message(), "batch_id": batch_id},
        queue=settings.queue,
        countdown=countdown,
        retries=retries,
    )


def enqueue_group(refs: Sequence[ObjectRef], batch_id: str | None) -> None:
    """Publish several objects as one group task (:func:`label_objects_task`)."""
    label_objects_task.apply_async(
        kwargs={"refs": [r.to_message() for r in refs], "batch_id": batch_id}, queue=settings.queue
    )


def grouping_enqueue() -> Grouper:
    """The enqueue of an intake or a backfill: small objects share tasks (:mod:`pipeline.grouping`)."""
    return Grouper(grouping_rule(), publish_one=enqueue, publish_group=enqueue_group)


def grouping_rule() -> GroupingRule:
    return GroupingRule(max_objects=settings.task_group_size, max_object_bytes=settings.task_group_max_bytes)
