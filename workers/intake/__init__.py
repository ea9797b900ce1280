"""Intake bridges: turn storage event notifications into Celery tasks (one per object version, or one per group
of small ones, :mod:`pipeline.grouping`).

Each bridge acknowledges a notification at its source (SQS delete, Redis LREM) only after the broker has taken
every task it names, so a bridge killed mid-way loses nothing: the notification is delivered again and duplicate
tasks are made harmless by the exactly-once guard.

A notification that does not parse is recorded in the failure store (``BadEvent``, with the reason) and
acknowledged with the rest of its round, so it never holds back the events behind it; an object of a bucket outside
``MEDIA_INGEST_BUCKETS`` is recorded as a skip and not enqueued. The rounds of one source share one batch per time
window (:class:`BatchWindow`), so the batch counters grow with time, not with the number of rounds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from pipeline.errors import BadEvent, PipelineError, StateUnavailable
from pipeline.events import BucketAllowList, BucketNotAllowed, body_digest, parse_notification
from pipeline.model import ObjectRef
from pipeline.ports import FailureEntry, FailureSink, LabelSink, ObjectStore
from pipeline.process import is_own_echo
from workers.metrics import (
    INTAKE_BAD_EVENTS,
    INTAKE_ECHOES,
    INTAKE_ROUND_EVENTS,
    INTAKE_ROUNDS,
    INTAKE_SKIPPED,
)

log = structlog.get_logger("media_ingest.intake")

Enqueue = Callable[[ObjectRef, str], None]
Flush = Callable[[], None]
"""Publishes what an :data:`Enqueue` buffered (grouped small objects); called before a round is acknowledged."""
Discard = Callable[[], None]
"""Forgets what an :data:`Enqueue` buffered, when a round failed and its source will deliver it again."""
IsEcho = Callable[[ObjectRef], bool]
"""True for the copy event of this pipeline's own write-back (see :func:`pipeline.process.echo_key`)."""
CountQueued = Callable[[str, int, Mapping[str, str]], None]
"""Adds a round's enqueued tasks to its batch: batch id, tasks, and the batch's descriptive fields
(:meth:`BatchWindow.fields`), which the counter stores with the count."""

ANY_BUCKET = BucketAllowList()
"""``MEDIA_INGEST_BUCKETS`` unset: every bucket an event names is enqueued."""


class Dispatched(NamedTuple):
    """What one notification became: tasks enqueued, copy events of our own write-backs dropped, whether it was a
    bad (unparseable) notification, objects of buckets not allowed (recorded skips), and events that named no work
    (test events, deletions)."""

    enqueued: int = 0
    echoes: int = 0
    bad: int = 0
    not_allowed: int = 0
    skipped: int = 0


def no_flush() -> None:
    """The :data:`Flush` (and :data:`Discard`) of an enqueue that buffers nothing."""


def never() -> bool:
    return False


@dataclass(frozen=True)
class Linger:
    """When an intake round goes on taking events after its first ones, to send fuller groups of small objects.

    A task costs the workers a few milliseconds before any work (pipeline.grouping), and under load a round often
    brings only a few events at a time. So a round lingers, up to ``seconds``, while the grouping enqueue still
    holds a partial group (``buffered``) and the workers are behind (``behind``: tasks wait in the broker's
    queue, checked once per round), so that waiting adds nothing an idle system would notice. Everything the
    round took is acknowledged together, after the flush, as before.
    """

    seconds: float = 0.0
    buffered: Callable[[], bool] = never
    behind: Callable[[], bool] = never
    max_events: int = 100
    """Events in one round at most (bounds its acknowledgement and the time its first events wait)."""
    pause: float = 0.01
    """Wait between takes that found nothing."""

    def fill(self, taken: int, take: Callable[[], int | None], stopping: threading.Event) -> int:
        """Call ``take`` (take and dispatch more events, return how many, or None when the source cannot give more
        now) while the round should linger; return the round's events in all."""
        if self.seconds <= 0 or not self.buffered() or not self.behind():
            return taken
        deadline = time.monotonic() + self.seconds
        while taken < self.max_events and self.buffered() and not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            got = take()
            if got is None:
                break
            taken += got
            if not got:
                stopping.wait(min(self.pause, remaining))
        return taken


NO_LINGER = Linger()
"""Every round sends what its first take brought."""


def new_batch_id(source: str) -> str:
    """Sortable, unique: ``sqs-20261125T101500-3f9a1c``."""
    return f"{source}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class BatchWindow:
    """The intake's batches: every round of one source within one window of ``seconds`` (aligned to the epoch,
    so to UTC hours and days for the windows that divide them) shares one batch, ``sqs-20261202T1400``.

    A batch per round would make the counters grow with the number of rounds (about one per second on a busy
    intake, one per event on a quiet one); a batch per window grows with time only. Every intake process of the
    source computes the same id, so several intakes on one queue share the window's batch too. Its ``queued``
    counter grows while the window is open; per-round counts are metrics (``media_ingest_intake_round_events``)
    and the ``intake.batch`` log line.
    """

    seconds: int = 3600

    def start(self, now: float) -> int:
        return int(now) - int(now) % self.seconds

    def batch_id(self, source: str, now: float) -> str:
        return f"{source}-{time.strftime('%Y%m%dT%H%M', time.gmtime(self.start(now)))}"

    def fields(self, source: str, now: float) -> dict[str, str]:
        """What the batch hash records about the window: the batch listing shows it ``open`` until ``window_end``."""
        start = self.start(now)
        return {"kind": "intake", "source": source, "window_start": str(start), "window_end": str(start + self.seconds)}


HOURLY = BatchWindow(3600)


def echo_filter(sink: LabelSink, policy_version: str, store: ObjectStore) -> IsEcho:
    """An :data:`IsEcho` over the exactly-once guards of ``sink`` and the objects' metadata in ``store``
    (:func:`pipeline.process.is_own_echo`): nothing for uploads, one GET for a copy event whose guard is set.

    A store fault (the intake may not read the object, S3 is throttling, the object is gone) only means the event
    goes to a worker, which decides and retries; a Redis fault fails the round like any other (it is received again).
    """

    def is_echo(ref: ObjectRef) -> bool:
        try:
            return is_own_echo(ref, sink, store, policy_version)
        except StateUnavailable:
            raise
        except PipelineError as exc:
            log.info(
                "intake.echo_check_failed",
                bucket=ref.bucket,
                key=ref.key,
                error_class=type(exc).__name__,
                reason=str(exc)[:300],
            )
            return False

    return is_echo


def dispatch(
    body: str | bytes,
    *,
    batch_id: str,
    enqueue: Enqueue,
    failures: FailureSink,
    origin: str,
    is_echo: IsEcho | None = None,
    allowed: BucketAllowList = ANY_BUCKET,
) -> Dispatched:
    """Enqueue one task per object the notification names; record an unparseable notification as a failure.

    Every way a notification can fail to parse ends here as a recorded ``BadEvent`` (the caller acknowledges it
    with its round), never as an exception: one bad message must not hold back the others. Objects of buckets that
    ``allowed`` does not list are recorded as skips (``BucketNotAllowed``) and not enqueued. With ``is_echo``, the
    copy events of our own write-backs are dropped here (logged and counted), not enqueued.

    Raises only when enqueueing or recording fails (the caller must not acknowledge).
    """
    try:
        parsed = parse_notification(body)
    except BadEvent as exc:
        _record_bad(body, str(exc), batch_id=batch_id, failures=failures, origin=origin)
        return Dispatched(bad=1)
    except Exception as exc:  # a parser bug must not stall the intake: record the message, go on
        log.exception("intake.parser_error", origin=origin)
        reason = f"the notification parser failed on it ({type(exc).__name__}: {str(exc)[:300]})"
        _record_bad(body, reason, batch_id=batch_id, failures=failures, origin=origin)
        return Dispatched(bad=1)
    for reason in parsed.skipped:
        log.info("intake.skipped", origin=origin, reason=reason)
    enqueued = echoes = not_allowed = 0
    for ref in parsed.refs:
        if not allowed.allows(ref.bucket):
            _record_not_allowed(ref, allowed, batch_id=batch_id, failures=failures, origin=origin)
            not_allowed += 1
            continue
        if is_echo is not None and is_echo(ref):
            echoes += 1
            INTAKE_ECHOES.inc()
            log.debug("intake.echo_dropped", origin=origin, bucket=ref.bucket, key=ref.key, etag=ref.etag)
            continue
        enqueue(ref, batch_id)
        enqueued += 1
    return Dispatched(enqueued, echoes, not_allowed=not_allowed, skipped=len(parsed.skipped))


def _record_bad(body: str | bytes, reason: str, *, batch_id: str, failures: FailureSink, origin: str) -> None:
    """A notification that names no object: bucket ``-``, key the origin, the body's digest as its ``etag`` (so
    different bad messages from one Redis list are different entries), and the reason with the body's start."""
    failures.record(
        FailureEntry(
            bucket="-",
            key=origin,
            version_id=None,
            etag=body_digest(body),
            batch_id=batch_id,
            task_id=None,
            error_class="BadEvent",
            message=f"{reason}; body starts {bytes_preview(body)}",
            attempts=1,
        )
    )
    log.warning("intake.bad_event", origin=origin, reason=reason[:500])


def _record_not_allowed(
    ref: ObjectRef, allowed: BucketAllowList, *, batch_id: str, failures: FailureSink, origin: str
) -> None:
    failures.record(
        FailureEntry(
            bucket=ref.bucket,
            key=ref.key,
            version_id=ref.version_id,
            etag=ref.etag,
            batch_id=batch_id,
            task_id=None,
            error_class=BucketNotAllowed.__name__,
            message=allowed.refusal(ref.bucket),
            attempts=1,
            disposition="skipped",
        )
    )
    log.warning("intake.bucket_not_allowed", origin=origin, bucket=ref.bucket, key=ref.key)


class Round:
    """One intake round: its batch (the window's, :class:`BatchWindow`), and what the events it dispatched so far
    became (the round's log line and metrics)."""

    def __init__(
        self,
        source: str,
        *,
        enqueue: Enqueue,
        failures: FailureSink,
        is_echo: IsEcho | None,
        allowed: BucketAllowList = ANY_BUCKET,
        window: BatchWindow = HOURLY,
        now: float | None = None,
    ) -> None:
        wall = time.time() if now is None else now
        self.source = source
        self.batch_id = window.batch_id(source, wall)
        self.batch_fields = window.fields(source, wall)
        self.started = time.monotonic()
        self.events = self.enqueued = self.echoes = self.bad = self.not_allowed = self.skipped = 0
        self._enqueue, self._failures, self._is_echo, self._allowed = enqueue, failures, is_echo, allowed

    def dispatch(self, body: str | bytes, origin: str) -> None:
        """:func:`dispatch` one event under this round's batch id, and count it."""
        self.events += 1
        result = dispatch(
            body,
            batch_id=self.batch_id,
            enqueue=self._enqueue,
            failures=self._failures,
            is_echo=self._is_echo,
            origin=origin,
            allowed=self._allowed,
        )
        self.enqueued += result.enqueued
        self.echoes += result.echoes
        self.bad += result.bad
        self.not_allowed += result.not_allowed
        self.skipped += result.skipped

    def observe(self) -> None:
        """Add the finished round to the intake metrics (a failed round is not observed: it is taken again)."""
        INTAKE_ROUNDS.labels(self.source).inc()
        INTAKE_ROUND_EVENTS.labels(self.source).observe(self.events)
        if self.bad:
            INTAKE_BAD_EVENTS.labels(self.source).inc(self.bad)
        if self.not_allowed:
            INTAKE_SKIPPED.labels(self.source, "bucket_not_allowed").inc(self.not_allowed)
        if self.skipped:
            INTAKE_SKIPPED.labels(self.source, "not_created").inc(self.skipped)

    def summary(self, events_as: str = "events") -> dict[str, object]:
        """The fields of the round's ``intake.batch`` log line (SQS has always called its events ``messages``)."""
        return {
            "batch_id": self.batch_id,
            events_as: self.events,
            "tasks": self.enqueued,
            "echoes": self.echoes,
            "bad_events": self.bad,
            "not_allowed": self.not_allowed,
            "round_ms": round((time.monotonic() - self.started) * 1000, 1),
        }


def warn_if_any_bucket(allowed: BucketAllowList, **where: object) -> None:
    """At an intake's or a worker's start: without MEDIA_INGEST_BUCKETS, any bucket an event names is touched."""
    if allowed.allows_any:
        log.warning(
            "buckets.any_allowed",
            reason="MEDIA_INGEST_BUCKETS is not set: objects of any bucket an event names are read and written back",
            fix="set MEDIA_INGEST_BUCKETS to the comma-separated buckets this pipeline labels",
            **where,
        )


def bytes_preview(body: str | bytes, limit: int = 120) -> str:
    """The start of a body for a failure message; only the start is decoded (a list item may be huge)."""
    text = body[: 4 * limit].decode("utf-8", "replace") if isinstance(body, bytes) else body
    return repr(text[:limit])
