"""The label record (what goes on the label stream) and the short form written back as object metadata. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.interfaces import CredentialReport
from pipeline.policy import Decision
from pipeline.signals import compute_signals

SCHEMA = "media-ingest.label/1"
METADATA_PREFIX = "aigc-"


@dataclass(frozen=True)
class LabelRecord:
    """One per processed object version. Field names are an interface: consumers parse them; add, never rename."""

    schema: str
    bucket: str | None
    key: str | None
    version_id: str | None
    etag: str | None
    size: int | None
    content_type: str | None
    label: str
    provenance: str
    explanation: str
    digital_source_types: list[str]
    signals: list[dict[str, Any]]
    """C2PA Asset Rubric signals, one entry per manifest: ``{"manifest", "inceptions", "transformations"}``."""
    signer: str | None
    generator: str | None
    failures: list[str]
    reason: str | None
    label_source: str | None
    """``c2pa``, ``c2pa-generator``, ``iptc-xmp`` or null: what decided an AI or capture label."""
    policy: str
    checked_at: str
    event_time: str | None
    duration_ms: float
    batch_id: str | None
    source: str | None = None
    """Local path, for ``media-ingest inspect``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_record(
    *,
    report: CredentialReport,
    decision: Decision,
    policy_version: str,
    duration_ms: float,
    bucket: str | None = None,
    key: str | None = None,
    version_id: str | None = None,
    etag: str | None = None,
    size: int | None = None,
    content_type: str | None = None,
    event_time: str | None = None,
    batch_id: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> LabelRecord:
    return LabelRecord(
        schema=SCHEMA,
        bucket=bucket,
        key=key,
        version_id=version_id,
        etag=etag,
        size=size,
        content_type=content_type,
        label=decision.label,
        provenance=report.provenance,
        explanation=decision.explanation,
        digital_source_types=list(decision.digital_source_types),
        signals=[s.to_dict() for s in compute_signals(report.store)] if report.store else [],
        signer=decision.signer,
        generator=decision.generator,
        failures=list(decision.failures),
        reason=report.reason,
        label_source=decision.label_source,
        policy=policy_version,
        checked_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        event_time=event_time,
        duration_ms=round(duration_ms, 3),
        batch_id=batch_id,
        source=source,
    )


def metadata_for(record: LabelRecord) -> dict[str, str]:
    """The user metadata written back onto the object (well under S3's 2 KB limit; ASCII only)."""
    return {
        "aigc-label": record.label,
        "aigc-provenance": record.provenance,
        "aigc-policy": record.policy,
        "aigc-checked": record.checked_at,
    }


def merged_metadata(existing: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    """Existing user metadata kept, our ``aigc-*`` keys replaced."""
    kept = {k: v for k, v in existing.items() if not k.startswith(METADATA_PREFIX)}
    return {**kept, **labels}
