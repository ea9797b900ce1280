"""Intake bridges: turn storage event notifications into Celery tasks (one per object version, or one per group
of small ones, :mod:`pipeline.grouping`).

One loop (:mod:`~workers.intake.loop`) for every source; what is specific to an SQS queue or to MinIO's Redis list
is its :class:`~pipeline.ports.EventQueue` adapter (``pipeline/adapters/sqs.py``, ``redis_list.py``), and
:func:`workers.composition.build_intake` wires one from the settings. A notification is acknowledged at its source
(SQS delete, Redis LREM) only after the broker has taken every task it names and the batch has counted them, so an
intake killed mid-way loses nothing: the notification is delivered again and duplicate tasks are made harmless by
the exactly-once guard.

A notification that does not parse is recorded in the failure store (``BadEvent``, with the reason) and
acknowledged with the rest of its round, so it never holds back the events behind it; an object of a bucket outside
``MEDIA_INGEST_BUCKETS`` is recorded as a skip and not enqueued (:mod:`~workers.intake.dispatch`). The rounds of one
source share one batch per time window (:mod:`~workers.intake.batch_ids`), so the batch counters grow with time,
not with the number of rounds.
"""

from __future__ import annotations

from workers.intake.batch_ids import BatchWindow, new_batch_id
from workers.intake.dispatch import Dispatched, Flush, dispatch, echo_filter, no_flush
from workers.intake.linger import Linger
from workers.intake.loop import IntakeConfig, IntakeDependencies, IntakeLoop, RoundFailed

__all__ = [
    "BatchWindow",
    "Dispatched",
    "Flush",
    "IntakeConfig",
    "IntakeDependencies",
    "IntakeLoop",
    "Linger",
    "RoundFailed",
    "dispatch",
    "echo_filter",
    "new_batch_id",
    "no_flush",
]
