"""The plain-JSON form of a credentials read, and the report built from it. Pure.

The c2pa read runs in a child process (:mod:`pipeline.adapters.credentials.isolated`); what crosses the pipe is
this JSON form: ``{"provenance": ..., "reason": ..., "doc": <c2pa manifest-store JSON or null>,
"xmp_source_types": [...], "metadata_fields": [[family, name, text], ...]}`` (the last two unsigned metadata, see
:mod:`pipeline.credentials.xmp` and :mod:`pipeline.credentials.traces`). The worker
process parses it here and never loads the c2pa native library itself.
"""

from __future__ import annotations

from typing import Any

from pipeline.credentials.identity import manifest_state
from pipeline.credentials.manifest import parse_store
from pipeline.credentials.traces import bounded_fields
from pipeline.model import PROVENANCES, Provenance
from pipeline.ports import CredentialReport

RawReport = dict[str, Any]


def raw(
    provenance: str, reason: str | None = None, doc: dict[str, Any] | None = None, xmp: list[str] | None = None
) -> RawReport:
    return {"provenance": provenance, "reason": reason, "doc": doc, "xmp_source_types": xmp or []}


def report_from_raw(data: RawReport) -> CredentialReport:
    provenance = data.get("provenance")
    if provenance not in PROVENANCES:
        return CredentialReport("unreadable", reason=f"reader answered an unknown provenance {provenance!r}")
    doc = data.get("doc")
    xmp = tuple(str(t) for t in data.get("xmp_source_types") or ())
    fields = bounded_fields(data.get("metadata_fields"))
    if doc is None:
        return CredentialReport(provenance, reason=data.get("reason"), xmp_source_types=xmp, metadata_fields=fields)
    store = parse_store(doc)
    if not store.manifests:
        return CredentialReport(
            "unreadable", reason="manifest store holds no readable manifest", store=store, metadata_fields=fields
        )
    own = _STATES.get(str(manifest_state(doc, store.validation_state)))
    return CredentialReport(
        provenance,
        store=store,
        reason=data.get("reason"),
        metadata_fields=fields,
        manifest_provenance=own if own is not None and own != provenance else None,
    )


_STATES: dict[str, Provenance] = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}
