"""Label one object version: the plain function a worker task calls. No Celery, boto3 or redis import here.

Order matters for "never lose, never duplicate":

1. GET the object; its headers arrive first. If this pipeline already published a record for exactly this object
   version under the current policy and the label is on the object, stop: this is our own write-back's
   ``ObjectCreated:Copy`` or a duplicate event. Metadata alone never counts: whoever uploads an object can set
   ``x-amz-meta-aigc-*`` on it, so the proof is the exactly-once guard in Redis.
2. Stream the body to a temporary file (bounded memory, size cap) and read its credentials.
3. Publish the record, exactly once per object version (atomic guard + XADD).
4. Write the metadata back with a conditional copy. A crash between 3 and 4 is repaired by the redelivery, which
   finds the guard but no label on the object, recomputes and copies, while the guard keeps the stream at one
   record.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import ObjectChanged
from pipeline.interfaces import CredentialReader, CredentialReport, LabelSink, ObjectStore
from pipeline.model import ObjectRef, StoredObject
from pipeline.policy import Decision, Policy, decide
from pipeline.record import LabelRecord, build_record, merged_metadata, metadata_for
from pipeline.spool import SPOOL_PREFIX, SPOOL_SUFFIX

MULTIPART_COPY_LIMIT = 5 * 1024**3
"""S3 CopyObject refuses sources above 5 GB; their metadata would need a multipart copy."""

Status = Literal["labelled", "already_labelled", "duplicate", "replaced"]


@dataclass(frozen=True)
class Services:
    """Everything :func:`label_object` needs, built once per worker process."""

    store: ObjectStore
    reader: CredentialReader
    sink: LabelSink
    policy: Policy
    max_object_bytes: int
    spool_dir: Path | None = None


@dataclass(frozen=True)
class Outcome:
    status: Status
    record: LabelRecord | None = None
    detail: str | None = None
    metadata_written: bool = False
    stages: Mapping[str, float] = field(default_factory=dict)
    """Seconds spent per stage (fetch, read, publish, write_back), for metrics."""


def dedupe_key(bucket: str, key: str, version_id: str | None, etag: str, policy_version: str) -> str:
    """Identity of a labelling for exactly-once publishing: one object version under one policy version.

    The policy is part of it so that relabelling under a new policy publishes a new record.
    """
    return f"{bucket}\0{key}\0{version_id or 'null'}\0{etag}\0{policy_version}"


COPY_EVENTS = frozenset({"ObjectCreated:Copy", "ObjectCreated:CopyObject"})
"""Event names of a server-side copy: S3/MinIO notifications, and EventBridge's ``reason`` (see pipeline.events)."""


def echo_key(ref: ObjectRef, policy_version: str) -> str | None:
    """The guard a copy event matches when it is this pipeline's own write-back (its "echo"); None otherwise.

    Every write-back is a CopyObject onto the object itself, so the storage announces it with a copy event that
    names the labelled version: in an unversioned bucket the same ETag, whose guard :func:`label_object` set when
    it published; in a versioned bucket (or after a multipart upload) the new version/ETag, which the write-back
    registers. An intake that finds that guard set can drop the event instead of spending a worker task on it.
    Only copy events qualify: an upload of the same bytes (Put, Post, CompleteMultipartUpload) may have replaced
    the labelled metadata and goes to a worker. A miss (guard not set yet, another policy version during a
    rollout) costs nothing but the worker's own check, which stays the authority.
    """
    if ref.event_name not in COPY_EVENTS or not ref.etag:
        return None
    return dedupe_key(ref.bucket, ref.key, ref.version_id, ref.etag, policy_version)


def assess_file(path: Path, reader: CredentialReader, policy: Policy) -> tuple[CredentialReport, Decision]:
    """Read a local file's credentials and decide its label: the step the worker and ``inspect`` share."""
    report = reader.read(path)
    return report, decide(report, policy)


def identity(obj: StoredObject, policy: Policy) -> str:
    return dedupe_key(obj.bucket, obj.key, obj.version_id, obj.etag, policy.version)


def written_key(obj: StoredObject, policy: Policy) -> str:
    """Guard key meaning "the label of this object version was written back" (versioned buckets)."""
    return "written\0" + identity(obj, policy)


def label_object(
    ref: ObjectRef,
    services: Services,
    *,
    batch_id: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Outcome:
    started = clock()
    policy = services.policy
    stages: dict[str, float] = {}
    mark = started

    def lap(stage: str) -> None:
        nonlocal mark
        now = clock()
        stages[stage] = now - mark
        mark = now

    def labelled(obj: StoredObject) -> bool:
        """Published for exactly this version under this policy (the guard), and the label is on the object.

        Our write-back's copy produces a new identity when it changes the version (versioned bucket) or the ETag
        (a multipart upload becomes single-part); the write-back registers that identity, so its event stops here.
        A published identity whose metadata lacks the label is a write-back a crash interrupted: do it again.
        """
        if not services.sink.is_published(identity(obj, policy)):
            return False
        if obj.metadata.get("aigc-policy") == policy.version:
            return True
        # In a versioned bucket the label lands on a new version; a redelivered event names the old one, which
        # never carries it. The completed write-back was remembered under the old version's identity.
        return obj.version_id is not None and services.sink.is_published(written_key(obj, policy))

    def accept(obj: StoredObject) -> bool:
        return not labelled(obj) and obj.size <= services.max_object_bytes

    with tempfile.NamedTemporaryFile(dir=services.spool_dir, prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX) as spool:
        obj, downloaded = services.store.fetch(ref, spool, accept=accept)
        lap("fetch")
        if not downloaded and labelled(obj):
            return Outcome("already_labelled", detail="object carries a current label for this content", stages=stages)
        if downloaded:
            spool.flush()
            report, decision = assess_file(Path(spool.name), services.reader, policy)
            lap("read")
        else:
            limit = services.max_object_bytes
            report = CredentialReport(
                "unreadable",
                reason=f"object is {obj.size} bytes, above the {limit}-byte limit; not downloaded",
            )
            decision = decide(report, policy)
    record = build_record(
        report=report,
        decision=decision,
        policy_version=policy.version,
        duration_ms=(clock() - started) * 1000,
        bucket=obj.bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        size=obj.size,
        content_type=obj.content_type,
        event_time=ref.event_time,
        batch_id=batch_id,
    )
    published = services.sink.publish(record.to_dict(), identity(obj, policy))
    lap("publish")
    if obj.size > MULTIPART_COPY_LIMIT:
        return Outcome(
            "labelled" if published else "duplicate",
            record,
            detail="metadata not written: objects above 5 GB need a multipart copy, which is not implemented",
            stages=stages,
        )
    try:
        etag, version_id = services.store.write_metadata(obj, merged_metadata(obj.metadata, metadata_for(record)))
        if (etag, version_id) != (obj.etag, obj.version_id):
            services.sink.mark_published(dedupe_key(obj.bucket, obj.key, version_id, etag, policy.version))
        if obj.version_id:
            services.sink.mark_published(written_key(obj, policy))
    except ObjectChanged:
        return Outcome(
            "replaced",
            record,
            detail="object replaced before write-back; its new upload has its own event",
            stages=stages,
        )
    lap("write_back")
    return Outcome("labelled" if published else "duplicate", record, metadata_written=True, stages=stages)
