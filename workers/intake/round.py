"""One intake round's tally: its batch (the window's), what its events became, its log line and metrics."""

from __future__ import annotations

import time

from workers.intake.batch_ids import HOURLY, BatchWindow
from workers.intake.dispatch import Dispatched
from workers.metrics import INTAKE_BAD_EVENTS, INTAKE_ROUND_EVENTS, INTAKE_ROUNDS, INTAKE_SKIPPED


class Round:
    """The batch id and fields of a round of ``source`` (:class:`BatchWindow`), and the sum of what each event it
    dispatched became."""

    def __init__(self, source: str, *, window: BatchWindow = HOURLY, now: float | None = None) -> None:
        wall = time.time() if now is None else now
        self.source = source
        self.batch_id = window.batch_id(source, wall)
        self.batch_fields = window.fields(source, wall)
        self.started = time.monotonic()
        self.events = self.enqueued = self.echoes = self.bad = self.not_allowed = self.skipped = 0

    def add(self, result: Dispatched) -> None:
        """Count one dispatched event."""
        self.events += 1
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
