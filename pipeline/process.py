"""Label one object version: the plain function a worker task calls. No Celery, boto3 or redis import here.

Order matters for "never lose, never duplicate, never a label the stream does not say":

1. GET the object; its headers arrive first. If this pipeline already published a record for exactly this object
   version under the current policy and the object's ``aigc-*`` metadata is exactly what was written with it (kept
   with the exactly-once guard), stop: this is our own write-back's ``ObjectCreated:Copy`` or a duplicate event.
   If it was published but the metadata differs (a crash before the write-back, or an uploader's copy of the
   object onto itself with forged ``x-amz-meta-aigc-*``, which keeps the ETag), write the stored metadata again,
   without reading the body and without a second record (:func:`examine`). Metadata alone never counts.
2. Stream the body to a temporary file (bounded memory, size cap) and read its credentials.
3. Check that the metadata can be written (ASCII, S3's 2 KB with the object's own), then publish the record,
   exactly once per object version (atomic guard + XADD), the metadata kept with the guard.
4. Write the metadata back with a conditional copy. A crash between 3 and 4 is repaired by the redelivery, which
   finds the guard but not its metadata on the object and copies it, while the guard keeps the stream at one
   record.

With the headers, the object's override is looked up (:func:`active_override`; ``media-ingest override``): an
override that is set takes the place of step 2 (its record is the operator's label, nothing is downloaded), a
revocation reads the object as usual; either way the override's id is part of the guard's identity, so the same
steps publish its record exactly once and recognise its write-back.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import ObjectChanged
from pipeline.model import ObjectRef, ObjectVersion, StoredObject, s3_uri
from pipeline.policy import Decision, Policy, decide
from pipeline.ports import CredentialReader, CredentialReport, LabelSink, ObjectStore, Override, OverrideStore
from pipeline.record import LabelRecord, build_record, labels_on, metadata_for, metadata_to_write, with_override
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
    overrides: OverrideStore | None = None
    """Operator overrides, consulted for every object (None: none are kept, as in ``inspect``)."""


@dataclass(frozen=True)
class Outcome:
    status: Status
    record: LabelRecord | None = None
    detail: str | None = None
    metadata_written: bool = False
    stages: Mapping[str, float] = field(default_factory=dict)
    """Seconds spent per stage (fetch, read, publish, write_back), for metrics."""


def dedupe_key(bucket: str, key: str, version_id: str | None, etag: str, policy_version: str) -> str:
    """Identity of a labelling for exactly-once publishing: one object version under one policy version
    (:meth:`pipeline.model.ObjectVersion.dedupe_key`).

    The policy is part of it so that relabelling under a new policy publishes a new record.
    """
    return ObjectVersion(bucket, key, version_id, etag).dedupe_key(policy_version)


COPY_EVENTS = frozenset({"ObjectCreated:Copy", "ObjectCreated:CopyObject"})
"""Event names of a server-side copy: S3/MinIO notifications, and EventBridge's ``reason`` (see pipeline.events)."""


def echo_key(ref: ObjectRef, policy_version: str) -> str | None:
    """The guard a copy event matches when it is this pipeline's own write-back (its "echo"); None otherwise.

    Every write-back is a CopyObject onto the object itself, so the storage announces it with a copy event that
    names the labelled version: in an unversioned bucket the same ETag, whose guard :func:`label_object` set when
    it published; in a versioned bucket (or after a multipart upload) the new version/ETag, which the write-back
    registers. A set guard makes the event a candidate only: an uploader's copy of the object onto itself keeps the
    ETag too, so :func:`is_own_echo` also compares the object's metadata with what was written. Only copy events
    qualify: an upload of the same bytes (Put, Post, CompleteMultipartUpload) goes to a worker. A miss (guard not
    set yet, another policy version during a rollout) costs nothing but the worker's own check, which stays the
    authority.
    """
    if ref.event_name not in COPY_EVENTS or not ref.etag:
        return None
    return ObjectVersion.of(ref).dedupe_key(policy_version)


def assess_file(path: Path, reader: CredentialReader, policy: Policy) -> tuple[CredentialReport, Decision]:
    """Read a local file's credentials and decide its label: the step the worker and ``inspect`` share."""
    report = reader.read(path)
    return report, decide(report, policy)


def identity(obj: StoredObject, policy: Policy, override: Override | None = None) -> str:
    """The exactly-once identity of the labelling of ``obj``; under an override (or its revocation) the override's
    id is part of it, so each operator action publishes one record of its own (:func:`active_override`)."""
    return ObjectVersion.of(obj).dedupe_key(policy.version) + _override_suffix(override)


def _override_suffix(override: Override | None) -> str:
    return f"\0{override.kind}:{override.id}" if override is not None else ""


def written_key(obj: StoredObject, policy: Policy, override: Override | None = None) -> str:
    """Guard key meaning "the label of this object version was written back" (versioned buckets)."""
    return "written\0" + identity(obj, policy, override)


def active_override(obj: StoredObject, services: Services) -> Override | None:
    """The override that decides ``obj``'s next record: an override that is set (whatever the policy version: a
    backfill or a policy upgrade keeps it), or a revocation under the policy it was made under (which publishes the
    pipeline's own judgement once; after a policy change the pipeline judges the object as any other)."""
    if services.overrides is None:
        return None
    found = services.overrides.get(obj)
    if found is None or (found.kind == "revoked" and found.policy != services.policy.version):
        return None
    return found


Found = Literal["new", "current", "repair", "unknown"]
"""What the guards say about an object version (:func:`examine`)."""


@dataclass(frozen=True)
class Examined:
    found: Found
    written: Mapping[str, str] | None = None
    """The metadata kept with the guard (what the stream's record says the object should carry)."""


def examine(obj: StoredObject, sink: LabelSink, policy: Policy, override: Override | None = None) -> Examined:
    """Compare the object's ``aigc-*`` metadata with what was written for this exact version and policy.

    * ``new``: no guard, nothing published: read and label it.
    * ``current``: published, and the object carries exactly the metadata written with the guard; or, in a
      versioned bucket, the event names the old version whose write-back completed (the label is on a new one).
    * ``repair``: published, but the object's ``aigc-*`` keys differ from what was written: a write-back a crash
      interrupted, an upload of the same bytes, or an uploader's copy of the object onto itself with other metadata
      (same ETag in an unversioned bucket). Write the stored metadata again; no read, no second record.
    * ``unknown``: published under a guard that holds no metadata (set by an earlier release): nothing on the
      object can prove it current, so read it again (the guard keeps the stream at one record).

    Metadata alone never counts: anyone who uploads can set ``x-amz-meta-aigc-*``, and copy an object onto itself.
    """
    guard = sink.guard(identity(obj, policy, override))
    if guard is None:
        return Examined("new")
    if guard.written is not None and labels_on(obj.metadata) == guard.written:
        return Examined("current", guard.written)
    # In a versioned bucket the label lands on a new version; a redelivered event names the old one, which never
    # carries it (a version's metadata never changes). The completed write-back was remembered under its identity.
    if obj.version_id is not None and sink.is_published(written_key(obj, policy, override)):
        return Examined("current", guard.written)
    if guard.written is None:
        return Examined("unknown")
    return Examined("repair", guard.written)


def is_own_echo(ref: ObjectRef, sink: LabelSink, store: ObjectStore, policy_version: str) -> bool:
    """True when ``ref`` is the copy event of our own write-back and the object still carries what it wrote.

    For the intake (see :func:`echo_key`): a copy event whose guard is set is only a candidate, since an uploader
    can copy the object onto itself with other ``aigc-*`` metadata and keep bucket, key and ETag. So the object's
    headers are read (one HEAD) and its ``aigc-*`` keys compared with those kept with the guard. The
    HEAD comes after the copy the event announces, so whichever copy was last, its own event sees the final
    metadata. Store errors propagate; the caller sends the event to a worker then.
    """
    key = echo_key(ref, policy_version)
    if key is None:
        return False
    guard = sink.guard(key)
    if guard is None or guard.written is None:
        return False
    return labels_on(store.head_object(ref).metadata) == guard.written


def label_object(
    ref: ObjectRef,
    services: Services,
    *,
    batch_id: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Outcome:
    started = clock()
    policy = services.policy
    sink = services.sink
    stages: dict[str, float] = {}
    mark = started
    seen: list[Examined] = []
    overrides: list[Override | None] = []

    def lap(stage: str) -> None:
        nonlocal mark
        now = clock()
        stages[stage] = now - mark
        mark = now

    def accept(obj: StoredObject) -> bool:
        overrides.append(active_override(obj, services))
        seen.append(examine(obj, sink, policy, overrides[-1]))
        wanted = overrides[-1] is None or overrides[-1].kind != "set"  # an override that is set needs no read
        return wanted and seen[-1].found in ("new", "unknown") and obj.size <= services.max_object_bytes

    with tempfile.NamedTemporaryFile(dir=services.spool_dir, prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX) as spool:
        obj, downloaded = services.store.fetch(ref, spool, accept=accept)
        lap("fetch")
        override = overrides[-1] if overrides else active_override(obj, services)
        examined = seen[-1] if seen else examine(obj, sink, policy, override)
        if examined.found == "current":
            return Outcome("already_labelled", detail="object carries a current label for this content", stages=stages)
        if examined.found == "repair" and examined.written is not None:
            return _repair(obj, examined.written, services, stages, lap, override)
        if override is not None and override.kind == "set":
            report = CredentialReport(override.provenance)  # type: ignore[arg-type]
            decision = _overridden(override)
        elif downloaded:
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
    if override is not None:
        record = with_override(record, override)
    labels = metadata_for(record)
    if obj.size <= MULTIPART_COPY_LIMIT:
        metadata_to_write(obj.metadata, labels, uri=_uri(obj))  # refuse now, before anything is published
    key = identity(obj, policy, override)
    published = sink.publish(record.to_dict(), key, labels)
    if not published:
        # Another delivery published first: the object gets what the stream's record says, not our recomputation.
        guard = sink.guard(key)
        if guard is not None and guard.written is not None:
            labels = dict(guard.written)
        else:  # a guard from an earlier release: it keeps ours from now on, so the echo is recognised
            sink.mark_published(key, labels)
    lap("publish")
    status: Status = "labelled" if published else "duplicate"
    if obj.size > MULTIPART_COPY_LIMIT:
        return Outcome(status, record, detail=_TOO_LARGE_TO_COPY, stages=stages)
    if not _write_back(obj, labels, services, override):
        return Outcome("replaced", record, detail=_REPLACED, stages=stages)
    lap("write_back")
    return Outcome(status, record, metadata_written=True, stages=stages)


def _overridden(override: Override) -> Decision:
    """The decision an override that is set stands for (:func:`pipeline.record.with_override` adds the rest)."""
    was = f" (was {override.previous_label})" if override.previous_label else ""
    return Decision(
        override.label,  # type: ignore[arg-type]
        f"Label set by an operator, {override.who}, on {override.at}{was}: {override.reason}",
        label_source="override",
    )


_TOO_LARGE_TO_COPY = "metadata not written: objects above 5 GB need a multipart copy, which is not implemented"
_REPLACED = "object replaced before write-back; its new upload has its own event"


def _uri(obj: StoredObject) -> str:
    return s3_uri(obj.bucket, obj.key) + (f"?versionId={obj.version_id}" if obj.version_id else "")


def _repair(
    obj: StoredObject,
    written: Mapping[str, str],
    services: Services,
    stages: dict[str, float],
    lap: Callable[[str], None],
    override: Override | None = None,
) -> Outcome:
    """Put the published label back on an object whose ``aigc-*`` metadata differs from it (see :func:`examine`)."""
    found = labels_on(obj.metadata)
    detail = (
        f"aigc-label on the object was {found.get('aigc-label', '(none)')[:64]!r}, not the published "
        f"{written.get('aigc-label')!r}"
    )
    if obj.size > MULTIPART_COPY_LIMIT:
        return Outcome("duplicate", detail=f"{detail}; {_TOO_LARGE_TO_COPY}", stages=stages)
    if not _write_back(obj, written, services, override):
        return Outcome("replaced", detail=_REPLACED, stages=stages)
    lap("write_back")
    return Outcome(
        "duplicate", detail=f"{detail}: rewritten from the published label", metadata_written=True, stages=stages
    )


def _write_back(
    obj: StoredObject, labels: Mapping[str, str], services: Services, override: Override | None = None
) -> bool:
    """Copy the object onto itself with ``labels`` (its other user metadata kept); False if it was replaced.

    The identity the copy produces (a new version, or the single-part ETag of a multipart upload) is registered
    with the same metadata, so the copy's own event is recognised; in a versioned bucket the old version's
    ``written`` guard says its write-back completed.
    """
    policy = services.policy
    try:
        etag, version_id = services.store.write_metadata(obj, metadata_to_write(obj.metadata, labels, uri=_uri(obj)))
    except ObjectChanged:
        return False
    suffix = _override_suffix(override)
    if (etag, version_id) != (obj.etag, obj.version_id):
        copy = dedupe_key(obj.bucket, obj.key, version_id, etag, policy.version)
        services.sink.mark_published(copy + suffix, labels)
        if override is not None and services.overrides is not None and etag != obj.etag:
            # a multipart source's copy has another ETag: the override follows the content to it
            services.overrides.put(ObjectVersion(obj.bucket, obj.key, version_id, etag), override)
    if obj.version_id:
        services.sink.mark_published(written_key(obj, policy, override))
    return True
