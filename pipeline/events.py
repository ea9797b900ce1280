"""Upload event notifications -> object references. Pure: no I/O.

Understands the shapes an object store actually delivers:

* AWS S3 notifications (``{"Records": [...]}``), as SQS bodies, optionally wrapped in an SNS envelope;
* the ``s3:TestEvent`` S3 sends when a notification is configured (skipped);
* EventBridge ``Object Created`` events;
* MinIO's Redis target in ``access`` format (``[{"Event": [...], "EventTime": ...}]``) and its webhook body.

Keys arrive URL-encoded (``+`` for space; MinIO also encodes ``/``) and are decoded with ``unquote_plus``.
Only ``ObjectCreated`` events name work; the rest are reported as skipped with a reason, never dropped silently.

Everything else is a :class:`BadEvent` with a reason, and nothing else escapes: a notification comes from outside
(anyone who can send to the queue or push to the list), and one that crashed the parser would stall its intake.
So the body is bounded before it is parsed (:data:`MAX_BODY_BYTES`, :data:`MAX_NESTING`), and every field the
pipeline uses must have the JSON type the stores write (strings, a whole non-negative size).

:class:`BucketAllowList` is the ``MEDIA_INGEST_BUCKETS`` decision both the intake and the worker apply.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pipeline.errors import BadEvent, PermanentError
from pipeline.model import ObjectRef

MAX_BODY_BYTES = 1024 * 1024
"""Largest notification body parsed (UTF-8 bytes). SQS messages are at most 1 MiB; one S3 record is about 1 KB."""
MAX_NESTING = 32
"""Deepest nesting of JSON arrays and objects parsed. Real notifications nest about 6 deep (an SNS envelope's
message is a string, checked on its own); a body nested thousands deep would exhaust the parser's recursion."""
MAX_KEY_BYTES = 1024
"""S3's (and MinIO's) limit on an object key, in UTF-8 bytes."""
MAX_BUCKET_CHARS = 255
"""The longest bucket name S3 ever allowed (legacy us-east-1 names; new ones are at most 63)."""


@dataclass(frozen=True)
class ParsedEvents:
    refs: tuple[ObjectRef, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    """One human-readable reason per notification that named no work (test events, deletions)."""


def parse_notification(body: str | bytes | dict[str, Any] | list[Any]) -> ParsedEvents:
    """Parse one notification message into the object versions it names.

    Raises :class:`BadEvent`, with the reason, for anything that is not a well-formed notification of a known
    shape: too large, nested too deep, not UTF-8, not JSON, an unknown shape, or a field of the wrong type. It
    raises nothing else, so the caller can record the message and go on with the next one.
    """
    doc: Any = _loads(body, "notification") if isinstance(body, str | bytes) else body
    refs: list[ObjectRef] = []
    skipped: list[str] = []
    _collect(doc, refs, skipped, depth=0)
    return ParsedEvents(tuple(refs), tuple(skipped))


def body_digest(body: str | bytes) -> str:
    """A short digest of a message body: tells apart the failure entries of different bad messages from one origin."""
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


# The nesting scan, in C: drop escapes (so an escaped quote cannot end a string), keep only brackets and quotes, drop
# the strings (an unterminated one runs to the end; the parser reports it), and add up what is left.
_ESCAPES = re.compile(rb"\\[\s\S]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRINGS = re.compile(rb'"[^"]*(?:"|\Z)')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _loads(body: str | bytes, what: str) -> Any:
    """Bound, decode and parse one JSON text; every way it can fail is a :class:`BadEvent` naming ``what``."""
    if len(body) > MAX_BODY_BYTES:  # characters or bytes: either way more bytes than allowed
        unit = "bytes" if isinstance(body, bytes) else "characters"
        raise BadEvent(f"{what} is {len(body)} {unit}, more than the {MAX_BODY_BYTES} bytes a notification may have")
    if isinstance(body, bytes):
        data = body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadEvent(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        text = body
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadEvent(f"{what} is not valid Unicode text ({exc.reason} at character {exc.start})") from None
        if len(data) > MAX_BODY_BYTES:
            raise BadEvent(f"{what} is {len(data)} bytes, more than the {MAX_BODY_BYTES} bytes a notification may have")
    _check_nesting(data, what)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except BadEvent as exc:
        raise BadEvent(f"{what} {exc}") from None
    except RecursionError:  # cannot happen below MAX_NESTING; kept so that no parser error escapes
        raise BadEvent(f"{what} nests too deep to parse") from None
    except ValueError as exc:  # JSONDecodeError, and an integer of more digits than Python converts
        raise BadEvent(f"{what} is not JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise BadEvent(f"uses {name}, which is not JSON")


def _check_nesting(data: bytes, what: str) -> None:
    """Refuse a text whose arrays and objects nest deeper than :data:`MAX_NESTING`, before parsing it (linear)."""
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        return  # cannot nest deeper than it has openings
    brackets = _STRINGS.sub(b"", _ESCAPES.sub(b"", data).translate(None, _NOT_STRUCTURE))
    if brackets and max(itertools.accumulate(_STEP[c] for c in brackets)) > MAX_NESTING:
        raise BadEvent(f"{what} nests more than {MAX_NESTING} levels deep")


def _collect(doc: Any, refs: list[ObjectRef], skipped: list[str], depth: int) -> None:
    if depth > 3:
        raise BadEvent("notification nests envelopes more than three deep")
    if isinstance(doc, list):  # MinIO redis "access" format: [{"Event": [...], "EventTime": "..."}]
        for item in doc:
            _collect(item, refs, skipped, depth + 1)
        return
    if not isinstance(doc, dict):
        raise BadEvent(f"notification is a JSON {_kind(doc)}, expected an object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):  # SNS envelope
        _collect(_loads(doc["Message"], "SNS message"), refs, skipped, depth + 1)
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
    name = _string(record.get("eventName"), "event record: eventName") or ""
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise BadEvent(f"event record {name!r} has no s3 section")
    what = f"event record {name!r}"
    bucket, key, obj = _located(s3, what)
    if not _is_created(name):
        skipped.append(f"{name or 'unnamed event'} for s3://{bucket}/{key}")
        return
    etag = _string(obj.get("eTag") or obj.get("etag"), f"{what}: eTag")
    event_time = _string(record.get("eventTime"), f"{what}: eventTime")
    refs.append(_object_ref(bucket, key, obj, what, "versionId", etag, name.removeprefix("s3:"), event_time))


def _located(parent: dict[str, Any], what: str) -> tuple[str, str, dict[str, Any]]:
    """Bucket name, decoded key and the object section of an S3 record's ``s3`` or EventBridge's ``detail``."""
    bucket = _string(_section(parent, "bucket", what).get("name"), f"{what}: bucket name")
    obj = _section(parent, "object", what)
    raw_key = _string(obj.get("key"), f"{what}: object key")
    if not bucket or not raw_key:
        raise BadEvent(f"{what} lacks bucket name or object key")
    return _bucket(bucket, what), _key(raw_key, what), obj


def _object_ref(
    bucket: str,
    key: str,
    obj: dict[str, Any],
    what: str,
    version_field: str,
    etag: str | None,
    event_name: str,
    event_time: str | None,
) -> ObjectRef:
    """The ref an S3 record or an EventBridge event names; the two formats differ only in field names."""
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=_clean_version(_string(obj.get(version_field), f"{what}: {version_field}")),
        etag=_clean_etag(etag),
        size=_size(obj.get("size"), what),
        event_name=event_name,
        event_time=event_time,
        sequencer=_string(obj.get("sequencer"), f"{what}: sequencer"),
    )


def _eventbridge(doc: dict[str, Any], refs: list[ObjectRef], skipped: list[str]) -> None:
    what = "EventBridge S3 event"
    detail = doc["detail"]
    bucket, key, obj = _located(detail, what)
    detail_type = _string(doc.get("detail-type"), f"{what}: detail-type")
    if detail_type != "Object Created":
        skipped.append(f"{detail_type} for s3://{bucket}/{key}")
        return
    etag = _string(obj.get("etag"), f"{what}: etag")
    event_name = "ObjectCreated:" + (_string(detail.get("reason"), f"{what}: reason") or "")
    event_time = _string(doc.get("time"), f"{what}: time")
    refs.append(_object_ref(bucket, key, obj, what, "version-id", etag, event_name, event_time))


def _section(parent: dict[str, Any], field: str, what: str) -> dict[str, Any]:
    value = parent.get(field) or {}
    if not isinstance(value, dict):
        raise BadEvent(f"{what}: {field} is a JSON {_kind(value)}, expected an object")
    return value


def _kind(value: Any) -> str:
    """The JSON name of a decoded value's type, for reasons an operator reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _string(value: Any, what: str) -> str | None:
    """A field that must be a JSON string when present (the stores never write another type there)."""
    if value is None or isinstance(value, str):
        return value
    raise BadEvent(f"{what} is a JSON {_kind(value)}, expected a string")


def _bucket(name: str, what: str) -> str:
    if len(name) > MAX_BUCKET_CHARS:
        raise BadEvent(f"{what}: bucket name is {len(name)} characters, more than any bucket's {MAX_BUCKET_CHARS}")
    _utf8(name, f"{what}: bucket name")
    return name


def _key(raw: str, what: str) -> str:
    """Decode a URL-encoded key; it must be UTF-8 and within S3's key length (anything else names no object)."""
    try:
        key = unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadEvent(f"{what}: object key {raw[:100]!r} is not UTF-8 once URL-decoded") from None
    size = _utf8(key, f"{what}: object key")
    if size > MAX_KEY_BYTES:
        raise BadEvent(f"{what}: object key is {size} bytes, more than S3's {MAX_KEY_BYTES}")
    return key


def _utf8(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape: no object is named that
        raise BadEvent(f"{what} is not valid Unicode") from None


def _size(value: Any, what: str) -> int | None:
    """The event's object size: a whole non-negative number. A string that is not one (``"unknown"``) means the
    size is not known (the worker reads it from the store); any other type, or a value such as ``1e999``, is bad."""
    if value is None:
        return None
    if isinstance(value, str):
        return int(value) if value.isdigit() and len(value) <= 20 else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadEvent(f"{what}: size is a JSON {_kind(value)}, expected a number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise BadEvent(f"{what}: size {value!r} is not a whole number of bytes")
    if value < 0:
        raise BadEvent(f"{what}: size {value!r} is negative")
    return int(value)


def _is_created(name: str) -> bool:
    return name.removeprefix("s3:").startswith("ObjectCreated:")


def _clean_etag(value: str | None) -> str | None:
    return value.strip('"') or None if value else None


def _clean_version(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value


class BucketNotAllowed(PermanentError):
    """An event or task named a bucket outside ``MEDIA_INGEST_BUCKETS``: recorded as a skip, never fetched."""


@dataclass(frozen=True)
class BucketAllowList:
    """The buckets the pipeline may read and write back to (``MEDIA_INGEST_BUCKETS``); ``None``: any bucket.

    Without it, any bucket an event names is read and CopyObject'd with the worker's credentials, so whoever can
    send to the queue chooses what the workers touch. The intake checks it before enqueueing and the worker before
    fetching (tasks also come from ``submit``, ``replay`` and ``backfill``).
    """

    buckets: frozenset[str] | None = None

    @classmethod
    def parse(cls, value: str | None) -> BucketAllowList:
        """From the comma-separated setting; raises ValueError naming what is wrong with it."""
        if value is None or not value.strip():
            return cls(None)
        names = [name.strip() for name in value.split(",")]
        if any(not name for name in names):
            raise ValueError("an empty bucket name between commas; list names as a,b,c (or unset it for any)")
        for name in names:
            if len(name) > MAX_BUCKET_CHARS or any(c.isspace() or c == "/" for c in name):
                raise ValueError(f"{name[:80]!r} is not a bucket name (no spaces or '/', at most 255 characters)")
        return cls(frozenset(names))

    @property
    def allows_any(self) -> bool:
        return self.buckets is None

    def allows(self, bucket: str) -> bool:
        return self.buckets is None or bucket in self.buckets

    def refusal(self, bucket: str) -> str:
        """The reason recorded for an object of a bucket that is not allowed."""
        listed = ", ".join(sorted(self.buckets or ()))
        return (
            f"bucket {bucket!r} is not in MEDIA_INGEST_BUCKETS ({listed}): not read; add it there to label its objects"
        )
