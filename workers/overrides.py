"""``media-ingest override``: an operator sets one object version's label (an appeal upheld, a mistake corrected),
or revokes that and restores the pipeline's own judgement (docs/operations.md, "Overrides and appeals").

Like the other operator actions it is split in two: :meth:`Overrides.prepare` reads the object and shows what will
happen (nothing changes; ``--dry-run`` stops there), :meth:`Overrides.run` does it. Running keeps the override in
the :class:`~pipeline.ports.OverrideStore` and then labels the object through the workers' own path
(:func:`pipeline.process.label_object`), in this process: one record on the label stream (``label_source``
``override``, or for a revocation the pipeline's judgement marked ``override: revoked``), the metadata rewritten,
and an audit entry. Every later labelling of that content (a redelivery, a backfill, a policy upgrade) consults the
store, so the override stays until it is revoked or the object is replaced by new content.

A label the credentials lock (:func:`pipeline.policy.is_locked`: AI declared by valid or trusted credentials) is
only overridden with ``--force``.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from pipeline.model import LABELS, ObjectRef, StoredObject, parse_s3_uri, s3_uri
from pipeline.policy import Decision, decide, is_locked
from pipeline.ports import AuditLog, CredentialReport, Override, OverrideStore
from pipeline.process import Services, assess_file, label_object
from pipeline.spool import SPOOL_PREFIX, SPOOL_SUFFIX
from workers.ops import OperationRefused, require_reason

log = structlog.get_logger("media_ingest.override")

MAX_REASON_CHARS = 500
"""Longest ``--reason``: it goes on the record, in the explanation and in the audit log."""


@dataclass
class OverridePlan:
    """What an override (or its revocation) will do (``dry_run``) or did."""

    action: str
    """``override`` or ``revoke``."""
    uri: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    label: str
    """The label the object will carry: the operator's, or for a revocation the pipeline's judgement."""
    current_label: str
    """The label the object carries now: an override's, or the pipeline's judgement under the current policy."""
    overridden: bool
    """An override is in force now."""
    judged_label: str
    """The pipeline's own judgement under the current policy."""
    judged_source: str | None
    provenance: str
    locked: bool
    """The pipeline's judgement is locked: overriding it needs ``--force``."""
    force: bool = False
    dry_run: bool = True
    status: str | None = None
    """After running: the labelling's outcome (``labelled``; ``replaced`` if the object changed meanwhile)."""
    record: dict[str, Any] | None = None
    """After running: the record published."""
    note: str = ""
    _object: StoredObject | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class Overrides:
    def __init__(self, services: Services, store: OverrideStore, audit: AuditLog, *, who: str) -> None:
        self._services = services
        self._store = store
        self._audit = audit
        self._who = who

    def prepare(
        self, uri: str, *, label: str | None, revoke: bool, version_id: str | None = None, force: bool = False
    ) -> OverridePlan:
        """Read the object and judge it, as a worker would, and say what the override would do. Raises
        :class:`OperationRefused` (naming the fix) for a bad label, a version that is not the current one, or a
        revocation with no override to revoke."""
        bucket, key = parse_s3_uri(uri, object_key=True)
        if revoke and label is not None:
            raise OperationRefused("--revoke restores the pipeline's own label: give --label or --revoke, not both")
        if not revoke and label not in LABELS:
            raise OperationRefused(f"--label {label!r}: expected one of {', '.join(LABELS)}")
        obj, report, decision = self._judge(ObjectRef(bucket, key, version_id))
        named = s3_uri(bucket, key) + (f"?versionId={version_id}" if version_id else "")
        if version_id:
            current, _ = self._services.store.fetch(ObjectRef(bucket, key), io.BytesIO(), accept=lambda _: False)
            if current.etag != obj.etag:
                raise OperationRefused(
                    f"{named} is not the current version of {s3_uri(bucket, key)} (its ETag is {obj.etag}, the "
                    f"current one's {current.etag}): labels are written on the current object only; override "
                    "the current version (leave out --version-id)"
                )
        existing = self._store.get(obj)
        in_force = existing if existing is not None and existing.kind == "set" else None
        if revoke and in_force is None:
            raise OperationRefused(f"{named} has no override to revoke (see `media-ingest audit`)")
        locked = is_locked(decision.label, decision.label_source, report.provenance)
        plan = OverridePlan(
            action="revoke" if revoke else "override",
            uri=named,
            bucket=bucket,
            key=key,
            version_id=obj.version_id,
            etag=obj.etag,
            label=decision.label if revoke else str(label),
            current_label=(in_force.label or decision.label) if in_force else decision.label,
            overridden=in_force is not None,
            judged_label=decision.label,
            judged_source=decision.label_source,
            provenance=report.provenance,
            locked=locked,
            force=force,
            _object=obj,
        )
        if locked and not revoke:
            plan.note = (
                f"the pipeline's label {decision.label} is locked (declared by {report.provenance} credentials, "
                f"{decision.label_source}): " + ("--force given" if force else "overriding it needs --force")
            )
        return plan

    def run(self, plan: OverridePlan, *, reason: str) -> OverridePlan:
        """Keep the override (or the revocation), then label the object through the workers' path and audit it."""
        action = f"override{' --revoke' if plan.action == 'revoke' else ''}"
        require_reason(action, reason)
        if len(reason) > MAX_REASON_CHARS:
            raise OperationRefused(f"--reason is {len(reason)} characters; keep it under {MAX_REASON_CHARS}")
        if plan.locked and plan.action == "override" and not plan.force:
            raise OperationRefused(
                f"{plan.uri}: {plan.note}; add --force to override a label its credentials declare, and say why "
                "in --reason"
            )
        assert plan._object is not None, "a plan comes from prepare"
        policy = self._services.policy
        override = Override(
            id=uuid.uuid4().hex[:16],
            kind="revoked" if plan.action == "revoke" else "set",
            label=None if plan.action == "revoke" else plan.label,
            reason=reason,
            who=self._who,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            previous_label=plan.current_label,
            provenance=plan.provenance,
            policy=policy.version if plan.action == "revoke" else None,
        )
        audit = {
            "uri": plan.uri,
            "version_id": plan.version_id,
            "etag": plan.etag,
            "label": plan.label,
            "previous_label": plan.current_label,
            "locked": plan.locked,
            "force": plan.force,
            "reason": reason,
            "override_id": override.id,
            "policy": policy.version,
            "count": 1,
        }
        plan.dry_run = False
        self._store.put(plan._object, override)
        try:
            outcome = label_object(ObjectRef(plan.bucket, plan.key, plan.version_id, plan.etag), self._services)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._audit.record(action, self._who, {**audit, "stopped": type(exc).__name__})
            raise
        plan.status = outcome.status
        plan.record = outcome.record.to_dict() if outcome.record is not None else None
        if outcome.detail:
            plan.note = outcome.detail
        self._audit.record(action, self._who, {**audit, "status": outcome.status})
        log.info(
            "override.revoked" if plan.action == "revoke" else "override.set",
            uri=plan.uri,
            etag=plan.etag,
            version_id=plan.version_id,
            label=plan.label,
            previous_label=plan.current_label,
            override_id=override.id,
            who=self._who,
            status=outcome.status,
        )
        return plan

    def _judge(self, ref: ObjectRef) -> tuple[StoredObject, CredentialReport, Decision]:
        """The object's headers and the pipeline's own judgement of its content (what a worker would publish)."""
        services = self._services
        limit = services.max_object_bytes
        with tempfile.NamedTemporaryFile(dir=services.spool_dir, prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX) as spool:
            obj, downloaded = services.store.fetch(ref, spool, accept=lambda o: o.size <= limit)
            if not downloaded:
                report = CredentialReport(
                    "unreadable", reason=f"object is {obj.size} bytes, above the {limit}-byte limit; not downloaded"
                )
                return obj, report, decide(report, services.policy)
            spool.flush()
            report, decision = assess_file(Path(spool.name), services.reader, services.policy)
        return obj, report, decision
