"""Intake bridges: turn storage event notifications into Celery tasks (one per object version, or one per group
of small ones, :mod:`pipeline.grouping`).

Each bridge acknowledges a notification at its source (SQS delete, Redis LREM) only after the broker has taken
every task it names, so a bridge killed mid-way loses nothing: the notification is delivered again and duplicate
tasks are made harmless by the exactly-once guard.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
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


def bytes_preview(body: str | bytes, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return repr(text[:limit])
