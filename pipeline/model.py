"""Plain frozen dataclasses passed between stages. No I/O library is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Label = Literal["ai_generated", "ai_edited", "captured", "no_ai_declared", "unknown"]
Provenance = Literal["trusted", "valid", "invalid", "absent", "unreadable"]

OUTCOMES = ("labelled", "already_labelled", "duplicate", "replaced", "skipped", "failed")
"""Batch counters a processed object adds to (besides ``queued``, which the intake counts)."""
LABELS: tuple[Label, ...] = ("ai_generated", "ai_edited", "captured", "no_ai_declared", "unknown")
PROVENANCES: tuple[Provenance, ...] = ("trusted", "valid", "invalid", "absent", "unreadable")


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
        return f"s3://{self.bucket}/{self.key}"

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
