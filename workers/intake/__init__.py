"""Intake bridges: turn storage event notifications into Celery tasks (one per object version, or one per group
of small ones, :mod:`pipeline.grouping`).

Each bridge acknowledges a notification at its source (SQS delete, Redis LREM) only after the broker has taken
every task it names, so a bridge killed mid-way loses nothing: the notification is delivered again and duplicate
tasks are made harmless by the exactly-once guard.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from pipeline.errors import BadEvent
from pipeline.events import parse_notification
from pipeline.interfaces import FailureEntry, FailureSink, LabelSink
from pipeline.model import ObjectRef
from pipeline.process import echo_key
from workers.metrics import INTAKE_ECHOES

log = structlog.get_logger("media_ingest.intake")

Enqueue = Callable[[ObjectRef, str], None]
Flush = Callable[[], None]
"""Publishes what an :data:`Enqueue` buffered (grouped small objects); called before a round is acknowledged."""
Discard = Callable[[], None]
"""Forgets what an :data:`Enqueue` buffered, when a round failed and its source will deliver it again."""
IsEcho = Callable[[ObjectRef], bool]
"""True for the copy event of this pipeline's own write-back (see :func:`pipeline.process.echo_key`)."""


class Dispatched(NamedTuple):
    """What one notification became: tasks enqueued, and copy events of our own write-backs dropped."""

    enqueued: int = 0
    echoes: int = 0


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


def echo_filter(sink: LabelSink, policy_version: str) -> IsEcho:
    """An :data:`IsEcho` over the exactly-once guards of ``sink`` (one EXISTS per copy event, none for uploads)."""

    def is_echo(ref: ObjectRef) -> bool:
        key = echo_key(ref, policy_version)
        return key is not None and sink.is_published(key)

    return is_echo


def dispatch(
    body: str | bytes,
    *,
    batch_id: str,
    enqueue: Enqueue,
    failures: FailureSink,
    origin: str,
    is_echo: IsEcho | None = None,
) -> Dispatched:
    """Enqueue one task per object the notification names; record an unparseable notification as a failure.

    With ``is_echo``, the copy events of our own write-backs are dropped here (logged and counted), not enqueued.

    Raises only when enqueueing fails (the caller must not acknowledge).
    """
    try:
        parsed = parse_notification(body)
    except BadEvent as exc:
        failures.record(
            FailureEntry(
                bucket="-",
                key=origin,
                version_id=None,
                etag=None,
                batch_id=batch_id,
                task_id=None,
                error_class="BadEvent",
                message=f"{exc}; body starts {bytes_preview(body)}",
                attempts=1,
            )
        )
        log.warning("intake.bad_event", origin=origin, reason=str(exc))
        return Dispatched()
    for reason in parsed.skipped:
        log.info("intake.skipped", origin=origin, reason=reason)
    enqueued = echoes = 0
    for ref in parsed.refs:
        if is_echo is not None and is_echo(ref):
            echoes += 1
            INTAKE_ECHOES.inc()
            log.debug("intake.echo_dropped", origin=origin, bucket=ref.bucket, key=ref.key, etag=ref.etag)
            continue
        enqueue(ref, batch_id)
        enqueued += 1
    return Dispatched(enqueued, echoes)


class Round:
    """One intake round: its batch id, and what the events it dispatched so far became (the round's log line)."""

    def __init__(self, source: str, *, enqueue: Enqueue, failures: FailureSink, is_echo: IsEcho | None) -> None:
        self.batch_id = new_batch_id(source)
        self.started = time.monotonic()
        self.events = self.enqueued = self.echoes = 0
        self._enqueue, self._failures, self._is_echo = enqueue, failures, is_echo

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
        )
        self.enqueued += result.enqueued
        self.echoes += result.echoes

    def summary(self, events_as: str = "events") -> dict[str, object]:
        """The fields of the round's ``intake.batch`` log line (SQS has always called its events ``messages``)."""
        return {
            "batch_id": self.batch_id,
            events_as: self.events,
            "tasks": self.enqueued,
            "echoes": self.echoes,
            "round_ms": round((time.monotonic() - self.started) * 1000, 1),
        }


def bytes_preview(body: str | bytes, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return repr(text[:limit])
