"""Intake bridges: turn storage event notifications into one Celery task per object version.

Each bridge acknowledges a notification at its source (SQS delete, Redis LREM) only after the broker has taken
every task it names, so a bridge killed mid-way loses nothing: the notification is delivered again and duplicate
tasks are made harmless by the exactly-once guard.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import structlog

from pipeline.errors import BadEvent
from pipeline.events import parse_notification
from pipeline.interfaces import FailureEntry, FailureSink
from pipeline.model import ObjectRef

log = structlog.get_logger("media_ingest.intake")

Enqueue = Callable[[ObjectRef, str], None]


def new_batch_id(source: str) -> str:
    """Sortable, unique: ``sqs-20261125T101500-3f9a1c``."""
    return f"{source}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def dispatch(body: str | bytes, *, batch_id: str, enqueue: Enqueue, failures: FailureSink, origin: str) -> int:
    """Enqueue one task per object the notification names; record an unparseable notification as a failure.

    Returns how many tasks were enqueued. Raises only when enqueueing fails (the caller must not acknowledge).
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
        return 0
    for reason in parsed.skipped:
        log.info("intake.skipped", origin=origin, reason=reason)
    for ref in parsed.refs:
        enqueue(ref, batch_id)
    return len(parsed.refs)


def bytes_preview(body: str | bytes, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return repr(text[:limit])
