"""Fetch a remote C2PA manifest store over HTTP(S) with urllib3, under :mod:`pipeline.remote_manifests`' rules.

The host is resolved here and every address it resolves to is checked (:func:`check_address`) before urllib3
connects to one, by that address: the host name goes only into the ``Host`` header, TLS SNI and the certificate
check, so a DNS answer that changes between the check and the connect (DNS rebinding) changes nothing. When an
address cannot be connected to (refused, unreachable, connect timeout), the next checked address is tried, in the
resolver's order (an IPv6 address a host without IPv6 cannot reach, one dead server behind a name); no other
address is ever connected to.
Redirects are not followed by urllib3: each ``Location`` is checked like the first URL. The body is read in chunks
and cut off past the size cap, whatever ``Content-Length`` said; the whole fetch, redirects included, must end
within the connect and read timeouts together. Transient faults raise :class:`RemoteManifestUnavailable`
(retried), the rest :class:`RemoteManifestRefused` (an ``unreadable`` record saying why).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Sequence
from urllib.parse import urljoin

import urllib3
import urllib3.exceptions
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from pipeline.errors import RemoteManifestRefused, RemoteManifestUnavailable
from pipeline.remote_manifests import FetchPolicy, IPAddress, Target, check_address, check_url

Resolve = Callable[[str, int], Sequence[str]]
"""Host and port to the addresses a connection may go to (``socket.getaddrinfo`` by default)."""

_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRANSIENT = frozenset({408, 425, 429})


def resolve(host: str, port: int) -> list[str]:
    """Every address of ``host`` (IPv4 and IPv6), as the system resolver answers."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise RemoteManifestUnavailable(f"cannot resolve {host} now ({exc.strerror})") from None
        raise RemoteManifestRefused(f"cannot resolve {host} ({exc.strerror})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _NotConnected(Exception):
    """No connection to one address (refused, unreachable, connect timeout): the next checked address is tried."""


class HttpManifestFetcher:
    """:class:`pipeline.ports.ManifestFetcher` over urllib3, one request per hop, no pooling across hosts."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolve = resolve,
        user_agent: str = "media-ingest",
        ca_certs: str | None = None,
    ) -> None:
        """``ca_certs``: a PEM bundle to verify servers with instead of the system's CAs (tests)."""
        self._policy = policy
        self._ca_certs = ca_certs
        self._resolve = resolver
        self._user_agent = user_agent

    def fetch(self, url: str) -> bytes:
        policy = self._policy
        current = url
        deadline = time.monotonic() + policy.connect_timeout + policy.read_timeout  # for every hop together
        for _ in range(policy.max_redirects + 1):
            target = check_url(current, policy)
            status, location, body = self._get_any(target, self._addresses(target), deadline)
            if status in _REDIRECTS:
                if not location:
                    raise RemoteManifestRefused(f"remote manifest {current}: HTTP {status} without a Location")
                current = urljoin(current, location)
                continue
            if status >= 500 or status in _TRANSIENT:
                raise RemoteManifestUnavailable(f"remote manifest {current}: HTTP {status}")
            if status != 200:
                raise RemoteManifestRefused(f"remote manifest {current}: HTTP {status}")
            assert body is not None
            return body
        raise RemoteManifestRefused(f"remote manifest {url}: more than {policy.max_redirects} redirects")

    def _addresses(self, target: Target) -> list[IPAddress]:
        """Every address of the target's host, in the resolver's order, once each of them passed the checks."""
        origin = target.origin
        literal = origin.address
        addresses = [str(literal)] if literal is not None else list(self._resolve(origin.host, origin.port))
        if not addresses:
            raise RemoteManifestRefused(f"remote manifest URL {target.url}: {origin.host} has no address")
        checked = [check_address(target, a, self._policy) for a in addresses]
        return list(dict.fromkeys(checked))

    def _get_any(
        self, target: Target, addresses: Sequence[IPAddress], deadline: float
    ) -> tuple[int, str | None, bytes | None]:
        """:meth:`_get` from the first of ``addresses`` that can be connected to; the last address's fault when
        none can. Only a fault before the request was sent moves on: an answer, even 5xx, is the server's."""
        for index, address in enumerate(addresses):
            try:
                return self._get(target, address, deadline)
            except _NotConnected as exc:
                if index == len(addresses) - 1:
                    raise RemoteManifestUnavailable(str(exc)) from None
        raise AssertionError("no address")  # _addresses returns at least one

    def _get(self, target: Target, address: IPAddress, deadline: float) -> tuple[int, str | None, bytes | None]:
        policy = self._policy
        origin = target.origin
        left = deadline - time.monotonic()
        if left <= 0:
            raise RemoteManifestUnavailable(f"remote manifest {target.url}: timed out (redirects took the time)")
        timeout = urllib3.Timeout(connect=min(policy.connect_timeout, left), read=min(policy.read_timeout, left))
        host_header = origin.host if ":" not in origin.host else f"[{origin.host}]"
        if origin.port != (443 if origin.scheme == "https" else 80):
            host_header += f":{origin.port}"
        pool: urllib3.HTTPConnectionPool
        if origin.scheme == "https":
            name = None if origin.address is not None else origin.host
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                origin.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
                server_hostname=name,
                assert_hostname=name or str(address),
            )
        else:
            pool = urllib3.HTTPConnectionPool(str(address), origin.port, timeout=timeout, retries=False, maxsize=1)
        try:
            with pool:
                response = pool.urlopen(
                    "GET",
                    target.path,
                    headers={"Host": host_header, "User-Agent": self._user_agent, "Accept": "application/c2pa"},
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                try:
                    if response.status != 200:
                        return response.status, response.headers.get("Location"), None
                    return 200, None, self._body(target, response, deadline)
                finally:
                    response.release_conn()
        except urllib3.exceptions.SSLError as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, (ssl.SSLCertVerificationError, ssl.CertificateError, HostnameMismatch)):
                raise RemoteManifestRefused(f"remote manifest {target.url}: TLS verification failed ({exc})") from None
            # A reset or EOF during the handshake is the network's fault, not the manifest's: retried.
            raise RemoteManifestUnavailable(f"remote manifest {target.url}: TLS handshake failed ({exc})") from None
        except urllib3.exceptions.NewConnectionError as exc:  # a subclass of the connect timeout in urllib3 2
            raise _NotConnected(f"remote manifest {target.url}: cannot connect to {address} ({exc})") from None
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise _NotConnected(f"remote manifest {target.url}: timed out connecting to {address} ({exc})") from None
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise RemoteManifestUnavailable(f"remote manifest {target.url}: timed out ({exc})") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RemoteManifestUnavailable(f"remote manifest {target.url}: {type(exc).__name__}: {exc}") from None

    def _body(self, target: Target, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        cap = self._policy.max_bytes
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.strip().isdigit() and int(announced) > cap:
            raise RemoteManifestRefused(
                f"remote manifest {target.url} too large: Content-Length {int(announced)} is above the {cap}-byte cap"
            )
        body = bytearray()
        for chunk in response.stream(_CHUNK, decode_content=False):
            body += chunk
            if len(body) > cap:
                raise RemoteManifestRefused(f"remote manifest {target.url} too large: more than {cap} bytes")
            if time.monotonic() > deadline:
                raise RemoteManifestUnavailable(
                    f"remote manifest {target.url}: timed out (not complete within "
                    f"{self._policy.connect_timeout + self._policy.read_timeout:g}s)"
                )
        return bytes(body)
