"""Which remote C2PA manifest URLs a worker may fetch, and from which addresses. Pure: no sockets, no DNS.

An asset can carry only a reference to its manifest store (c2pa's "remote manifest", XMP ``dcterms:provenance``).
Fetching it is a network call made on behalf of an untrusted upload, so every URL, and every redirect, passes
:func:`check_url`, and every address its host resolves to passes :func:`check_address` before the connection is
made to exactly that address (:mod:`pipeline.adapters.remote_manifest`).

The rules (docs/labels.md, "Remote manifests"):

* the URL's origin (``scheme://host[:port]``) is on the allow-list: the policy file's
  ``[remote_manifests] allowed`` plus ``MEDIA_INGEST_REMOTE_MANIFEST_HOSTS``;
* ``https`` only, unless the allow-list entry names that exact scheme and an IP address (``http://127.0.0.1:8080``,
  for a test or a local mirror);
* no address that is not globally routable (loopback, private, link-local — which holds the cloud metadata
  service 169.254.169.254 —, carrier-grade NAT, documentation, multicast, reserved, IPv4-mapped forms of those),
  nor the known metadata addresses outside those ranges, unless an allow-list entry names that exact scheme and
  address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.errors import RemoteManifestRefused
from pipeline.ports import CredentialReport

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""The largest manifest store fetched (16 MiB); the body is cut off while it is read, whatever it announces."""

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack (also link-local)
        "169.254.170.2",  # AWS ECS task metadata (also link-local)
        "fd00:ec2::254",  # AWS IMDS over IPv6 (also unique-local)
        "100.100.100.200",  # Alibaba Cloud (carrier-grade NAT range)
        "192.0.0.192",  # Oracle Cloud (IETF protocol assignments)
    )
)
"""Cloud metadata services. Each is in a range :func:`check_address` refuses anyway; named here so the rule does
not depend on how Python classifies a range."""

_DEFAULT_PORTS = {"https": 443, "http": 80}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, order=True)
class Origin:
    """``scheme://host:port`` of a URL or an allow-list entry; host lower-cased, port always explicit."""

    scheme: str
    host: str
    port: int

    @property
    def address(self) -> IPAddress | None:
        """The host when it is an IP literal."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _origin(text: str) -> tuple[Origin, str]:
    """The origin of ``text`` and its path with query; ValueError naming what is wrong."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not https")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("no host")
    port = parts.port  # raises ValueError for a port that is not a number in range
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Origin(scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]), path


def parse_origin(entry: str) -> Origin:
    """An allow-list entry ``scheme://host[:port]``; ValueError with the reason for anything else.

    ``http`` is accepted only with an IP address as host (a test server, a local mirror): an ``http`` host name
    would let whoever answers DNS, or sits on the path, choose the manifest.
    """
    origin, path = _origin(entry)
    if path not in ("/", ""):
        raise ValueError(f"{entry!r} has a path; an entry is scheme://host[:port]")
    if origin.scheme != "https" and origin.address is None:
        raise ValueError(f"{entry!r}: http is allowed only for an IP address (http://127.0.0.1:8080)")
    return origin


def parse_origins(entries: str | None) -> tuple[Origin, ...]:
    """Comma-separated allow-list entries (``MEDIA_INGEST_REMOTE_MANIFEST_HOSTS``); ValueError naming a bad one."""
    return tuple(parse_origin(e) for e in (entries or "").split(",") if e.strip())


@dataclass(frozen=True)
class FetchPolicy:
    """What a worker may fetch, how much and how long it waits; built from the policy file and the settings."""

    allowed: tuple[Origin, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    """Seconds without a byte from the server. ``connect_timeout + read_timeout`` bounds the whole fetch, every
    redirect included."""
    max_redirects: int = 3
    cache_ttl_seconds: int = 24 * 3600
    flight_wait_seconds: float = 5.0
    """How long a worker waits for another worker that is fetching the same URL (the single-flight lock) to put it
    in the cache, before it fetches it itself."""

    @property
    def fetch_bound_seconds(self) -> float:
        """The longest one fetch takes, redirects included: also how long a single-flight lock is held at most."""
        return self.connect_timeout + self.read_timeout


MAX_URL_CHARS = 2048
"""The longest manifest reference followed; a longer one is not a URL a manifest service hands out."""


def reference_url(text: str) -> str | None:
    """``text`` if it is a URL a remote manifest may be fetched from at all: ``http(s)://host...``, at most
    :data:`MAX_URL_CHARS`, no whitespace or control characters, a port in range; None otherwise.

    A reference comes from the upload (c2pa's error text, an XMP ``dcterms:provenance``), so it is checked before it
    is used as a URL or written to a record; the allow-list (:func:`check_url`) decides later whether it is fetched.
    """
    url = text.strip()
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        _origin(url)
    except ValueError:
        return None
    return url


def xmp_provenance(report: CredentialReport) -> str | None:
    """The remote manifest an asset without a manifest references in its own XMP (``dcterms:provenance``, the
    ``provenance`` property among the report's ``xmp`` metadata fields), when it is an http(s) URL; else None.

    Only for ``absent`` reports: c2pa itself reports the reference it reads (JPEG, PNG, WebP, TIFF), and a file
    with an embedded manifest, even an unreadable one, is judged by that manifest.
    """
    if report.provenance != "absent":
        return None
    for family, name, text in report.metadata_fields:
        if family == "xmp" and name == "provenance" and (url := reference_url(text)) is not None:
            return url
    return None


@dataclass(frozen=True)
class Target:
    """A URL that passed :func:`check_url`: where to connect and what to ask for."""

    url: str
    origin: Origin
    path: str


def check_url(url: str, policy: FetchPolicy) -> Target:
    """The fetch target of ``url``, or :class:`RemoteManifestRefused` saying why it may not be fetched."""
    try:
        origin, path = _origin(url)
    except ValueError as exc:
        raise RemoteManifestRefused(f"remote manifest URL {url!r} refused: {exc}") from None
    if origin not in policy.allowed:
        listed = ", ".join(str(o) for o in policy.allowed) or "(empty)"
        raise RemoteManifestRefused(
            f"remote manifest URL {url} refused: {origin} is not on the allow-list ({listed}; "
            "[remote_manifests] allowed in the policy file, MEDIA_INGEST_REMOTE_MANIFEST_HOSTS)"
        )
    if origin.scheme != "https" and origin.address is None:
        raise RemoteManifestRefused(f"remote manifest URL {url} refused: not https")
    return Target(url, origin, path)


def _reachable_only_by_name(address: IPAddress) -> bool:
    """True for an address a fetch must never reach unless it is listed itself."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _reachable_only_by_name(mapped)
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 of an IPv4 address
            return _reachable_only_by_name(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address in METADATA_ADDRESSES or not address.is_global or address.is_multicast


def check_address(target: Target, address: str, policy: FetchPolicy) -> IPAddress:
    """The address ``target``'s host resolved to, if a connection to it is allowed; RemoteManifestRefused if not.

    A loopback, private, link-local or metadata address is allowed only when an allow-list entry names exactly
    this scheme, address and port (the target's origin is then that entry, host = the address).
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise RemoteManifestRefused(f"remote manifest URL {target.url} refused: bad address {address!r}") from None
    if not _reachable_only_by_name(ip):
        return ip
    if target.origin.address == ip and target.origin in policy.allowed:
        return ip
    raise RemoteManifestRefused(
        f"remote manifest URL {target.url} refused: {target.origin.host} resolves to {ip}, a loopback, private, "
        "link-local or metadata address"
    )
