"""The intake loop: receive -> dispatch -> publish -> count -> acknowledge, the same for every source.

What differs between an SQS queue and MinIO's Redis list is behind :class:`~pipeline.ports.EventQueue`
(``pipeline/adapters/sqs.py``, ``pipeline/adapters/redis_list.py``). A round is all or nothing: its events are
acknowledged only after every task it names is on the broker and counted in its batch. If anything before that
fails, nothing is acknowledged, what the grouping enqueue buffered is dropped, and the whole round comes again
(SQS after the visibility timeout, the Redis list's processing list before the next round); what did reach the
broker runs twice, harmlessly (the exactly-once guard).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from pipeline.errors import SourceMisconfigured, StateUnavailable
from pipeline.events import BucketAllowList
from pipeline.model import ObjectRef
from pipeline.ports import BatchCounters, EventQueue, FailureSink, QueuedEvent
from workers.intake.batch_ids import HOURLY, BatchWindow
from workers.intake.dispatch import ANY_BUCKET, IsEcho, dispatch, warn_if_any_bucket
from workers.intake.linger import NO_LINGER, Linger
from workers.intake.round import Round
from workers.metrics import INTAKE_HEARTBEAT, INTAKE_TASKS

RETRY_SECONDS = 2.0
"""Wait after a failed round or poll before the next (the broker or the source may be restarting)."""
REDIS_RETRY_SECONDS = 1.0
"""Wait after Redis could not be reached."""


class RoundEnqueue(Protocol):
    """The enqueue of a round, :class:`pipeline.grouping.Grouper`: publishes large objects at once and buffers
    small ones into groups, which :meth:`flush` publishes before the round is acknowledged."""

    def __call__(self, ref: ObjectRef, batch_id: str) -> None: ...

    def buffered(self) -> bool:
        """Some small objects wait for their group to fill (the round could linger for more)."""
        ...

    def flush(self) -> None: ...

    def discard(self) -> None:
        """Forget what is buffered: the round failed and its source will deliver it again."""
        ...


class RoundFailed(Exception):
    """A round could not publish or count its tasks: nothing of it was acknowledged (logged as
    ``intake.enqueue_failed``; the cause is chained)."""


def never() -> bool:
    return False


@dataclass(frozen=True)
class IntakeConfig:
    """How an intake paces and names its rounds (from the settings: :func:`workers.composition.intake_config`)."""

    wait_seconds: float = 20.0
    """How long a round's first receive waits for an event (SQS long poll, BLMOVE timeout)."""
    linger: Linger = NO_LINGER
    allowed: BucketAllowList = ANY_BUCKET
    """``MEDIA_INGEST_BUCKETS``: objects of other buckets are recorded skips, never enqueued."""
    window: BatchWindow = HOURLY
    batch_ttl: int | None = None
    """How long a window's batch counters are kept after their last update (None: the counters' default)."""
    max_quiet: float = 60.0
    """Seconds without a successful poll after which ``/readyz`` says the intake is not ready."""


@dataclass(frozen=True)
class IntakeDependencies:
    """What an intake talks to (from :func:`workers.composition.build_intake`, or fakes in tests)."""

    queue: EventQueue
    enqueue: RoundEnqueue
    failures: FailureSink
    """Where bad notifications (``BadEvent``) and objects of buckets not allowed go."""
    batches: BatchCounters
    is_echo: IsEcho | None = None
    """Drops the copy events of our own write-backs (``MEDIA_INGEST_INTAKE_SKIP_ECHOES``); None: every event."""
    behind: Callable[[], bool] = field(default=never)
    """Tasks wait in the broker's queue (a round may then linger to fill its groups)."""


class IntakeLoop:
    """Rounds over one :class:`~pipeline.ports.EventQueue` until stopped (SIGTERM, SIGINT or :attr:`stopping`)."""

    def __init__(self, deps: IntakeDependencies, config: IntakeConfig | None = None) -> None:
        self.dependencies = deps
        self.config = config or IntakeConfig()
        self._queue = deps.queue
        self._log = structlog.get_logger(f"media_ingest.intake.{deps.queue.source}")
        self._stranded = False
        """Events may wait unacknowledged from a failed round (or a receive that failed part-way): recover them
        before the next round takes more."""
        self.stopping = threading.Event()
        self.last_poll = time.monotonic()
        """When the last poll round finished without error (readiness)."""

    def poll_once(self) -> int:
        """One receive -> enqueue -> count -> acknowledge round, lingering for more events while the workers are
        behind (:class:`~workers.intake.linger.Linger`). Returns the tasks enqueued; raises :class:`RoundFailed`
        when the round's tasks could not be published or counted (nothing acknowledged)."""
        queue, enqueue, linger = self._queue, self.dependencies.enqueue, self.config.linger
        if self._stranded:
            queue.recover()
            self._stranded = False
        try:
            first = queue.receive(self.config.wait_seconds, linger.max_events)
        except Exception:
            self._stranded = True
            raise
        if not first:
            return 0
        round_ = Round(queue.source, window=self.config.window)
        taken: list[QueuedEvent] = []
        leftovers = False

        def take(events: list[QueuedEvent]) -> int:
            taken.extend(events)
            for event in events:
                round_.add(
                    dispatch(
                        event.body,
                        batch_id=round_.batch_id,
                        enqueue=enqueue,
                        failures=self.dependencies.failures,
                        origin=event.origin,
                        is_echo=self.dependencies.is_echo,
                        allowed=self.config.allowed,
                    )
                )
            return len(events)

        def take_more() -> int | None:
            nonlocal leftovers
            try:
                more = queue.receive(0, linger.max_events - len(taken))
            except Exception as exc:  # noqa: BLE001 - only ends the linger: the round goes out with what it holds
                leftovers = True
                self._log.warning("intake.linger_receive_failed", reason=str(exc)[:500])
                return None
            return take(more)

        self._stranded = True  # until acknowledged
        try:
            linger.fill(
                take(first), take_more, self.stopping, buffered=enqueue.buffered, behind=self.dependencies.behind
            )
            enqueue.flush()  # grouped tasks of this round go out before any event is acknowledged
            if round_.enqueued:
                self.dependencies.batches.count(
                    round_.batch_id,
                    "queued",
                    round_.enqueued,
                    ttl=self.config.batch_ttl,
                    fields=round_.batch_fields,
                )
                INTAKE_TASKS.labels(queue.source).inc(round_.enqueued)
        except Exception as exc:
            enqueue.discard()  # nothing buffered survives into the next round
            self._log.exception("intake.enqueue_failed", **{queue.unit: round_.events}, retry_in_s=RETRY_SECONDS)
            raise RoundFailed(f"a round of {round_.events} {queue.unit} was not enqueued: {exc}") from exc
        queue.acknowledge(taken)
        self._stranded = leftovers
        round_.observe()
        self._log.info("intake.batch", **round_.summary(events_as=queue.unit))
        return round_.enqueued

    def problem(self) -> str | None:
        """Why the intake is not ready (no successful poll for too long), or None (``/readyz``)."""
        quiet = time.monotonic() - self.last_poll
        return f"no successful poll for {quiet:.0f}s" if quiet > self.config.max_quiet else None

    def run(self) -> int:
        """Poll until stopped; returns the exit status: 0 when stopped, 2 when the source is misconfigured
        (refused in one ``intake.refused`` line that names the fix, at start or when it turns up later)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stopping.set())
        where = self._queue.describe()
        try:
            if not self._start():
                self._log.info("intake.stopped")
                return 0
            warn_if_any_bucket(self.config.allowed, process="intake")
            self._log.info("intake.started", **where)
            while not self.stopping.is_set():
                self._poll_or_wait()
        except SourceMisconfigured as exc:
            self._log.error("intake.refused", reason=str(exc), **where)
            return 2
        self._log.info("intake.stopped")
        return 0

    def _start(self) -> bool:
        """Check the source and recover what an intake that died left half-done, retrying while Redis or the queue
        is away (an intake started before its Redis must wait, not crash); False if stopped meanwhile. A
        misconfigured source is refused at once (:class:`SourceMisconfigured` goes to the caller)."""
        while not self.stopping.is_set():
            try:
                self._queue.check()
                self._queue.recover()  # what an intake that died left half-done goes first
                return True
            except SourceMisconfigured:
                raise
            except StateUnavailable:
                self._log.warning("intake.redis_unavailable", retry_in_s=REDIS_RETRY_SECONDS)
                self.stopping.wait(REDIS_RETRY_SECONDS)
            except Exception:  # noqa: BLE001 - e.g. SQS unreachable at start (QueueUnavailable): wait and retry
                self._log.exception("intake.start_failed", retry_in_s=RETRY_SECONDS)
                self.stopping.wait(RETRY_SECONDS)
        return False

    def _poll_or_wait(self) -> None:
        try:
            self.poll_once()
            self.last_poll = time.monotonic()
            INTAKE_HEARTBEAT.labels(self._queue.source).set_to_current_time()
        except SourceMisconfigured:
            raise
        except RoundFailed:  # logged as intake.enqueue_failed
            self.stopping.wait(RETRY_SECONDS)
        except StateUnavailable:
            self._log.warning("intake.redis_unavailable", retry_in_s=REDIS_RETRY_SECONDS)
            self.stopping.wait(REDIS_RETRY_SECONDS)
        except Exception:  # noqa: BLE001 - any other fault (SQS unreachable: QueueUnavailable) only costs a retry
            self._log.exception("intake.poll_failed", retry_in_s=RETRY_SECONDS)
            self.stopping.wait(RETRY_SECONDS)
