"""Published trust lists for tests: an ETSI TS 119 602 list of trusted entities (LoTE, JSON) built from the test CA,
shaped as the C2PA trust lists are published (see :mod:`pipeline.credentials.lote`)."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

GRANTED = "http://uri.etsi.org/19602/SvcStatus/granted"
WITHDRAWN = "http://uri.etsi.org/19602/SvcStatus/withdrawn"


def _der(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _names(value: str) -> list[dict[str, str]]:
    return [{"lang": "en", "value": value}]


def service(
    certificate_pem: bytes,
    *,
    name: str = "C2PA claim signing",
    status: str = GRANTED,
    since: str = "2025-06-01T00:00:00Z",
    history: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """One ``TrustedEntityServices`` entry for ``certificate_pem``, with earlier ``(status, since)`` in its history."""
    info = {
        "ServiceName": _names(name),
        "ServiceTypeIdentifier": "http://c2pa.org/TrustList/SvcType/ClaimSigning",
        "ServiceDigitalIdentity": {"X509Certificates": [{"val": _der(certificate_pem)}]},
        "ServiceStatus": status,
        "StatusStartingTime": since,
    }
    past = [{**info, "ServiceStatus": s, "StatusStartingTime": t} for s, t in history]
    return {"ServiceInformation": info, **({"ServiceHistory": past} if past else {})}


def make_lote(
    entities: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    *,
    name: str = "C2PA Trust List",
    sequence: int = 1,
    issued: datetime.datetime | None = None,
    next_update: datetime.timedelta | None = datetime.timedelta(days=90),
    jws: bool = False,
) -> bytes:
    """A LoTE JSON document: ``entities`` are ``(entity name, services)``; ``next_update`` after ``issued`` (None:
    a closed list). With ``jws`` it is the payload of a compact JWS (the signature part is not a real one)."""
    moment = (issued or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)

    def stamp(value: datetime.datetime) -> str:
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")

    doc = {
        "LoTE": {
            "ListAndSchemeInformation": {
                "LoTEVersionIdentifier": 1,
                "LoTESequenceNumber": sequence,
                "LoTEType": "http://c2pa.org/TrustList/LoTEType/C2PATrustList",
                "SchemeOperatorName": _names("C2PA (test)"),
                "SchemeName": _names(name),
                "ListIssueDateTime": stamp(moment),
                "NextUpdate": stamp(moment + next_update) if next_update is not None else None,
            },
            "TrustedEntitiesList": [
                {"TrustedEntityInformation": {"TEName": _names(entity)}, "TrustedEntityServices": list(services)}
                for entity, services in entities
            ],
        }
    }
    body = json.dumps(doc, indent=1).encode()
    if not jws:
        return body

    def b64url(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    return b".".join((b64url(b'{"alg":"ES256"}'), b64url(body), b64url(b"not-a-signature")))
