"""The label record (what goes on the label stream) and the short form written back as object metadata. Pure.

Both are bounded, whatever the file says: a manifest is written by whoever made the file, and a 400,000-character
generator name or a thousand source types must not become a megabyte on the stream (kept ``label_stream_maxlen``
times over) or a header S3 refuses. Every string and list of a record is capped (:data:`MAX_TEXT_CHARS`,
:data:`MAX_ITEMS`) and so is the whole record (:data:`MAX_RECORD_BYTES`); what was cut is named in its ``truncated``
field. The metadata is ASCII and, with the object's own user metadata, within S3's 2 KB, or the object fails
before anything is published (:func:`metadata_to_write`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pipeline.errors import MetadataNotWritable
from pipeline.policy import Decision, is_locked
from pipeline.ports import CredentialReport, Override
from pipeline.signals import compute_signals

SCHEMA = "media-ingest.label/1"
METADATA_PREFIX = "aigc-"

MAX_TEXT_CHARS = 1024
"""Longest string in a record, in characters (a cut one ends in ``…``). Real claim generators, signer names and
explanations are well under 200; S3 and MinIO keys are at most 1024 bytes, so an object key is never cut."""
MAX_ITEMS = {"digital_source_types": 32, "failures": 64, "signals": 64, "identities": 16}
"""Most entries kept in each list field. The IPTC and C2PA vocabularies have about 20 source types; a file with
more than a handful of validation failures or manifests is rare."""
MAX_NESTED_ITEMS = 32
"""Most entries kept in a list inside a list entry (a signal's ``inceptions``, ``transformations``)."""
MAX_RECORD_BYTES = 16 * 1024
"""Largest record, as the stream stores it (compact JSON, ASCII). Typical records are under 1 KB."""
USER_METADATA_LIMIT = 2048
"""S3's limit on an object's user metadata: UTF-8 bytes of every key and value (counted with the ``x-amz-meta-``
prefix, which is stricter than S3 may count: a refusal before publishing beats a copy S3 refuses after it)."""
ELLIPSIS = "\u2026"

_DESCRIPTIVE = (
    "explanation",
    "signer",
    "generator",
    "reason",
    "content_type",
    "source",
    "override_reason",
    "digital_source_types",
    "failures",
    "signals",
    "identities",
)
"""Fields a record too large even after the per-field caps shrinks first (the object's identity comes last)."""
_SHRINK = (
    *((1024 >> step, step) for step in range(1, 6)),  # descriptive fields: 512 .. 32 characters, lists halved
    (32, None),  # descriptive lists emptied
)
_SHRINK_ALL = (256, 64, 32)
"""Then every string: only reached by absurd identity fields, since the descriptive ones are at their minimum."""


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
    """``c2pa``, ``c2pa-generator``, ``iptc-xmp``, a generator-trace family (``png-text``, ``exif``, ``xmp``,
    ``iptc``, ``container-metadata``) or null: what decided an AI or capture label."""
    policy: str
    checked_at: str
    event_time: str | None
    duration_ms: float
    batch_id: str | None
    source: str | None = None
    """Local path, for ``media-ingest inspect``."""
    manifest_url: str | None = None
    """The remote manifest store's URL when the asset only references one (validated against the fetched store,
    or ``reason`` says why it was not fetched); null for an embedded manifest or none."""
    locked: bool = False
    """True when the label is AI declared by ``valid`` or ``trusted`` credentials (:func:`pipeline.policy.is_locked`):
    a platform may make it permanent. False: appealable (unsigned traces, fingerprint matches, invalid credentials,
    every non-AI label, and overrides)."""
    override: str | None = None
    """``set``: an operator's override (``label_source`` is ``override``); ``revoked``: the pipeline's own judgement
    republished when an override was revoked; null otherwise (docs/operations.md, "Overrides and appeals")."""
    override_reason: str | None = None
    """The operator's ``--reason`` for an override or its revocation."""
    override_by: str | None = None
    """Who overrode or revoked (the operator's user name)."""
    previous_label: str | None = None
    """The label the object had before the override (or, for ``revoked``, the override's label)."""
    truncated: list[str] = field(default_factory=list)
    """Names of the fields that were cut to the caps (sorted; ``[]`` when nothing was): a cut string ends in ``…``,
    a cut list keeps its first entries. A consumer that compares names exactly must check this first."""
    identities: list[dict[str, Any]] = field(default_factory=list)
    """The active manifest's CAWG identity assertions, ``{"assertion", "who", "how", "status", "roles", "codes"}``
    (:class:`pipeline.credentials.identity.Identity`): reported only, they never change ``provenance``, ``failures``
    or ``label``."""
    manifest_provenance: str | None = None
    """The manifest's own validity when c2pa's verdict (``provenance``) differs from it only because c2pa counted
    a CAWG identity failure (c2pa-python 0.38 does); the label is decided on it. Null when they agree."""

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
    """The record of one labelling, bounded (see :func:`bounded`)."""
    return bounded(
        LabelRecord(
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
            manifest_url=report.manifest_url,
            identities=[i.to_dict() for i in report.store.identities] if report.store else [],
            manifest_provenance=report.manifest_provenance,
            locked=is_locked(decision.label, decision.label_source, report.provenance),
        )
    )


def with_override(record: LabelRecord, override: Override) -> LabelRecord:
    """``record`` marked with the operator action behind it (bounded again: the reason is the operator's text).

    ``set``: the override's own record (its decision has ``label_source`` ``override``, so it is never locked).
    ``revoked``: the pipeline's own judgement, republished, with the reason for the revocation and the overridden
    label as ``previous_label``; its ``locked`` is the judgement's own."""
    return bounded(
        replace(
            record,
            override=override.kind,
            override_reason=override.reason,
            override_by=override.who,
            previous_label=override.previous_label,
        )
    )


def encode_record(record: Mapping[str, Any]) -> str:
    """The record as the stream stores it: compact JSON, keys sorted, ASCII (so its length is its size in bytes)."""
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def bounded(record: LabelRecord) -> LabelRecord:
    """``record`` with every string and list within its cap and the whole within :data:`MAX_RECORD_BYTES`.

    First each field is capped on its own (:data:`MAX_TEXT_CHARS`, :data:`MAX_ITEMS`, :data:`MAX_NESTED_ITEMS`).
    A record still too large (it takes many fields near their caps, or text that JSON escapes six bytes a
    character) has its descriptive fields shrunk step by step, then, only if the identity fields alone are absurd,
    every string. The last step leaves at most ~25 strings of 32 characters, so the loop always ends within the cap.
    """
    data = record.to_dict()
    cut = set(data.pop("truncated"))
    data = _capped(data, data.keys(), cut, text=MAX_TEXT_CHARS, step=0)

    def fits() -> bool:
        return len(encode_record({**data, "truncated": sorted(cut)})) <= MAX_RECORD_BYTES

    for text, step in _SHRINK:
        if fits():
            break
        data = _capped(data, _DESCRIPTIVE, cut, text=text, step=step)
    for text in _SHRINK_ALL:
        if fits():
            break
        data = _capped(data, data.keys(), cut, text=text, step=None)
    return LabelRecord(**data, truncated=sorted(cut))


def _capped(
    data: dict[str, Any], fields: Iterable[str], cut: set[str], *, text: int, step: int | None
) -> dict[str, Any]:
    """``data`` with ``fields`` capped to ``text`` characters and their lists to ``MAX_ITEMS >> step`` entries
    (none when ``step`` is None); the names of the fields that changed are added to ``cut``."""
    out = dict(data)
    for name in list(fields):
        items = MAX_ITEMS.get(name, MAX_NESTED_ITEMS)
        limit = 0 if step is None else items >> step
        value, changed = _cap(data[name], text=text, items=limit, nested=min(limit, MAX_NESTED_ITEMS))
        if changed:
            out[name] = value
            cut.add(name)
    return out


def _cap(value: Any, *, text: int, items: int, nested: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        if len(value) <= text:
            return value, False
        return value[: text - 1] + ELLIPSIS, True
    if isinstance(value, list):
        kept = [_cap(item, text=text, items=nested, nested=nested) for item in value[:items]]
        return [v for v, _ in kept], len(value) > items or any(changed for _, changed in kept)
    if isinstance(value, dict):
        capped = {k: _cap(v, text=text, items=nested, nested=nested) for k, v in value.items()}
        return {k: v for k, (v, _) in capped.items()}, any(changed for _, changed in capped.values())
    return value, False


# --------------------------------------------------------------------------------------------------
# Metadata written back onto the object
# --------------------------------------------------------------------------------------------------

_METADATA_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
"""Printable ASCII but space and ``%``: what any S3-compatible store keeps byte for byte in a header value."""


def metadata_value(text: str) -> str:
    """``text`` as an S3 user-metadata value: ASCII, and read back exactly as written.

    Printable ASCII is kept; everything else (non-ASCII, control characters, space, ``%``) is percent-encoded as
    UTF-8 (``urllib.parse.unquote`` decodes it). Not RFC 2047: AWS decodes an encoded word when it stores the
    value and re-encodes it its own way when it returns it, so the value read back would not be the one written,
    and the comparison that recognises our own write-back (pipeline.process) would fail. Spaces are encoded
    because HTTP may trim them at either end of a header value.
    """
    return quote(text, safe=_METADATA_SAFE, errors="backslashreplace")


def metadata_for(record: LabelRecord) -> dict[str, str]:
    """The user metadata written back onto the object: five short ASCII values (:func:`metadata_value`), and a sixth,
    ``aigc-override``, on an overridden object (``set``)."""
    labels = {
        "aigc-label": metadata_value(record.label),
        "aigc-provenance": metadata_value(record.provenance),
        "aigc-policy": metadata_value(record.policy),
        "aigc-checked": metadata_value(record.checked_at),
        "aigc-locked": "true" if record.locked else "false",
    }
    if record.override == "set":
        labels["aigc-override"] = "set"
    return labels


def labels_on(metadata: Mapping[str, str]) -> dict[str, str]:
    """The ``aigc-*`` keys of an object's user metadata (keys lower-case, as :class:`StoredObject` has them)."""
    return {k: v for k, v in metadata.items() if k.startswith(METADATA_PREFIX)}


def merged_metadata(existing: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    """Existing user metadata kept, our ``aigc-*`` keys replaced."""
    kept = {k: v for k, v in existing.items() if not k.startswith(METADATA_PREFIX)}
    return {**kept, **labels}


def user_metadata_bytes(metadata: Mapping[str, str]) -> int:
    """Size of user metadata as :data:`USER_METADATA_LIMIT` counts it."""
    return sum(
        len(f"x-amz-meta-{k}".encode(errors="surrogatepass")) + len(v.encode(errors="surrogatepass"))
        for k, v in metadata.items()
    )


def metadata_to_write(existing: Mapping[str, str], labels: Mapping[str, str], *, uri: str) -> dict[str, str]:
    """The object's whole user metadata after the write-back (:func:`merged_metadata`), checked to be writable.

    Raises :class:`MetadataNotWritable`, naming the object and the fix, when the object's own metadata is not
    ASCII (no S3 client sends it back unchanged) or the total is above S3's limit: the caller checks this before
    it publishes, so such an object gets a failure entry, never a record whose metadata S3 then refuses.
    """
    merged = merged_metadata(existing, labels)
    for key, value in merged.items():
        if not (key.isascii() and value.isascii()):
            raise MetadataNotWritable(
                f"{uri}: its user metadata x-amz-meta-{key} = {value[:60]!r} is not ASCII, and S3 clients only "
                "send ASCII metadata, so the label cannot be written with it kept; re-upload the object with that "
                "key and value ASCII (RFC 2047 or percent-encoded), then `media-ingest replay --error "
                "MetadataNotWritable`"
            )
    total = user_metadata_bytes(merged)
    if total > USER_METADATA_LIMIT:
        own = user_metadata_bytes(merged_metadata(existing, {}))
        raise MetadataNotWritable(
            f"{uri}: its user metadata would be {total} bytes with the aigc-* labels ({own} bytes its own, "
            f"{total - own} the labels), above S3's {USER_METADATA_LIMIT}-byte limit; remove or shorten some of "
            "its own x-amz-meta-* keys (a copy onto itself with MetadataDirective=REPLACE), then `media-ingest "
            "replay --error MetadataNotWritable`"
        )
    return merged
