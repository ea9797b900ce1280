"""A group task's objects (see :mod:`pipeline.grouping`), labelled one after another, each ended as a task of its
own would end it; plain functions over ports, which the Celery task ``media_ingest.label_objects``
(:mod:`workers.tasks`) calls with the worker's adapters and the tests with in-memory fakes.

A group remembers how many of its objects have ended (:class:`pipeline.ports.GroupProgress`, by the task id, which
stays the same across redeliveries), so a redelivered group resumes after them and a group that fails whole hands
on only the objects that had not ended: none is run or counted in its batch twice.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from pipeline.errors import PermanentError, RetryableError, StateUnavailable
from pipeline.model import ObjectRef
from pipeline.ports import GroupProgress
from workers.metrics import GROUP_HANDOFFS, GROUP_OBJECTS

log = structlog.get_logger("media_ingest.task")


class TaskQueue(Protocol):
    """Where hand-ons go: the broker's queue (:class:`workers.tasks.TaskPublisher`)."""

    def one(self, ref: ObjectRef, batch_id: str | None, *, countdown: float | None = None, retries: int = 0) -> None:
        """A task of its own for ``ref``, after ``countdown`` seconds, that already had ``retries`` attempts."""
        ...

    def group(self, refs: Sequence[ObjectRef], batch_id: str | None) -> None:
        """A new group task for ``refs``."""
        ...


@dataclass(frozen=True)
class GroupWork:
    """What labelling a group needs around each object."""

    progress: GroupProgress
    queue: TaskQueue
    label: Callable[[ObjectRef], str]
    """Label one object as a task of its own would (guards, counters, log) and return its status. Raises
    :class:`RetryableError` for a transient fault; anything else it raises is that object's fault or a bug."""
    record_failure: Callable[[ObjectRef, BaseException], None]
    """Record an object the group gave up on (failure store, batch counter), its attempt counted as the first."""
    time_up: Callable[[BaseException], PermanentError | None]
    """The error to record when an exception says the task's soft time limit struck; None for any other."""


class _HandedOn(Exception):
    """The soft time limit ended this group: its object at hand was recorded and the rest went to a new group."""


def label_group(group_id: str, refs: Sequence[ObjectRef], batch_id: str | None, work: GroupWork) -> dict[str, int]:
    """Label the objects of group ``group_id`` that have not ended yet; returns how many ended with each status.

    Each object is on its own: a transient fault hands that object to a task of its own (after the first backoff,
    counted as its first retry); a permanent one records it; the others go on. When the soft time limit strikes,
    the object at hand is recorded as a single task would record it and the objects not started go on in a new
    group (``handed_on``).

    Raises :class:`RetryableError` when the state store or the broker could not take the progress mark or a
    hand-on: the caller puts the group back on its queue, and its redelivery resumes at the object at hand.
    """
    GROUP_OBJECTS.observe(len(refs))
    statuses: dict[str, int] = {}
    try:
        start = work.progress.done(group_id)
    except RetryableError as exc:
        _requeued(exc)
        raise
    for position in range(start, len(refs)):
        obj = refs[position]
        with structlog.contextvars.bound_contextvars(bucket=obj.bucket, key=obj.key):
            try:
                status = _one_of_group(obj, batch_id, refs[position + 1 :], work)
                work.progress.advance(group_id, position + 1)
            except _HandedOn:
                statuses["failed"] = statuses.get("failed", 0) + 1
                statuses["handed_on"] = len(refs) - position - 1
                break
            except RetryableError as exc:  # the broker or the state store is down: keep the group, retry later
                _requeued(exc)
                raise
        statuses[status] = statuses.get(status, 0) + 1
    with contextlib.suppress(RetryableError):
        work.progress.clear(group_id)
    return statuses


def hand_on_unfinished(
    group_id: str,
    refs: Sequence[ObjectRef],
    batch_id: str | None,
    exc: BaseException,
    *,
    progress: GroupProgress,
    queue: TaskQueue,
) -> int:
    """A group that died whole (the hard time limit) hands the objects it had not finished on, each as a task of
    its own with the single task's full retry policy; returns how many. The ones that ended are not run again.

    Raises what the broker raised when it could not take one, after logging exactly which objects need a
    ``media-ingest submit`` by hand."""
    try:
        done = progress.done(group_id)
    except RetryableError:
        done = 0  # the state store is down: hand everything on, the guards keep reruns harmless
    rest = list(refs[done:])
    log.warning("group.failed", error_class=type(exc).__name__, reason=str(exc)[:500], handed_on=len(rest))
    for position, ref in enumerate(rest):
        try:
            queue.one(ref, batch_id)
        except Exception:
            log.critical("group.hand_on_failed", objects=[r.uri for r in rest[position:]], batch_id=batch_id)
            raise
    GROUP_HANDOFFS.labels("group_failed").inc(len(rest))
    with contextlib.suppress(RetryableError):
        progress.clear(group_id)
    return len(rest)


def _requeued(exc: Exception) -> None:
    log.warning("group.requeued", error_class=type(exc).__name__, reason=str(exc)[:500])


def _one_of_group(obj: ObjectRef, batch_id: str | None, rest: Sequence[ObjectRef], work: GroupWork) -> str:
    """One object of a group, ended as a single task would end it. Raises :class:`_HandedOn` after the soft time
    limit, and a :class:`RetryableError` when a hand-on could not be published."""
    try:
        return work.label(obj)
    except RetryableError as exc:
        log.info("object.retry_alone", error_class=type(exc).__name__, reason=str(exc)[:500])
        # The single task's first backoff (full jitter over one second); this try counts as its first.
        _publish(lambda: work.queue.one(obj, batch_id, countdown=random.uniform(0, 1), retries=1))
        GROUP_HANDOFFS.labels("transient").inc()
        return "retrying"
    except Exception as exc:  # one object's fault or bug must not cost the group's other objects
        if not isinstance(exc, PermanentError):
            log.exception("object.error")
        time_up = work.time_up(exc)
        work.record_failure(obj, time_up or exc)
        if time_up is not None:
            if rest:
                _publish(lambda: work.queue.group(rest, batch_id))
                GROUP_HANDOFFS.labels("soft_limit").inc(len(rest))
            raise _HandedOn() from exc
        return "failed"


def _publish(send: Callable[[], None]) -> None:
    """Publish a hand-on; a broker that cannot take it is a transient fault of the whole group."""
    try:
        send()
    except RetryableError:
        raise
    except Exception as exc:
        raise StateUnavailable(f"could not hand an object on to a new task: {exc}") from exc
