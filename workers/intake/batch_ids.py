"""Batch ids: a new one per submit, replay or backfill; one per time window for the rounds of an intake."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass


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
