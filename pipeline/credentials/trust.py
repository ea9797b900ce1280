"""Where the trust material lives and whether it is whole. Pure of c2pa, so the worker process need not load it.

A trust bundle that c2pa cannot load stops every reader child at start, and every object read meanwhile would be
recorded ``unreadable``: so the bundles are checked strictly here (a truncated download leaves half a certificate,
which ``cryptography`` skips but c2pa refuses) and, by :func:`check_with_c2pa`, by building c2pa's own Context in a
short child process, both at process start and by ``media-ingest trust refresh`` before it replaces a file.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import urllib.parse
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
    """Every certificate in a PEM bundle, for ``media-ingest trust show`` and the checks.

    Raises ValueError if there is none, or if anything outside the complete certificate blocks is a piece of one
    (:func:`check_pem_leftovers`): ``cryptography`` silently skips a trailing half certificate, c2pa does not.
    """
    check_pem_leftovers(data)
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


_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/=]{16,}")
_CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})


def check_pem_leftovers(data: bytes) -> None:
    """Raise ValueError naming the line if a PEM bundle holds a piece of a block, or a block that is no certificate.

    Text between blocks is allowed (the C2PA list labels each certificate with a line of text), but not what a
    truncated or spliced download leaves there: a BEGIN or END line without its pair, a cut boundary line (only
    dashes), or a line of base64; nor a BEGIN line that does not start its line, which ``cryptography`` reads and
    c2pa's PEM parser skips.
    """
    start = 0
    for block in _BLOCK.finditer(data):
        line = data.count(b"\n", 0, block.start()) + 1
        if block.start() > 0 and data[block.start() - 1 : block.start()] != b"\n":
            raise ValueError(
                f"line {line}: text before -----BEGIN on its line (a byte-order mark? indentation?); "
                "c2pa would skip that certificate"
            )
        _check_gap(data, start, block.start())
        if block.group(1) not in _CERTIFICATE_LABELS:
            raise ValueError(f"line {line}: a {block.group(1).decode()} block; a trust bundle holds certificates only")
        start = block.end()
    _check_gap(data, start, len(data))


def _check_gap(data: bytes, start: int, end: int) -> None:
    first = data.count(b"\n", 0, start) + 1
    for offset, raw_line in enumerate(data[start:end].split(b"\n")):
        line = raw_line.strip()
        if line.startswith(b"-----") or (line and not line.strip(b"-")) or _BASE64_LINE.fullmatch(line):
            raise ValueError(
                f"line {first + offset}: part of a certificate outside a complete BEGIN/END block "
                "(a truncated or damaged download?)"
            )


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


class UnloadableTrust(ValueError):
    """c2pa cannot build its Context from these trust files; :attr:`path` is the file it refused, if one alone."""

    def __init__(self, path: Path | None, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


# Run in the child: the parent (a worker, the intake, the CLI) never loads the c2pa native library.
_C2PA_CHECK = (
    "import sys; from pipeline.adapters.credentials.reader import check_trust_main; "
    "sys.exit(check_trust_main(sys.argv[1:]))"
)


def check_with_c2pa(trust: TrustFiles, *, timeout: float = 60.0) -> None:
    """Build the c2pa Context a reader child would build from ``trust``, in a short child process (~0.1 s).

    Raises :class:`UnloadableTrust` if c2pa refuses the files (a reader child would exit at start on them), if
    the check crashes, or if it takes longer than ``timeout``.
    """
    command = [sys.executable, "-c", _C2PA_CHECK, *trust.args()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise UnloadableTrust(None, f"the c2pa trust check took longer than {timeout:g}s") from None
    if done.returncode == 0:
        return
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        path, message = (Path(answer["file"]) if answer["file"] else None), str(answer["error"])
    except (IndexError, KeyError, TypeError, ValueError):
        last = (done.stderr.strip().splitlines() or [""])[-1]
        path, message = None, f"the c2pa trust check failed (exit status {done.returncode}): {last}".rstrip(": ")
    raise UnloadableTrust(path, message)


def check_trust_url(url: str, *, allow_loopback_http: bool = False) -> None:
    """Raise ValueError unless ``url`` is https:// (or http:// to a loopback host when ``allow_loopback_http``).

    A trust list decides which signers are ``trusted``: fetched over plain http anyone on the path could swap it.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(parts.hostname):
        return
    raise ValueError(f"{url!r} is not an https:// URL; trust lists are downloaded over https only")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
