"""In-memory implementations of the interfaces, for unit tests and the contract tests that also run against the
real services. They keep the same semantics (conditional copy, exactly-once publish), not just the signatures."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from pipeline.adapters.held_lock import HeldLock, new_holder
from pipeline.errors import ObjectChanged, ObjectNotFound, SourceMisconfigured, StateUnavailable
from pipeline.model import OUTCOMES, NamesAVersion, ObjectRef, ObjectVersion, StoredObject, s3_uri
from pipeline.ports import (
    MAX_GUARD_METADATA_BYTES,
    BatchFields,
    FailureEntry,
    Guard,
    LockScope,
    Override,
    QueuedEvent,
    ScopeLocked,
    override_identity,
)
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

    def head_object(self, ref: ObjectRef) -> StoredObject:
        version = self._current(ref)
        if ref.etag and ref.etag != version.obj.etag:
            raise ObjectChanged(f"HEAD {ref.uri}: 412")
        return version.obj

    def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
        current = self._current(ObjectRef(obj.bucket, obj.key))  # the current version, as S3 copies it
        if current.obj.etag != obj.etag:
            raise ObjectChanged(f"COPY {s3_uri(obj.bucket, obj.key)}: PreconditionFailed")
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
    """Bounded like the Redis store: entries older than ``max_age`` seconds, then the oldest beyond
    ``max_entries``, go when an entry is recorded."""

    max_entries: int = 100_000
    max_age: float = 30 * 86_400
    _entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, entry: FailureEntry) -> None:
        identity = ObjectVersion.of(entry).identity()
        previous = self._entries.pop(identity, None)
        now = time.time()
        first = previous["first_at"] if previous else now
        self._entries[identity] = {**entry.__dict__, "id": identity, "first_at": first, "last_at": now}
        for old in [i for i, e in self._entries.items() if e["last_at"] <= now - self.max_age]:
            del self._entries[old]
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def entries(self) -> list[dict[str, Any]]:
        return list(reversed(self._entries.values()))

    def remove(self, ids: list[str]) -> int:
        return sum(self._entries.pop(i, None) is not None for i in ids)


@dataclass
class InMemoryDeliveryCounter:
    counts: dict[str, int] = field(default_factory=dict)

    def started(self, identity: str) -> int:
        self.counts[identity] = self.counts.get(identity, 0) + 1
        return self.counts[identity]

    def finished(self, identity: str) -> None:
        self.counts.pop(identity, None)


@dataclass
class InMemoryGroupProgress:
    marks: dict[str, int] = field(default_factory=dict)

    def done(self, group_id: str) -> int:
        return self.marks.get(group_id, 0)

    def advance(self, group_id: str, done: int) -> None:
        self.marks[group_id] = done

    def clear(self, group_id: str) -> None:
        self.marks.pop(group_id, None)


def _stamp(now: float) -> str:
    """A time as the Redis adapters write it into a hash field (Unix time, microseconds)."""
    return f"{now:.6f}"


@dataclass
class InMemoryBatchCounters:
    """Batch counters with the Redis adapter's rules: ``started_at``/``updated_at`` stamps, ``finished_at`` while
    every queued object has an outcome, a batch's own ``ttl`` kept by later counts, expiry after the last update,
    and an index trimmed by age and to the newest ``index_max``."""

    ttl: int = 30 * 86_400
    index_max: int = 10_000
    batches: dict[str, dict[str, str]] = field(default_factory=dict)
    _expires: dict[str, float] = field(default_factory=dict)
    _index: dict[str, float] = field(default_factory=dict)

    def count(
        self, batch: str, field: str, amount: int = 1, *, ttl: int | None = None, fields: BatchFields | None = None
    ) -> None:
        now = time.time()
        kept = self._kept(batch, now)
        kept[field] = str(int(kept.get(field, 0)) + amount)
        kept.setdefault("started_at", _stamp(now))
        kept["updated_at"] = _stamp(now)
        if ttl is not None:
            kept["ttl"] = str(ttl)
        keep = int(kept.get("ttl", self.ttl))
        self._expires[batch] = now + keep
        kept.update(fields or {})
        queued = int(kept.get("queued", 0))
        if queued > 0 and sum(int(kept.get(o, 0)) for o in OUTCOMES) >= queued:
            kept.setdefault("finished_at", _stamp(now))
        else:
            kept.pop("finished_at", None)
        self._index.pop(batch, None)
        self._index[batch] = now
        oldest = now - max(keep, self.ttl)
        for stale in [b for b, at in self._index.items() if at < oldest]:
            del self._index[stale]
        while len(self._index) > self.index_max:
            del self._index[next(iter(self._index))]

    def describe(self, batch_id: str, **fields: str) -> None:
        now = time.time()
        batch = self._kept(batch_id, now)
        batch.update(fields)
        batch["updated_at"] = str(now)
        batch.setdefault("started_at", str(now))
        self._expires[batch_id] = now + self.ttl
        self._index.pop(batch_id, None)
        self._index[batch_id] = now

    def all(self) -> dict[str, dict[str, str]]:
        now = time.time()
        for batch_id in list(self._index):
            self._expire(batch_id, now)
            if batch_id not in self.batches:  # expired: it leaves the index too
                del self._index[batch_id]
        return {b: dict(self.batches[b]) for b in sorted(self._index, key=self._index.__getitem__)}

    def get(self, batch_id: str) -> dict[str, str]:
        self._expire(batch_id, time.time())
        return dict(self.batches.get(batch_id, {}))

    def _kept(self, batch_id: str, now: float) -> dict[str, str]:
        """The batch's fields to update: a new, empty batch once it expired, as its Redis hash would be."""
        self._expire(batch_id, now)
        return self.batches.setdefault(batch_id, {})

    def _expire(self, batch_id: str, now: float) -> None:
        if self._expires.get(batch_id, now + 1) <= now:
            self.batches.pop(batch_id, None)
            del self._expires[batch_id]


@dataclass
class InMemoryAuditLog:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, action: str, who: str, fields: Mapping[str, Any]) -> None:
        self.entries.append(json.loads(json.dumps({"action": action, "who": who, "at": time.time(), **fields})))

    def latest(self, count: int = 50) -> list[dict[str, Any]]:
        return self.entries[::-1][:count]


@dataclass
class InMemoryScopeLocks:
    """Scope locks with the Redis adapter's rules (overlap, owner token, expiry ``ttl`` after the last renewal,
    expired holders dropped by the next acquire), by this process's clock."""

    ttl: float = 60.0
    _held: dict[str, dict[str, Any]] = field(default_factory=dict)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, scope: LockScope, *, action: str, who: str) -> HeldLock:
        holder = new_holder(scope, action=action, who=who)
        now = time.time()
        with self._mutex:
            for name, other in list(self._held.items()):
                if other["expires_ms"] <= now * 1000:
                    del self._held[name]
                elif scope.overlaps(LockScope(other["bucket"], other["prefix"])):
                    raise ScopeLocked(scope, dict(other))
            self._held[scope.name()] = {**holder, "expires_ms": int(now * 1000 + self.ttl * 1000), "at": int(now)}
        return HeldLock(self, scope, holder["token"])

    def renew(self, scope: LockScope, token: str) -> bool:
        with self._mutex:
            mine = self._held.get(scope.name())
            if mine is None or mine["token"] != token:
                return False
            mine["expires_ms"] = int(time.time() * 1000 + self.ttl * 1000)
            return True

    def release(self, scope: LockScope, token: str) -> bool:
        with self._mutex:
            mine = self._held.get(scope.name())
            if mine is None or mine["token"] != token:
                return False
            del self._held[scope.name()]
            return True

    def holders(self) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(h) for h in self._held.values()]


@dataclass
class InMemoryManifestCache:
    """A :class:`~pipeline.ports.ManifestCache` with the Redis adapter's rules (TTL on stores, claims that expire
    and are released only by their token), by this process's clock; thread-safe. ``down``: every call raises
    StateUnavailable, as the Redis adapter does when Redis is unreachable."""

    stores: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    claims: dict[str, tuple[str, float]] = field(default_factory=dict)
    down: bool = False
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def _check(self) -> None:
        if self.down:
            raise StateUnavailable("the manifest cache is down (in-memory fake)")

    def get(self, url: str) -> bytes | None:
        self._check()
        with self._mutex:
            kept = self.stores.get(url)
            return kept[0] if kept is not None and kept[1] > time.monotonic() else None

    def put(self, url: str, body: bytes, ttl_seconds: int) -> None:
        self._check()
        with self._mutex:
            self.stores[url] = (bytes(body), time.monotonic() + ttl_seconds)

    def claim(self, url: str, ttl_ms: int) -> str | None:
        self._check()
        now = time.monotonic()
        with self._mutex:
            held = self.claims.get(url)
            if held is not None and held[1] > now:
                return None
            token = secrets.token_hex(16)
            self.claims[url] = (token, now + ttl_ms / 1000)
            return token

    def claimed(self, url: str) -> bool:
        self._check()
        with self._mutex:
            held = self.claims.get(url)
            return held is not None and held[1] > time.monotonic()

    def release(self, url: str, token: str) -> None:
        self._check()
        with self._mutex:
            held = self.claims.get(url)
            if held is not None and held[0] == token:
                del self.claims[url]


@dataclass
class InMemoryEventQueue:
    """An :class:`~pipeline.ports.EventQueue` in memory: events wait in ``ready``, a receive puts them in flight,
    an acknowledgement forgets them, and :meth:`recover` gives everything in flight back to the head of the queue
    (as the Redis list's processing list does at once, and SQS after the visibility timeout). A queue built with
    ``refusal`` is a misconfigured source: :meth:`check` and every receive raise it."""

    source: str = "memory"
    unit: str = "events"
    max_per_receive: int = 10
    refusal: str | None = None
    ready: list[str | bytes] = field(default_factory=list)
    in_flight: dict[int, QueuedEvent] = field(default_factory=dict)
    acknowledged: list[str | bytes] = field(default_factory=list)
    receives: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def push(self, *bodies: str | bytes) -> None:
        self.ready.extend(bodies)

    def describe(self) -> Mapping[str, str]:
        return {"queue": self.source}

    def check(self) -> None:
        if self.refusal is not None:
            raise SourceMisconfigured(self.refusal)

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        """Never waits: an empty queue answers at once (the loop's tests need no clock)."""
        self.check()
        self.receives += 1
        count = max(1, min(limit, self.max_per_receive))
        taken, self.ready = self.ready[:count], self.ready[count:]
        events = []
        for body in taken:
            receipt = next(self._ids)
            events.append(QueuedEvent(body, origin=f"{self.source}:{receipt}", receipt=receipt))
        self.in_flight.update((e.receipt, e) for e in events)
        return events

    def acknowledge(self, events: Sequence[QueuedEvent]) -> None:
        for event in events:
            if self.in_flight.pop(event.receipt, None) is not None:
                self.acknowledged.append(event.body)

    def recover(self) -> int:
        back = [e.body for e in self.in_flight.values()]
        self.in_flight.clear()
        self.ready[:0] = back
        return len(back)


__all__ = [
    "InMemoryAuditLog",
    "InMemoryBatchCounters",
    "InMemoryDeliveryCounter",
    "InMemoryEventQueue",
    "InMemoryFailureSink",
    "InMemoryGroupProgress",
    "InMemoryLabelSink",
    "InMemoryObjectStore",
    "InMemoryScopeLocks",
]


@dataclass
class InMemoryOverrideStore:
    """:class:`pipeline.ports.OverrideStore` in a dict, kept as JSON as the Redis one keeps it."""

    kept: dict[str, str] = field(default_factory=dict)

    def get(self, obj: NamesAVersion) -> Override | None:
        found = self.kept.get(override_identity(obj))
        return Override.from_dict(json.loads(found)) if found is not None else None

    def put(self, obj: NamesAVersion, override: Override) -> None:
        body = {**override.to_dict(), "bucket": obj.bucket, "key": obj.key, "etag": obj.etag}
        self.kept.pop(override_identity(obj), None)  # insertion order is the order they were set
        self.kept[override_identity(obj)] = json.dumps(body)

    def entries(self, count: int = 1000) -> list[dict[str, Any]]:
        return [json.loads(body) for body in reversed(self.kept.values())][:count]
