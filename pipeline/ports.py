"""Interfaces of the pipeline's I/O dependencies.

Each has a real adapter (S3 via boto3, Redis, c2pa-python) and an in-memory one (:mod:`pipeline.adapters.memory`)
that the same contract tests run against. Code above the adapters depends on these protocols only, so nothing there
imports botocore, redis or c2pa.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from pipeline.credentials.manifest import ManifestStore
from pipeline.model import NamesAVersion, ObjectRef, Provenance, StoredObject, s3_uri

Enqueue = Callable[[ObjectRef, str], None]
"""The task queue: publish the task of one object version under a batch id (the broker has it when this returns)."""


@dataclass(frozen=True)
class CredentialReport:
    """What reading an asset's Content Credentials found."""

    provenance: Provenance
    store: ManifestStore | None = None
    reason: str | None = None
    """Why the provenance is ``absent`` or ``unreadable`` (for the record and the operator)."""
    xmp_source_types: tuple[str, ...] = ()
    """IPTC ``DigitalSourceType`` values from the file's XMP packet (unsigned), read when it has no manifest."""
    metadata_fields: tuple[tuple[str, str, str], ...] = ()
    """Generator-trace fields ``(family, name, text)``, bounded (:mod:`pipeline.credentials.traces`), read when the
    file has no manifest, an unreadable one or an invalid one."""
    manifest_url: str | None = None
    """The remote manifest store's URL when the asset only references one (fetched, or the reason says why not)."""
    manifest_provenance: Provenance | None = None
    """The manifest's own validity when it differs from :attr:`provenance` (c2pa's verdict) only because c2pa
    counted a CAWG identity assertion's failure (:mod:`pipeline.credentials.identity`); None when they agree. The
    label is decided on this one: an identity failure changes neither the manifest's validity nor the label."""


class CredentialReader(Protocol):
    def read(self, path: Path) -> CredentialReport:
        """Read and validate the credentials of the file at ``path``. Never raises for bad input."""
        ...


class ManifestFetcher(Protocol):
    def fetch(self, url: str) -> bytes:
        """The manifest store at ``url``, fetched under :class:`pipeline.remote_manifests.FetchPolicy`.

        Raises RemoteManifestUnavailable (transient: timeout, 5xx; retried) or RemoteManifestRefused (off the
        allow-list, a forbidden address, a redirect off the list, 4xx, too large; the record says so).
        """
        ...


class ManifestCache(Protocol):
    """Fetched remote manifest stores by URL, shared by every worker, and the single-flight claim on a URL: one
    worker fetches a popular manifest while the others wait for it to appear (:mod:`pipeline.manifest_cache`).
    Every method may raise StateUnavailable; the caller then fetches without the cache."""

    def get(self, url: str) -> bytes | None:
        """The cached store of ``url``, or None."""
        ...

    def put(self, url: str, body: bytes, ttl_seconds: int) -> None:
        """Keep ``body`` as the store of ``url`` for ``ttl_seconds``."""
        ...

    def claim(self, url: str, ttl_ms: int) -> str | None:
        """Take the fetch of ``url`` for ``ttl_ms`` (an atomic set-if-absent with expiry): a token to release it
        with, or None when another worker holds it."""
        ...

    def claimed(self, url: str) -> bool:
        """Whether some worker holds the fetch of ``url`` now."""
        ...

    def release(self, url: str, token: str) -> None:
        """Give up the claim ``token`` took; a claim that expired and was taken by another is left alone."""
        ...


class ObjectStore(Protocol):
    def fetch(
        self,
        ref: ObjectRef,
        dest: IO[bytes],
        *,
        accept: Callable[[StoredObject], bool],
    ) -> tuple[StoredObject, bool]:
        """GET the object version ``ref`` names and stream its body into ``dest`` if ``accept(headers)`` is true.

        Returns the object's headers and whether the body was downloaded. One request either way: ``accept`` sees the
        headers before any body byte is read, so a skip costs no transfer. Raises ObjectNotFound, ObjectChanged
        (ETag differs from ``ref.etag``), AccessDenied, StorageUnavailable.
        """
        ...

    def head_object(self, ref: ObjectRef) -> StoredObject:
        """HEAD the object version ``ref`` names: its headers (metadata, ETag, size), no body, one request. For the
        intake's echo check, which needs only the metadata. Raises what :meth:`fetch` raises."""
        ...

    def write_metadata(self, obj: StoredObject, metadata: Mapping[str, str]) -> tuple[str, str | None]:
        """Replace the object's user metadata in place, keeping its system headers, SSE and storage class.

        Copies only if the object still has ``obj.etag``; raises ObjectChanged otherwise. Returns the ETag and
        version id the copy produced: the ETag changes when the source was a multipart upload.
        """
        ...

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectRef]:
        """Every current object under ``prefix`` (for backfill and reconcile)."""
        ...


@dataclass(frozen=True)
class Guard:
    """An exactly-once guard that is set: this identity was published (or registered as our write-back's copy)."""

    written: Mapping[str, str] | None
    """The ``aigc-*`` metadata the write-back puts on the object, kept with the guard so that what is on the object
    can be compared with it (the uploader can replace metadata by copying the object onto itself, ETag unchanged)
    and repaired from it without reading the object again. None for a guard that holds none (set without metadata,
    or by a release before guards kept it): then nothing on the object can be matched against it."""


class LabelSink(Protocol):
    def publish(self, record: Mapping[str, Any], dedupe_key: str, written: Mapping[str, str] | None = None) -> bool:
        """Append ``record`` to the label queue once per ``dedupe_key``, atomically, and keep ``written`` (the
        ``aigc-*`` metadata for the object, at most :data:`MAX_GUARD_METADATA_BYTES`) with the guard.

        Returns False when a record with that key was already published (a rerun or duplicate event); the guard
        then keeps what the first publish wrote (:meth:`guard`).
        """
        ...

    def is_published(self, dedupe_key: str) -> bool: ...

    def guard(self, dedupe_key: str) -> Guard | None:
        """The guard of ``dedupe_key`` with the metadata kept with it; None when it is not set."""
        ...

    def mark_published(self, dedupe_key: str, written: Mapping[str, str] | None = None) -> None:
        """Set the guard of ``dedupe_key`` without publishing: the identity our write-back's copy produced (with the
        ``written`` metadata that copy carries), or a guard that holds no metadata yet getting it."""
        ...


MAX_GUARD_METADATA_BYTES = 512
"""Most ``aigc-*`` metadata a guard keeps (compact JSON, the ``aigc-`` prefix of its keys left out), so the guards,
one per object version for the guard's TTL, stay small in Redis. What the pipeline writes is about 100 bytes."""


@dataclass(frozen=True)
class FailureEntry:
    """One object version the pipeline gave up on (or skipped), with the reason an operator needs."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    batch_id: str | None
    task_id: str | None
    error_class: str
    message: str
    attempts: int
    disposition: str = "failed"
    """``failed`` (exhausted retries or permanent error) or ``skipped`` (nothing to label: object gone, replaced)."""

    @classmethod
    def of(
        cls,
        named: NamesAVersion,
        *,
        batch_id: str | None,
        error_class: str,
        message: str,
        task_id: str | None = None,
        attempts: int = 1,
        disposition: str = "failed",
    ) -> FailureEntry:
        """The entry of the object version ``named`` names (an event's ref, a task's object)."""
        return cls(
            named.bucket,
            named.key,
            named.version_id,
            named.etag,
            batch_id,
            task_id,
            error_class,
            message,
            attempts,
            disposition,
        )


class FailureSink(Protocol):
    def record(self, entry: FailureEntry) -> None: ...

    def entries(self) -> list[dict[str, Any]]:
        """Current entries, newest first; each has an ``id`` that :meth:`remove` takes."""
        ...

    def remove(self, ids: list[str]) -> int:
        """Delete entries (after a replay re-enqueued them, or a purge); returns how many were there."""
        ...


class DeliveryCounter(Protocol):
    def started(self, identity: str) -> int:
        """Count one more start of work on the object version ``identity`` names
        (:meth:`pipeline.model.ObjectVersion.identity`) and return the count.

        Redelivery after a worker crash cannot be told apart from a first delivery any other way, so this is what
        stops a file that crashes or hangs the reader from being retried forever.
        """
        ...

    def finished(self, identity: str) -> None: ...


class GroupProgress(Protocol):
    """How many objects of a group task have ended, by the task's id (stable across redeliveries).

    A group that is redelivered (its worker was killed) or handed on (it hit the hard time limit) resumes after the
    objects that already ended, so they are neither run nor counted in their batch twice.
    """

    def done(self, group_id: str) -> int: ...

    def advance(self, group_id: str, done: int) -> None: ...

    def clear(self, group_id: str) -> None: ...


@dataclass(frozen=True)
class QueuedEvent:
    """One storage notification an :class:`EventQueue` handed out: in flight until acknowledged."""

    body: str | bytes
    origin: str
    """Where it came from, as a failure entry names it: ``sqs:MESSAGE_ID``, ``redis:KEY``."""
    receipt: Any
    """What acknowledging it needs (an SQS receipt handle, the Redis list item itself)."""


class EventQueue(Protocol):
    """A source of storage event notifications that hands events out and forgets them only when acknowledged, so
    an intake killed mid-round loses nothing (an SQS queue, MinIO's Redis event list with its processing list).

    The intake loop (:mod:`workers.intake.loop`) is the same for every source; only this differs.
    """

    source: str
    """Names the source in batch ids, metric labels and logger names: ``sqs``, ``redis``."""
    unit: str
    """What the source calls its events in the ``intake.batch`` log line (SQS has always said ``messages``)."""

    def describe(self) -> Mapping[str, str]:
        """Log fields that say which queue this is (``queue_url``, ``key``)."""
        ...

    def check(self) -> None:
        """At start: raise :class:`~pipeline.errors.SourceMisconfigured` if the source cannot be what this queue
        reads (a MinIO target writing a hash where a list was expected), before any round."""
        ...

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        """Up to ``limit`` events (each source has its own maximum too), waiting up to ``wait_seconds`` for the
        first (0: do not wait). Every event returned is in flight: no other receive gets it until it comes back."""
        ...

    def acknowledge(self, events: Sequence[QueuedEvent]) -> None:
        """Forget events whose tasks are all on the broker (SQS delete, Redis LREM)."""
        ...

    def recover(self) -> int:
        """Give back what was received and never acknowledged (by a round that failed, or an intake that died), so
        it is received again; returns how many events were given back now. SQS gives messages back by itself
        after their visibility timeout; the Redis list moves its processing list back to the queue."""
        ...


BatchFields = Mapping[str, str]
"""A batch's descriptive fields: kind, parents, reason, who; an intake window's source and bounds."""


class BatchCounters(Protocol):
    """Per-batch outcome counters (``queued`` and :data:`pipeline.model.OUTCOMES`) with descriptive fields, each
    batch kept for a while after its last update, and a bounded index of the batches so listing them is cheap."""

    def count(
        self, batch: str, field: str, amount: int = 1, *, ttl: int | None = None, fields: BatchFields | None = None
    ) -> None:
        """Add ``amount`` to one counter; when the outcomes reach the queued count, stamp ``finished_at`` (and remove
        it when more are queued later). ``ttl`` becomes the batch's own retention, which later counts (the
        workers') keep; ``fields`` are descriptive fields set in the same step (an intake window's kind and bounds)."""
        ...

    def describe(self, batch_id: str, **fields: str) -> None:
        """Attach descriptive fields (kind, parent batch, reason, who) to a batch."""
        ...

    def all(self) -> dict[str, dict[str, str]]:
        """Every batch still kept, oldest update first."""
        ...

    def get(self, batch_id: str) -> dict[str, str]:
        """The batch's counters and fields as strings; empty when unknown or expired."""
        ...


class AuditLog(Protocol):
    """Who did which operator action (replay, purge-failures, backfill), when and why; bounded, newest kept."""

    def record(self, action: str, who: str, fields: Mapping[str, Any]) -> None:
        """Append one entry: ``action``, ``who``, ``at`` (the store's clock, Unix time) and ``fields`` (JSON-safe)."""
        ...

    def latest(self, count: int = 50) -> list[dict[str, Any]]:
        """The newest ``count`` entries, newest first."""
        ...


@dataclass(frozen=True)
class LockScope:
    """What an operator action touches: a bucket (``""``: every bucket) and a key prefix (``""``: every key).

    Two scopes overlap when they can name the same object: same bucket (or either is every bucket) and one prefix
    is a prefix of the other. ``s3://b/p`` and ``s3://b/p/x`` overlap; ``s3://b/p/x`` and ``s3://b/p/y`` do not;
    (plain string prefixes, as S3 lists them: ``s3://b/p`` also overlaps ``s3://b/photos``).
    """

    bucket: str = ""
    prefix: str = ""

    def name(self) -> str:
        if self.bucket:
            return s3_uri(self.bucket, self.prefix)
        return f"every bucket, keys under {self.prefix!r}" if self.prefix else "every bucket"

    def overlaps(self, other: LockScope) -> bool:
        """The rule every :class:`ScopeLocks` applies (the Redis one in its acquire script)."""
        buckets = not self.bucket or not other.bucket or self.bucket == other.bucket
        return buckets and (self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix))


class ScopeLocked(RuntimeError):
    """Another operator action holds an overlapping scope; ``holder`` says who, what and since when."""

    def __init__(self, scope: LockScope, holder: dict[str, Any]) -> None:
        self.scope = scope
        self.holder = holder
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("at", 0))))
        super().__init__(
            f"a {holder.get('action')} of {holder.get('scope')} is running (started by {holder.get('who')} on "
            f"{holder.get('host')}, pid {holder.get('pid')}, at {since}) and overlaps {scope.name()}; wait for it "
            "to finish, or choose a scope where neither prefix contains the other"
        )


class LockLost(RuntimeError):
    """The lock expired (the process stalled longer than its TTL) and may be held by another action now."""


class HeldScope(Protocol):
    """A scope lock this process holds: kept alive while the ``with`` block runs, released (if still ours) after."""

    scope: LockScope

    def check(self) -> None:
        """Renew, and raise :class:`LockLost` unless the lock is still ours: called before each item of work, so an
        action never goes on after another has taken its scope."""
        ...

    def renew(self) -> bool:
        """Extend the TTL if the lock is still ours; False (and lost for good) otherwise."""
        ...

    def release(self) -> bool:
        """Give the scope up if it is still ours; False if it expired and was taken over."""
        ...

    def __enter__(self) -> HeldScope: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ScopeLocks(Protocol):
    """One operator action (replay, backfill) at a time per overlapping bucket/prefix scope.

    Each holder carries an owner token and an expiry ``ttl`` seconds ahead, renewed while the action runs, so a
    killed operator process frees its scope within ``ttl``; a holder whose lock expired and was taken over can
    neither renew nor release the new owner's.
    """

    @property
    def ttl(self) -> float: ...

    def acquire(self, scope: LockScope, *, action: str, who: str) -> HeldScope:
        """Take the scope or raise :class:`ScopeLocked` naming the overlapping action; use the result in ``with``."""
        ...

    def renew(self, scope: LockScope, token: str) -> bool:
        """Extend the expiry of the holder of ``scope`` if ``token`` is still its owner's."""
        ...

    def release(self, scope: LockScope, token: str) -> bool:
        """Delete the holder of ``scope`` if ``token`` is still its owner's (compare-and-delete)."""
        ...

    def holders(self) -> list[dict[str, Any]]:
        """Every holder still recorded (JSON-safe: token, action, scope, who, host, pid, at, expires_ms)."""
        ...


@dataclass(frozen=True)
class Override:
    """An operator's correction of one object's label (``kind`` ``set``), or its revocation (``revoked``), kept by an
    :class:`OverrideStore` for the object's content and consulted by every labelling of it (docs/operations.md,
    "Overrides and appeals")."""

    id: str
    """Unique per operator action: part of the exactly-once identity of the record the action publishes."""
    kind: str
    """``set``: the object carries ``label`` whatever the policy says, until revoked. ``revoked``: the pipeline's own
    judgement is published again once, under the policy version ``policy``; after a policy change it is ignored."""
    label: str | None
    reason: str
    who: str
    at: str
    """When, ISO 8601 UTC."""
    previous_label: str | None = None
    """``set``: the label the object had; ``revoked``: the override's label."""
    provenance: str = "absent"
    """``set``: the provenance of the object's credentials when it was overridden (the override record carries it)."""
    policy: str | None = None
    """``revoked``: the policy version whose judgement the revocation republishes."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Override:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def override_identity(obj: NamesAVersion) -> str:
    """What an override is kept under: ``bucket \\0 key \\0 etag`` (:class:`OverrideStore`)."""
    return f"{obj.bucket}\0{obj.key}\0{obj.etag or ''}"


class OverrideStore(Protocol):
    """Overrides by the content they apply to: bucket, key and ETag, not the version id, so an override follows the
    copies its own write-back makes (a new version in a versioned bucket) and ends with a new upload (new content,
    judged afresh). Kept without expiry: an override outlives guards, backfills and policy upgrades."""

    def get(self, obj: NamesAVersion) -> Override | None: ...

    def put(self, obj: NamesAVersion, override: Override) -> None:
        """Replace what is kept for ``obj``'s content with ``override``."""
        ...

    def entries(self, count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` kept (set or revoked), newest first: each override's fields with the ``bucket``,
        ``key`` and ``etag`` it is for."""
        ...
