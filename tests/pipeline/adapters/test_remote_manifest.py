"""The remote-manifest HTTP adapter against real HTTP servers on loopback: limits, redirects, address checks."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.remote_manifest import HttpManifestFetcher
from pipeline.errors import RemoteManifestRefused, RemoteManifestUnavailable
from pipeline.remote_manifests import FetchPolicy, check_url, parse_origin, parse_origins
from tests.support.manifest_server import ManifestServer, manifest_server, tls_files


@pytest.fixture
def server() -> Iterator[ManifestServer]:
    with manifest_server() as running:
        running.manifests["ok"] = b"\x00\x00\x00\x10jumbmanifest"
        yield running


@pytest.fixture
def unlisted() -> Iterator[ManifestServer]:
    with manifest_server() as running:
        yield running


def fetcher(server: ManifestServer, **limits: float) -> HttpManifestFetcher:
    return HttpManifestFetcher(FetchPolicy(allowed=(parse_origin(server.origin),), **limits))  # type: ignore[arg-type]


def test_fetches_a_listed_manifest(server: ManifestServer) -> None:
    assert fetcher(server).fetch(server.url("/m/ok")) == b"\x00\x00\x00\x10jumbmanifest"
    assert server.requests == ["/m/ok"]


def test_a_server_off_the_list_receives_no_request(server: ManifestServer, unlisted: ManifestServer) -> None:
    with pytest.raises(RemoteManifestRefused, match="not on the allow-list"):
        fetcher(server).fetch(unlisted.url("/m/ok"))
    assert unlisted.requests == []


def test_a_redirect_off_the_list_is_not_followed(server: ManifestServer, unlisted: ManifestServer) -> None:
    with pytest.raises(RemoteManifestRefused, match="not on the allow-list"):
        fetcher(server).fetch(server.url(f"/redirect?to={unlisted.url('/m/ok')}"))
    assert server.requests == [f"/redirect?to={unlisted.url('/m/ok')}"]
    assert unlisted.requests == []


def test_a_redirect_on_the_list_is_followed(server: ManifestServer) -> None:
    assert fetcher(server).fetch(server.url("/redirect?to=/m/ok")) == server.manifests["ok"]
    assert server.requests == ["/redirect?to=/m/ok", "/m/ok"]


def test_redirect_loops_end(server: ManifestServer) -> None:
    with pytest.raises(RemoteManifestRefused, match="more than 3 redirects"):
        fetcher(server).fetch(server.url("/loop"))


def test_oversized_body_is_cut_off_while_reading(server: ManifestServer) -> None:
    with pytest.raises(RemoteManifestRefused, match="too large: more than 1048576 bytes"):
        fetcher(server, max_bytes=1024 * 1024).fetch(server.url("/big"))


def test_announced_oversize_is_refused_before_reading(server: ManifestServer) -> None:
    server.manifests["large"] = b"x" * 2048
    with pytest.raises(RemoteManifestRefused, match="Content-Length 2048 is above the 1024-byte cap"):
        fetcher(server, max_bytes=1024).fetch(server.url("/m/large"))


def test_a_stalled_server_times_out_transiently(server: ManifestServer) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteManifestUnavailable, match="timed out"):
        fetcher(server, read_timeout=0.5).fetch(server.url("/stall"))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, RemoteManifestUnavailable),
        (503, RemoteManifestUnavailable),
        (429, RemoteManifestUnavailable),
        (404, RemoteManifestRefused),
        (403, RemoteManifestRefused),
    ],
)
def test_status_codes(server: ManifestServer, status: int, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"HTTP {status}"):
        fetcher(server).fetch(server.url(f"/status/{status}"))


def test_connection_refused_is_transient() -> None:
    with manifest_server() as stopped:
        origin = stopped.origin
    with pytest.raises(RemoteManifestUnavailable, match="cannot connect"):
        HttpManifestFetcher(FetchPolicy(allowed=parse_origins(origin))).fetch(origin + "/m/ok")


def test_a_listed_name_that_resolves_to_a_private_address_is_not_connected() -> None:
    """Every address the resolver answers is checked before the connection; one private answer refuses all."""
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["93.184.216.34", "10.0.0.7"]

    fetch = HttpManifestFetcher(FetchPolicy(allowed=parse_origins("https://manifests.example")), resolver=resolver)
    with pytest.raises(RemoteManifestRefused, match=r"resolves to 10\.0\.0\.7"):
        fetch.fetch("https://manifests.example/m/x")
    assert asked == [("manifests.example", 443)]


def test_https_by_name_connects_to_the_checked_address_and_verifies_the_name(tmp_path: Path) -> None:
    """The connection goes to the address that was checked; the name is only in SNI, Host and the certificate check.

    The address check itself refuses loopback for a name (see above), so this drives the request step directly
    with the name's origin and the loopback address, as a resolved public address would be used.
    """
    ca, cert, key = tls_files(tmp_path, ["manifests.test"])
    with manifest_server(tls=(cert, key)) as server:
        server.manifests["ok"] = b"manifest"
        port = int(server.origin.rsplit(":", 1)[1])
        policy = FetchPolicy(allowed=(parse_origin(f"https://manifests.test:{port}"),))
        target = check_url(f"https://manifests.test:{port}/m/ok", policy)
        fetcher = HttpManifestFetcher(policy, ca_certs=str(ca))
        deadline = time.monotonic() + 10
        assert fetcher._get(target, ipaddress.ip_address("127.0.0.1"), deadline) == (200, None, b"manifest")
        wrong = check_url(
            f"https://other.test:{port}/m/ok", FetchPolicy(allowed=parse_origins(f"https://other.test:{port}"))
        )
        with pytest.raises(RemoteManifestRefused, match="TLS verification failed"):
            fetcher._get(wrong, ipaddress.ip_address("127.0.0.1"), deadline)
        assert server.requests == ["/m/ok"]


def test_https_to_a_listed_address_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    _, cert, key = tls_files(tmp_path, ["127.0.0.1"])
    with manifest_server(tls=(cert, key)) as server:
        server.manifests["ok"] = b"manifest"
        fetch = HttpManifestFetcher(FetchPolicy(allowed=parse_origins(server.origin)))  # the system's CAs
        with pytest.raises(RemoteManifestRefused, match="TLS verification failed"):
            fetch.fetch(server.url("/m/ok"))
        ca = tmp_path / "ca.pem"
        trusted = HttpManifestFetcher(FetchPolicy(allowed=parse_origins(server.origin)), ca_certs=str(ca))
        assert trusted.fetch(server.url("/m/ok")) == b"manifest"


def _check_any_address(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Let loopback addresses pass the address check for a name, as resolved public addresses would; the addresses
    checked are recorded."""
    from pipeline.adapters import remote_manifest

    checked: list[str] = []

    def check(target: object, address: str, policy: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        checked.append(address)
        return ipaddress.ip_address(address)

    monkeypatch.setattr(remote_manifest, "check_address", check)
    return checked


def test_each_checked_address_is_tried_in_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name resolves to two addresses; nothing listens on the first (127.0.0.2), the second serves."""
    checked = _check_any_address(monkeypatch)
    ca, cert, key = tls_files(tmp_path, ["manifests.test"])
    with manifest_server(tls=(cert, key)) as server:
        server.manifests["ok"] = b"manifest"
        port = int(server.origin.rsplit(":", 1)[1])
        fetch = HttpManifestFetcher(
            FetchPolicy(allowed=parse_origins(f"https://manifests.test:{port}")),
            resolver=lambda host, port: ["127.0.0.2", "127.0.0.1"],
            ca_certs=str(ca),
        )
        assert fetch.fetch(f"https://manifests.test:{port}/m/ok") == b"manifest"
        assert server.requests == ["/m/ok"]
    assert checked == ["127.0.0.2", "127.0.0.1"]  # both checked before the first connection


def test_when_no_checked_address_connects_the_fault_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    _check_any_address(monkeypatch)
    with manifest_server() as stopped:
        port = int(stopped.origin.rsplit(":", 1)[1])
    fetch = HttpManifestFetcher(
        FetchPolicy(allowed=parse_origins(f"https://manifests.test:{port}")),
        resolver=lambda host, port: ["127.0.0.2", "127.0.0.3"],
    )
    with pytest.raises(RemoteManifestUnavailable, match=r"cannot connect to 127\.0\.0\.3"):
        fetch.fetch(f"https://manifests.test:{port}/m/ok")


def test_a_server_error_from_the_first_address_is_not_retried_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a failed connection moves on: an answer (here 503) is the server's, retried later as a whole."""
    checked = _check_any_address(monkeypatch)
    ca, cert, key = tls_files(tmp_path, ["manifests.test"])
    with manifest_server(tls=(cert, key)) as server:
        port = int(server.origin.rsplit(":", 1)[1])
        fetch = HttpManifestFetcher(
            FetchPolicy(allowed=parse_origins(f"https://manifests.test:{port}")),
            resolver=lambda host, port: ["127.0.0.1", "127.0.0.1", "127.0.0.2"],
            ca_certs=str(ca),
        )
        with pytest.raises(RemoteManifestUnavailable, match="HTTP 503"):
            fetch.fetch(f"https://manifests.test:{port}/status/503")
        assert server.requests == ["/status/503"]
    assert checked == ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
