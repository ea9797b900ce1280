"""Upload event notifications -> object references. Pure: no I/O.

Understands the shapes an object store actually delivers:

* AWS S3 notifications (``{"Records": [...]}``), as SQS bodies, optionally wrapped in an SNS envelope;
* the ``s3:TestEvent`` S3 sends when a notification is configured (skipped);
* EventBridge ``Object Created`` events;
* MinIO's Redis target in ``access`` format (``[{"Event": [...], "EventTime": ...}]``) and its webhook body.

Keys arrive URL-encoded (``+`` for space; MinIO also encodes ``/``) and are decoded with ``unquote_plus``.
Only ``ObjectCreated`` events name work; the rest are reported as skipped with a reason, never dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pipeline.errors import BadEvent
from pipeline.model import ObjectRef


@dataclass(frozen=True)
class ParsedEvents:
    refs: tuple[ObjectRef, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    """One human-readable reason per notification that named no work (test events, deletions)."""


def parse_notification(body: str | bytes | dict[str, Any] | list[Any]) -> ParsedEvents:
    """Parse one notification message into the object versions it names.

    Raises :class:`BadEvent` when the message is not JSON or has none of the known shapes, so the caller can
    record it instead of guessing.
    """
    doc: Any = body
    if isinstance(body, str | bytes):
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise BadEvent(f"notification is not JSON: {exc}") from None
    refs: list[ObjectRef] = []
    skipped: list[str] = []
    _collect(doc, refs, skipped, depth=0)
    return ParsedEvents(tuple(refs), tuple(skipped))


def _collect(doc: Any, refs: list[ObjectRef], skipped: list[str], depth: int) -> None:
    if depth > 3:
        raise BadEvent("notification nests envelopes more than three deep")
    if isinstance(doc, list):  # MinIO redis "access" format: [{"Event": [...], "EventTime": "..."}]
        for item in doc:
            _collect(item, refs, skipped, depth + 1)
        return
    if not isinstance(doc, dict):
        raise BadEvent(f"notification is a JSON {type(doc).__name__}, expected an object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):  # SNS envelope
        try:
            inner = json.loads(doc["Message"])
        except ValueError as exc:
            raise BadEvent(f"SNS message is not JSON: {exc}") from None
        _collect(inner, refs, skipped, depth + 1)
        return
    if doc.get("Event") == "s3:TestEvent":
        skipped.append(f"s3:TestEvent for bucket {doc.get('Bucket')!r}")
        return
    if isinstance(doc.get("Records"), list):
        for record in doc["Records"]:
            _record(record, refs, skipped)
        return
    if isinstance(doc.get("Event"), list):  # MinIO access-format item
        for record in doc["Event"]:
            _record(record, refs, skipped)
        return
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):
        _eventbridge(doc, refs, skipped)
        return
    raise BadEvent("not an S3/MinIO event notification: no Records, Event or EventBridge detail")


def _record(record: Any, refs: list[ObjectRef], skipped: list[str]) -> None:
    if not isinstance(record, dict):
        raise BadEvent("event record is not an object")
    name = str(record.get("eventName", ""))
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise BadEvent(f"event record {name!r} has no s3 section")
    bucket = _section(s3, "bucket", name).get("name")
    obj = _section(s3, "object", name)
    raw_key = obj.get("key")
    if not bucket or raw_key is None:
        raise BadEvent(f"event record {name!r} lacks bucket name or object key")
    key = unquote_plus(str(raw_key))
    if not _is_created(name):
        skipped.append(f"{name or 'unnamed event'} for s3://{bucket}/{key}")
        return
    refs.append(
        ObjectRef(
            bucket=str(bucket),
            key=key,
            version_id=_clean_version(obj.get("versionId")),
            etag=_clean_etag(obj.get("eTag") or obj.get("etag")),
            size=_int_or_none(obj.get("size")),
            event_name=name.removeprefix("s3:"),
            event_time=record.get("eventTime"),
            sequencer=obj.get("sequencer"),
        )
    )


def _eventbridge(doc: dict[str, Any], refs: list[ObjectRef], skipped: list[str]) -> None:
    detail = doc["detail"]
    bucket = _section(detail, "bucket", "EventBridge event").get("name")
    obj = _section(detail, "object", "EventBridge event")
    if not bucket or obj.get("key") is None:
        raise BadEvent("EventBridge S3 event lacks bucket name or object key")
    key = unquote_plus(str(obj["key"]))
    if doc.get("detail-type") != "Object Created":
        skipped.append(f"{doc.get('detail-type')} for s3://{bucket}/{key}")
        return
    refs.append(
        ObjectRef(
            bucket=str(bucket),
            key=key,
            version_id=_clean_version(obj.get("version-id")),
            etag=_clean_etag(obj.get("etag")),
            size=_int_or_none(obj.get("size")),
            event_name="ObjectCreated:" + str(detail.get("reason", "")),
            event_time=doc.get("time"),
            sequencer=obj.get("sequencer"),
        )
    )


def _section(parent: dict[str, Any], field: str, what: str) -> dict[str, Any]:
    value = parent.get(field) or {}
    if not isinstance(value, dict):
        raise BadEvent(f"{what or 'event record'}: {field} is a JSON {type(value).__name__}, expected an object")
    return value


def _is_created(name: str) -> bool:
    return name.removeprefix("s3:").startswith("ObjectCreated:")


def _clean_etag(value: Any) -> str | None:
    return str(value).strip('"') or None if value else None


def _clean_version(value: Any) -> str | None:
    return None if value in (None, "", "null") else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
