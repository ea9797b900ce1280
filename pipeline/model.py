"""Plain frozen dataclasses passed between stages. No I/O library is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Label = Literal["ai_generated", "ai_edited", "captured", "no_ai_declared", "unknown"]
Provenance = Literal["trusted", "valid", "invalid", "absent", "unreadable"]

OUTCOMES = ("labelled", "already_labelled", "duplicate", "replaced", "skipped", "failed")
"""Batch counters a processed object adds to (besides ``queued``, which the intake counts)."""
LABELS: tuple[Label, ...] = ("ai_generated", "ai_edited", "captured", "no_ai_declared", "unknown")
PROVENANCES: tuple[Provenance, ...] = ("trusted", "valid", "invalid", "absent", "unreadable")


def s3_uri(bucket: str, key: str = "") -> str:
    """``s3://bucket/key`` (or ``s3://bucket/prefix``): how every message and plan names an object or a prefix."""
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str, *, object_key: bool = False) -> tuple[str, str]:
    """The one parser of ``s3://`` URIs: ``s3://bucket[/prefix]`` -> (bucket, prefix); with ``object_key`` the URI
    must name one object (``s3://bucket/key``, the key not ending in ``/``). Raises ValueError naming the form."""
    bucket, _, rest = uri[len("s3://") :].partition("/") if uri.startswith("s3://") else ("", "", "")
    if not bucket or (object_key and (not rest or rest.endswith("/"))):
        raise ValueError(f"{uri!r} is not {'s3://bucket/key' if object_key else 's3://bucket[/prefix]'}")
    return bucket, rest


class NamesAVersion(Protocol):
    """Anything that names one object version: an event's :class:`ObjectRef`, a :class:`StoredObject`, a failure
    entry."""

    @property
    def bucket(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def version_id(self) -> str | None: ...

    @property
    def etag(self) -> str | None: ...


@dataclass(frozen=True)
class ObjectVersion:
    """The identity of one object version, built here and nowhere else: the failure store, the delivery counter and
    the exactly-once guard all key on it, so they must agree on it to the byte (their Redis keys hash it)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @classmethod
    def of(cls, named: NamesAVersion) -> ObjectVersion:
        return cls(named.bucket, named.key, named.version_id, named.etag)

    def identity(self) -> str:
        """``bucket \\0 key \\0 version-or-"null" \\0 etag-or-""``: one failure entry, one delivery count per version
        (policy-independent: a crash counter must not restart because the policy changed)."""
        return f"{self.bucket}\0{self.key}\0{self.version_id or 'null'}\0{self.etag or ''}"

    def dedupe_key(self, policy_version: str) -> str:
        """The identity under one policy version: one published record each, so that relabelling under a new policy
        publishes a new record."""
        return f"{self.identity()}\0{policy_version}"


@dataclass(frozen=True)
class ObjectRef:
    """One object version named by an upload event. Messages carry this, never the bytes."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    event_name: str | None = None
    event_time: str | None = None
    sequencer: str | None = None

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)

    @classmethod
    def from_uri(cls, uri: str) -> ObjectRef:
        """``s3://bucket/key`` -> ObjectRef; raises ValueError naming the expected form."""
        return cls(*parse_s3_uri(uri, object_key=True))

    def to_message(self) -> dict[str, Any]:
        """JSON-safe form for a task message."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> ObjectRef:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class StoredObject:
    """What the store says about an object version when we fetch it."""

    bucket: str
    key: str
    etag: str
    size: int
    version_id: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    """User metadata (``x-amz-meta-*``) with the prefix removed, keys lower-case."""
    headers: dict[str, str] = field(default_factory=dict)
    """System metadata a metadata copy must re-send: CacheControl, ContentDisposition, ContentEncoding, ..."""
    storage_class: str | None = None
    sse: dict[str, Any] = field(default_factory=dict)
    """Server-side encryption settings to keep (ServerSideEncryption, SSEKMSKeyId, BucketKeyEnabled)."""
