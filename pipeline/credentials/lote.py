"""Trust lists in their published form: an ETSI TS 119 602 list of trusted entities (LoTE), JSON. Pure of c2pa.

The C2PA trust lists are published as a LoTE: ``{"LoTE": {"ListAndSchemeInformation": {...},
"TrustedEntitiesList": [...]}}`` (the ``LoTE`` wrapper may be left out), optionally as the payload of a compact JWS
(``header.payload.signature``, JAdES). What is read here:

* ``ListAndSchemeInformation``: ``SchemeName`` (else ``SchemeOperatorName``) as the list's name,
  ``LoTESequenceNumber`` (grows with every issue), ``ListIssueDateTime`` and ``NextUpdate`` (ISO 8601; a list past
  its next update is *stale*), ``LoTEType``;
* per trusted entity (``TrustedEntityInformation.TEName``), its services (``TrustedEntityServices[]
  .ServiceInformation``) with their certificates (``ServiceDigitalIdentity.X509Certificates[].val``, base64 DER)
  and status (``ServiceStatus``, since ``StatusStartingTime``), and each service's ``ServiceHistory`` (earlier
  statuses, kept for ``trust show``, never trusted).

A certificate is on the list while its service's current status is not one of :data:`ENDED_STATUSES` (the last
part of the status URI, ``http://uri.etsi.org/19602/SvcStatus/withdrawn``). Names are multilingual lists
``[{"lang", "value"}]``: the English one, else the first. The JWS signature is not verified here: the list is
fetched over https from the publisher (:func:`pipeline.credentials.trust.check_trust_url`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

ENDED_STATUSES = frozenset({"withdrawn", "revoked", "suspended", "deprecated", "expired", "deprecatedatnationallevel"})


@dataclass(frozen=True)
class ListInfo:
    """What ``trust show`` says of a published list (kept beside the PEM bundle made from it)."""

    name: str
    sequence: int
    issued: str
    """``ListIssueDateTime``, ISO 8601 UTC."""
    next_update: str | None
    """``NextUpdate``, ISO 8601 UTC; None for a closed list (no further issue planned)."""
    operator: str | None = None
    lote_type: str | None = None
    entities: int = 0
    certificates: int = 0
    """Certificates of services currently in force (those in the PEM bundle)."""
    ended: int = 0
    """Certificates of services whose current status ended them (withdrawn, ...): left out of the bundle."""
    history: int = 0
    """Earlier status entries in the services' history."""
    source: str | None = None

    def stale(self, now: datetime | None = None) -> bool:
        """Past its next update: the publisher should have issued a newer one (refresh, or check the source)."""
        if self.next_update is None:
            return False
        return _datetime(self.next_update, "NextUpdate") < (now or datetime.now(UTC))

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {**self.__dict__, "stale": self.stale(now)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ListInfo:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class TrustList:
    info: ListInfo
    pem: bytes
    """The certificates in force, as a PEM bundle c2pa loads (each block preceded by a label line)."""
    names: tuple[str, ...] = field(default=(), compare=False)


def looks_like_lote(data: bytes) -> bool:
    """JSON object or compact JWS (three base64url parts), rather than a PEM bundle."""
    head = data.lstrip()[:1]
    return head == b"{" or (data.count(b".") == 2 and b"-----BEGIN" not in data and b"\n" not in data.strip())


def parse_lote(data: bytes, *, source: str | None = None) -> TrustList:
    """The list's information and its certificates in force; ValueError naming what is wrong."""
    doc = _document(data)
    lote = doc.get("LoTE", doc)
    if not isinstance(lote, Mapping):
        raise ValueError("not a list of trusted entities: LoTE is not an object")
    scheme = lote.get("ListAndSchemeInformation")
    if not isinstance(scheme, Mapping):
        raise ValueError("not a list of trusted entities (ETSI TS 119 602): no ListAndSchemeInformation")
    sequence = scheme.get("LoTESequenceNumber")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise ValueError(f"LoTESequenceNumber must be a positive integer, not {sequence!r}")
    issued = _datetime(scheme.get("ListIssueDateTime"), "ListIssueDateTime")
    next_raw = scheme.get("NextUpdate")
    next_update = None if next_raw is None else _datetime(next_raw, "NextUpdate")
    if next_update is not None and next_update <= issued:
        raise ValueError("NextUpdate is not after ListIssueDateTime")
    entities = lote.get("TrustedEntitiesList") or []
    if not isinstance(entities, list):
        raise ValueError("TrustedEntitiesList must be a list")
    blocks: list[bytes] = []
    names: list[str] = []
    ended = history = 0
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            raise ValueError(f"TrustedEntitiesList[{index}] is not an object")
        info = entity.get("TrustedEntityInformation")
        entity_name = _text(info.get("TEName")) if isinstance(info, Mapping) else None
        name = entity_name or f"entity {index + 1}"
        names.append(name)
        for s_index, service in enumerate(_list(entity.get("TrustedEntityServices"))):
            where = f"TrustedEntitiesList[{index}].TrustedEntityServices[{s_index}]"
            current = service.get("ServiceInformation") if isinstance(service, Mapping) else None
            if not isinstance(current, Mapping):
                raise ValueError(f"{where}: no ServiceInformation")
            history += len(_list(service.get("ServiceHistory")))
            certificates = _certificates(current, where)
            if _ended(current.get("ServiceStatus")):
                ended += len(certificates)
                continue
            label = _text(current.get("ServiceName")) or name
            for cert in certificates:
                blocks.append(f"{label}\n".encode() + cert.public_bytes(serialization.Encoding.PEM))
    list_info = ListInfo(
        name=_text(scheme.get("SchemeName")) or _text(scheme.get("SchemeOperatorName")) or "unnamed list",
        sequence=sequence,
        issued=issued.isoformat(),
        next_update=next_update.isoformat() if next_update else None,
        operator=_text(scheme.get("SchemeOperatorName")),
        lote_type=scheme.get("LoTEType") if isinstance(scheme.get("LoTEType"), str) else None,
        entities=len(entities),
        certificates=len(blocks),
        ended=ended,
        history=history,
        source=source,
    )
    if not blocks:
        raise ValueError(f"{list_info.name} (sequence {sequence}) lists no certificate in force")
    return TrustList(list_info, b"".join(blocks), tuple(names))


def _document(data: bytes) -> Mapping[str, Any]:
    text = data.strip()
    if not text.startswith(b"{") and text.count(b".") == 2:  # compact JWS: the payload is the list
        payload = text.split(b".")[1]
        try:
            text = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("not a list of trusted entities: a JWS whose payload is not base64url") from None
    try:
        doc = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a list of trusted entities: not JSON ({exc})") from None
    if not isinstance(doc, Mapping):
        raise ValueError("not a list of trusted entities: the JSON is not an object")
    return doc


def _certificates(service: Mapping[str, Any], where: str) -> list[x509.Certificate]:
    identity = service.get("ServiceDigitalIdentity")
    entries = _list(identity.get("X509Certificates")) if isinstance(identity, Mapping) else []
    out = []
    for c_index, entry in enumerate(entries):
        value = entry.get("val") if isinstance(entry, Mapping) else entry
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode(str(value), validate=True)))
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: X509Certificates[{c_index}] is not a base64 DER certificate") from None
    return out


def _ended(status: object) -> bool:
    return isinstance(status, str) and status.rstrip("/").rsplit("/", 1)[-1].lower() in ENDED_STATUSES


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    """A multilingual name ``[{"lang", "value"}]`` (English, else the first) or a plain string."""
    if isinstance(value, str):
        return value.strip() or None
    entries = [v for v in _list(value) if isinstance(v, Mapping) and isinstance(v.get("value"), str)]
    english = [v for v in entries if str(v.get("lang", "")).lower().startswith("en")]
    chosen = (english or entries)[:1]
    return str(chosen[0]["value"]).strip() or None if chosen else None


def _datetime(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 date-time, not {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date-time, not {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


LIST_INFO_SUFFIX = ".lote.json"
"""Beside a PEM bundle made from a published list (``anchors.pem.lote.json``): its :class:`ListInfo` as JSON,
written by ``media-ingest trust refresh``."""


def list_info_path(pem: Path) -> Path:
    return pem.with_name(pem.name + LIST_INFO_SUFFIX)


def read_list_info(pem: Path) -> ListInfo | None:
    """The published list a PEM bundle was made from; None for a bundle that was not (or whose file is unreadable)."""
    try:
        data = json.loads(list_info_path(pem).read_text())
        return ListInfo.from_dict(data) if isinstance(data, Mapping) else None
    except (OSError, ValueError, TypeError):
        return None


def stale_notes(files: list[tuple[str, Path | None]], now: datetime | None = None) -> list[str]:
    """One line per configured list that is past its next update, for ``/readyz`` (``files``: (kind, PEM path))."""
    notes = []
    for kind, pem in files:
        info = read_list_info(pem) if pem else None
        if info is not None and info.stale(now):
            notes.append(
                f"trust list {info.name!r} ({kind}, sequence {info.sequence}) is stale: its next update was due "
                f"{info.next_update}; run `media-ingest trust refresh` (docs/operations.md, 'A stale or broken "
                "trust list')"
            )
    return notes
