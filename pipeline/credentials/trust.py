"""Where the trust material lives. Pure: paths only, so the worker process need not load c2pa to know them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes


@dataclass(frozen=True)
class TrustFiles:
    """Paths of the trust material c2pa validates signers against; any may be None."""

    anchors: Path | None = None
    allowed: Path | None = None
    config: Path | None = None

    def fingerprint(self) -> tuple[tuple[str, float] | None, ...]:
        """Changes when a file is replaced or touched, so a long-lived reader can reload its trust lists."""
        return tuple((str(p), p.stat().st_mtime) if p and p.exists() else None for p in self._paths())

    def _paths(self) -> tuple[Path | None, ...]:
        return (self.anchors, self.allowed, self.config)

    def args(self) -> list[str]:
        """Command-line form for the reader child process (empty string for an unset file)."""
        return [str(p) if p else "" for p in self._paths()]


@dataclass(frozen=True)
class CertificateInfo:
    name: str
    """Common name, else organisation: what a person recognises."""
    subject: str
    issuer: str
    not_after: str
    expired: bool
    sha256: str
    source: str


def describe_pem(data: bytes, source: str, *, now: datetime | None = None) -> list[CertificateInfo]:
    """Every certificate in a PEM bundle, for ``media-ingest trust show``. Raises ValueError if there is none."""
    certs = x509.load_pem_x509_certificates(data)
    moment = now or datetime.now(UTC)
    return [
        CertificateInfo(
            name=_name(cert.subject),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc.isoformat(),
            expired=cert.not_valid_after_utc < moment,
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
            source=source,
        )
        for cert in certs
    ]


def _name(subject: x509.Name) -> str:
    for oid in (x509.NameOID.COMMON_NAME, x509.NameOID.ORGANIZATION_NAME):
        values = subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return subject.rfc4514_string()


def check_trust_config(text: str) -> list[str]:
    """The OIDs of a c2pa trust config (store.cfg): one per line, ``//`` comments allowed. Raises ValueError."""
    oids = [line.split("//")[0].strip() for line in text.splitlines()]
    oids = [oid for oid in oids if oid]
    bad = [oid for oid in oids if not all(part.isdigit() for part in oid.split("."))]
    if not oids or bad:
        raise ValueError(f"not a trust config: {'no OIDs' if not oids else 'bad OID ' + repr(bad[0])}")
    return oids
