"""The remote-manifest fetch policy: allow-list matching and address checks (pure)."""

from __future__ import annotations

import pytest

from pipeline.errors import RemoteManifestRefused
from pipeline.ports import CredentialReport
from pipeline.remote_manifests import (
    FetchPolicy,
    Origin,
    check_address,
    check_url,
    parse_origin,
    parse_origins,
    reference_url,
    xmp_provenance,
)

ADOBE = FetchPolicy(allowed=(parse_origin("https://cai-manifests.adobe.com"),))


def test_entries_parse_to_explicit_origins() -> None:
    assert parse_origin("https://CAI-manifests.adobe.com") == Origin("https", "cai-manifests.adobe.com", 443)
    assert parse_origin("http://127.0.0.1:8080") == Origin("http", "127.0.0.1", 8080)
    assert parse_origins(" https://a.example, https://b.example:8443 ,") == (
        Origin("https", "a.example", 443),
        Origin("https", "b.example", 8443),
    )


@pytest.mark.parametrize(
    "entry",
    ["cai-manifests.adobe.com", "ftp://x.example", "https://x.example/path", "http://x.example", "https://u:p@x"],
)
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_origin(entry)


def test_listed_https_url_passes() -> None:
    target = check_url("https://cai-manifests.adobe.com/manifests/adobe-urn-uuid-1?x=1", ADOBE)
    assert target.origin == Origin("https", "cai-manifests.adobe.com", 443)
    assert target.path == "/manifests/adobe-urn-uuid-1?x=1"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example/manifests/x", "not on the allow-list"),
        ("https://cai-manifests.adobe.com:8443/m", "not on the allow-list"),  # another port
        ("http://cai-manifests.adobe.com/m", "not on the allow-list"),  # another scheme
        ("https://cai-manifests.adobe.com.evil.example/m", "not on the allow-list"),
        ("file:///etc/passwd", "is not https"),
        ("https://user@cai-manifests.adobe.com/m", "credentials"),
    ],
)
def test_urls_off_the_list_are_refused(url: str, why: str) -> None:
    with pytest.raises(RemoteManifestRefused, match=why):
        check_url(url, ADOBE)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.170.2",
        "100.100.100.200",
        "192.0.0.192",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    target = check_url("https://cai-manifests.adobe.com/m", ADOBE)
    with pytest.raises(RemoteManifestRefused, match="loopback, private, link-local or metadata"):
        check_address(target, address, ADOBE)


def test_public_address_passes() -> None:
    target = check_url("https://cai-manifests.adobe.com/m", ADOBE)
    assert str(check_address(target, "93.184.216.34", ADOBE)) == "93.184.216.34"


def test_a_listed_loopback_address_is_allowed_exactly() -> None:
    policy = FetchPolicy(allowed=(parse_origin("http://127.0.0.1:8080"),))
    target = check_url("http://127.0.0.1:8080/m/x", policy)
    assert str(check_address(target, "127.0.0.1", policy)) == "127.0.0.1"
    with pytest.raises(RemoteManifestRefused, match="not on the allow-list"):
        check_url("http://127.0.0.1:8081/m/x", policy)
    with pytest.raises(RemoteManifestRefused, match="loopback"):
        check_address(target, "127.0.0.2", policy)  # the name resolved elsewhere than the entry says


@pytest.mark.parametrize(
    ("text", "url"),
    [
        (
            "https://cai-manifests.adobe.com/manifests/adobe-urn-uuid-1",
            "https://cai-manifests.adobe.com/manifests/adobe-urn-uuid-1",
        ),
        ("  http://127.0.0.1:8080/m/x\n", "http://127.0.0.1:8080/m/x"),
        ("file:///etc/passwd", None),
        ("javascript:alert(1)", None),
        ("https://", None),
        ("https://user:secret@host.example/m", None),
        ("https://host.example:99999/m", None),
        ("https://host.example/a b", None),
        ("https://host.example/\x7f", None),
        ("https://host.example/" + "a" * 2048, None),
        ("", None),
    ],
)
def test_reference_url_takes_only_plain_http_urls(text: str, url: str | None) -> None:
    assert reference_url(text) == url


def test_the_xmp_provenance_of_a_file_without_a_manifest() -> None:
    url = "https://cai-manifests.adobe.com/manifests/x"
    fields = (("xmp", "CreatorTool", "Draw Things"), ("xmp", "provenance", url))
    assert xmp_provenance(CredentialReport("absent", metadata_fields=fields)) == url
    assert xmp_provenance(CredentialReport("unreadable", metadata_fields=fields)) is None  # judged by its manifest
    assert xmp_provenance(CredentialReport("absent", metadata_fields=(("xmp", "provenance", "file:///x"),))) is None
    assert xmp_provenance(CredentialReport("absent", metadata_fields=(("exif", "provenance", url),))) is None
