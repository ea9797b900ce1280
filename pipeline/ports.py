"""Interfaces of the pipeline's I/O dependencies.

Each has a real adapter (S3 via boto3, Redis, c2pa-python) and an in-memory one (:mod:`pipeline.adapters.memory`)
that the same contract tests run against. Code above the adapters depends on these protocols only, so nothing there
imports botocore, redis or c2pa.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pipeline.credentials.manifest import ManifestStore
from pipeline.model import ObjectRef, Provenance, StoredObject


@dataclass(frozen=True)
class CredentialReport:
    """What reading an asset's Content Credentials found."""

    provenance: Provenance
    store: ManifestStore | None = None
    reason: str | None = None
    """Why the provenance is ``absent`` or ``unreadable`` (for the record and the operator)."""
    xmp_source_types: tuple[str, ...] = ()
    """IPTC ``DigitalSourceType`` values from the file's XMP packet (unsigned), read when it has no manifest."""


class CredentialReader(Protocol):
    def read(self, path: Path) -> CredentialReport:
        """Read and validate the credentials of the file at ``path``. Never raises for bad input."""
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


class FailureSink(Protocol):
    def record(self, entry: FailureEntry) -> None: ...

    def entries(self) -> list[dict[str, Any]]:
        """Current entries, newest first; each has an ``id`` that :meth:`remove` takes."""
        ...

    def remove(self, ids: list[str]) -> int:
        """Delete entries (after a replay re-enqueued them, or a purge); returns how many were there."""
        ...


class DeliveryCounter(Protocol):
    def started(self, dedupe_key: str) -> int:
        """Count one more start of work on this object version and return the count.

        Redelivery after a worker crash cannot be told apart from a first delivery any other way, so this is what
        stops a file that crashes or hangs the reader from being retried forever.
        """
        ...

    def finished(self, dedupe_key: str) -> None: ...


class GroupProgress(Protocol):
    """How many objects of a group task have ended, by the task's id (stable across redeliveries).

    A group that is redelivered (its worker was killed) or handed on (it hit the hard time limit) resumes after the
    objects that already ended, so they are neither run nor counted in their batch twice.
    """

    def done(self, group_id: str) -> int: ...

    def advance(self, group_id: str, done: int) -> None: ...

    def clear(self, group_id: str) -> None: ...
