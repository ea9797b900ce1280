"""In-memory implementations of the interfaces, for unit tests and the contract tests that also run against the
real services. They keep the same semantics (conditional copy, exactly-once publish), not just the signatures."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from pipeline.errors import ObjectChanged, ObjectNotFound
from pipeline.model import ObjectRef, StoredObject
from pipeline.ports import MAX_GUARD_METADATA_BYTES, FailureEntry, Guard
from pipeline.record import METADATA_PREFIX


@dataclass
class _Version:
    data: bytes
    obj: StoredObject


@dataclass
class InMemoryObjectStore:
    versioned: bool = False
    objects: dict[tuple[str, str], list[_Version]] = field(default_factory=dict)
    copies: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> StoredObject:
        """Store a new object (version); ``etag`` stands in for one S3 would not compute as the MD5 (multipart)."""
        obj = StoredObject(
            bucket=bucket,
            key=key,
            etag=etag or hashlib.md5(data).hexdigest(),
            size=len(data),
            version_id=f"v{next(self._ids)}" if self.versioned else None,
            content_type=content_type,
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
        )
        versions = self.objects.setdefault((bucket, key), [])
        if not self.versioned:
            versions.clear()
        versions.append(_Version(data, obj))
        return obj

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def head(self, bucket: str, key: str) -> StoredObject:
        return self._current(ObjectRef(bucket, key)).obj

    def _current(self, ref: ObjectRef) -> _Version:
        versions = self.objects.get((ref.bucket, ref.key))
        if not versions:
            raise ObjectNotFound(f"GET {ref.uri}: NoSuchKey")
        if ref.version_id:
            for version in versions:
                if version.obj.version_id == ref.version_id:
                    return version
            raise ObjectNotFound(f"GET {ref.uri}: NoSuchVersion")
        return versions[-1]

    def fetch(
        self, ref: ObjectRef, dest: IO[bytes], *, accept: Callable[[StoredObject], bool]
    ) -> tuple[StoredObject, bool]:
        version = self._current(ref)
        if ref.etag and ref.etag != version.obj.etag:
            raise ObjectChanged(f"GET {ref.uri}: PreconditionFailed")
        if not accept(version.obj):
            return version.obj, False
        dest.write(version.data)
        return version.obj, True

    def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
        current = self._current(ObjectRef(obj.bucket, obj.key))  # the current version, as S3 copies it
        if current.obj.etag != obj.etag:
            raise ObjectChanged(f"COPY s3://{obj.bucket}/{obj.key}: PreconditionFailed")
        self.copies += 1
        new = self.put(obj.bucket, obj.key, current.data, content_type=obj.content_type or "", metadata=metadata)
        return new.etag, new.version_id

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectRef]:
        for (b, k), versions in sorted(self.objects.items()):
            if b == bucket and k.startswith(prefix) and versions:
                obj = versions[-1].obj
                yield ObjectRef(b, k, etag=obj.etag, size=obj.size)


@dataclass
class InMemoryLabelSink:
    records: list[dict[str, Any]] = field(default_factory=list)
    _done: dict[str, Guard] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, record: Mapping[str, Any], dedupe_key: str, written: Mapping[str, str] | None = None) -> bool:
        guard = _guard(written)
        with self._lock:
            if dedupe_key in self._done:
                return False
            self._done[dedupe_key] = guard
            self.records.append(dict(record))
            return True

    def is_published(self, dedupe_key: str) -> bool:
        return dedupe_key in self._done

    def guard(self, dedupe_key: str) -> Guard | None:
        return self._done.get(dedupe_key)

    def mark_published(self, dedupe_key: str, written: Mapping[str, str] | None = None) -> None:
        guard = _guard(written)
        with self._lock:
            self._done[dedupe_key] = guard


def _guard(written: Mapping[str, str] | None) -> Guard:
    """A guard holding a copy of ``written``, refused above the size the Redis sink keeps (same contract)."""
    if written is None:
        return Guard(None)
    if not all(k.startswith(METADATA_PREFIX) for k in written):
        raise ValueError(f"guard metadata must be {METADATA_PREFIX}* keys only: {sorted(written)}")
    short = {k.removeprefix(METADATA_PREFIX): v for k, v in written.items()}
    if len(json.dumps(short, separators=(",", ":"))) > MAX_GUARD_METADATA_BYTES:
        raise ValueError(f"guard metadata above {MAX_GUARD_METADATA_BYTES} bytes: {short!r:.200}")
    return Guard(dict(written))


@dataclass
class InMemoryFailureSink:
    _entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, entry: FailureEntry) -> None:
        identity = "\0".join((entry.bucket, entry.key, entry.version_id or "null", entry.etag or ""))
        previous = self._entries.pop(identity, None)
        now = time.time()
        first = previous["first_at"] if previous else now
        self._entries[identity] = {**entry.__dict__, "id": identity, "first_at": first, "last_at": now}

    def entries(self) -> list[dict[str, Any]]:
        return list(reversed(self._entries.values()))

    def remove(self, ids: list[str]) -> int:
        return sum(self._entries.pop(i, None) is not None for i in ids)


@dataclass
class InMemoryDeliveryCounter:
    counts: dict[str, int] = field(default_factory=dict)

    def started(self, dedupe_key: str) -> int:
        self.counts[dedupe_key] = self.counts.get(dedupe_key, 0) + 1
        return self.counts[dedupe_key]

    def finished(self, dedupe_key: str) -> None:
        self.counts.pop(dedupe_key, None)


@dataclass
class InMemoryGroupProgress:
    marks: dict[str, int] = field(default_factory=dict)

    def done(self, group_id: str) -> int:
        return self.marks.get(group_id, 0)

    def advance(self, group_id: str, done: int) -> None:
        self.marks[group_id] = done

    def clear(self, group_id: str) -> None:
        self.marks.pop(group_id, None)


__all__ = [
    "InMemoryDeliveryCounter",
    "InMemoryFailureSink",
    "InMemoryGroupProgress",
    "InMemoryLabelSink",
    "InMemoryObjectStore",
]
