"""One notification -> tasks: parse it, record what cannot be parsed or may not be touched, drop our own echoes,
enqueue the rest. Never raises for a bad notification (one bad message must not hold back the others); raises only
when enqueueing or recording fails, so that the round it belongs to is not acknowledged."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import structlog

from pipeline.errors import BadEvent, PipelineError, StateUnavailable
from pipeline.events import BucketAllowList, BucketNotAllowed, ParsedEvents, body_digest, parse_notification
from pipeline.model import ObjectRef
from pipeline.ports import Enqueue, FailureEntry, FailureSink, LabelSink, ObjectStore
from pipeline.process import is_own_echo
from workers.metrics import INTAKE_ECHOES

log = structlog.get_logger("media_ingest.intake")

Flush = Callable[[], None]
"""Publishes what an :data:`Enqueue` buffered (grouped small objects); called before a round is acknowledged."""
IsEcho = Callable[[ObjectRef], bool]
"""True for the copy event of this pipeline's own write-back (see :func:`pipeline.process.echo_key`)."""
Parse = Callable[[str | bytes], ParsedEvents]

ANY_BUCKET = BucketAllowList()
"""``MEDIA_INGEST_BUCKETS`` unset: every bucket an event names is enqueued."""


def no_flush() -> None:
    """The :data:`Flush` of an enqueue that buffers nothing."""


class Dispatched(NamedTuple):
    """What one notification became: tasks enqueued, copy events of our own write-backs dropped, whether it was a
    bad (unparseable) notification, objects of buckets not allowed (recorded skips), and events that named no work
    (test events, deletions)."""

    enqueued: int = 0
    echoes: int = 0
    bad: int = 0
    not_allowed: int = 0
    skipped: int = 0


def echo_filter(sink: LabelSink, policy_version: str, store: ObjectStore) -> IsEcho:
    """An :data:`IsEcho` over the exactly-once guards of ``sink`` and the objects' metadata in ``store``
    (:func:`pipeline.process.is_own_echo`): nothing for uploads, one HEAD for a copy event whose guard is set.

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
    parse: Parse = parse_notification,
) -> Dispatched:
    """Enqueue one task per object the notification names; record an unparseable notification as a failure.

    Every way a notification can fail to parse ends here as a recorded ``BadEvent`` (the caller acknowledges it
    with its round), never as an exception; so does a bug of ``parse`` itself. Objects of buckets that ``allowed``
    does not list are recorded as skips (``BucketNotAllowed``) and not enqueued. With ``is_echo``, the copy events
    of our own write-backs are dropped here (logged and counted), not enqueued.

    Raises only when enqueueing or recording fails (the caller must not acknowledge).
    """
    try:
        parsed = parse(body)
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
    refusal = allowed.refusal(ref.bucket)
    failures.record(
        FailureEntry.of(
            ref, batch_id=batch_id, error_class=BucketNotAllowed.__name__, message=refusal, disposition="skipped"
        )
    )
    log.warning("intake.bucket_not_allowed", origin=origin, bucket=ref.bucket, key=ref.key)


def warn_if_any_bucket(allowed: BucketAllowList, **where: object) -> None:
    """At an intake's start: without MEDIA_INGEST_BUCKETS, any bucket an event names is read and written back."""
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
