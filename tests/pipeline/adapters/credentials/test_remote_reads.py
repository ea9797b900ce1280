"""Assets whose manifest store is remote (c2pa Builder, not embedded): fetched by the worker from a real HTTP
server on loopback, validated against the asset in the real reader child, and labelled like an embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader
from pipeline.adapters.redis_store.manifests import CachedManifestFetcher
from pipeline.adapters.remote_manifest import HttpManifestFetcher
from pipeline.credentials.trust import TrustFiles
from pipeline.errors import RemoteManifestUnavailable
from pipeline.policy import decide, load_policy
from pipeline.record import build_record
from pipeline.remote_manifests import FetchPolicy, parse_origin
from pipeline.settings import DEFAULT_POLICY
from testkit.media import make_jpeg
from testkit.pki import TestPKI
from testkit.signing import TRAINED_ALGORITHMIC_MEDIA, created, definition, sign_remote
from tests.support.manifest_server import ManifestServer, manifest_server

AI = definition("Example Generator", "remote.jpg", [created(TRAINED_ALGORITHMIC_MEDIA)])


@pytest.fixture
def server() -> Iterator[ManifestServer]:
    with manifest_server() as running:
        yield running


def remote_asset(pki: TestPKI, server: ManifestServer, tmp_path: Path, name: str = "ai") -> tuple[Path, str]:
    url = server.url(f"/m/{name}")
    asset, store = sign_remote(pki, make_jpeg(seed=7), "image/jpeg", AI, url)
    server.manifests[name] = store
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(asset)
    return path, url


def reader_for(trust: TrustFiles, server: ManifestServer, **limits: float) -> IsolatedCredentialReader:
    policy = FetchPolicy(allowed=(parse_origin(server.origin),), **limits)  # type: ignore[arg-type]
    return IsolatedCredentialReader(trust, timeout=30, manifests=HttpManifestFetcher(policy))


def test_a_remote_manifest_is_fetched_validated_and_labelled(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    path, url = remote_asset(pki, server, tmp_path)
    reader = reader_for(trust, server)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert server.requests == ["/m/ai"]
    assert (report.provenance, report.manifest_url, report.reason) == ("trusted", url, None)
    policy = load_policy(DEFAULT_POLICY)
    decision = decide(report, policy)
    record = build_record(report=report, decision=decision, policy_version=policy.version, duration_ms=1.0)
    assert (record.label, record.provenance, record.manifest_url) == ("ai_generated", "trusted", url)
    assert record.digital_source_types == ["trainedAlgorithmicMedia"]
    assert [signal["inceptions"] for signal in record.signals] == [["fullyGenAIMedia"]]


def test_without_a_fetcher_the_reference_stays_unreadable(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    path, url = remote_asset(pki, server, tmp_path)
    reader = IsolatedCredentialReader(trust, timeout=30)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert (report.provenance, report.reason, report.manifest_url) == (
        "unreadable",
        f"remote manifest not fetched ({url})",
        url,
    )
    assert server.requests == []


def test_a_manifest_of_another_asset_is_invalid(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    path, url = remote_asset(pki, server, tmp_path)
    _, other_store = sign_remote(pki, make_jpeg(seed=8), "image/jpeg", AI, url)  # signed over other pixels
    server.manifests["ai"] = other_store
    reader = reader_for(trust, server)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert (report.provenance, report.manifest_url) == ("invalid", url)
    assert report.store is not None and report.store.failure_codes


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (b"<html>not found</html>", "not a C2PA manifest store"),
        (None, "HTTP 404"),
    ],
)
def test_permanent_failures_are_unreadable_with_the_reason(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path, served: bytes | None, reason: str
) -> None:
    path, url = remote_asset(pki, server, tmp_path)
    if served is None:
        del server.manifests["ai"]
    else:
        server.manifests["ai"] = served
    reader = reader_for(trust, server)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert report.provenance == "unreadable"
    assert report.manifest_url == url
    assert report.reason is not None and reason in report.reason and url in report.reason


def test_an_oversized_manifest_is_unreadable(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    path, _ = remote_asset(pki, server, tmp_path)
    reader = reader_for(trust, server, max_bytes=1024)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert report.provenance == "unreadable"
    assert report.reason is not None and "too large" in report.reason


def test_a_stalled_server_is_a_transient_fault(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    path, _ = remote_asset(pki, server, tmp_path)
    server.manifests.pop("ai")
    reader = reader_for(trust, server, read_timeout=0.5)
    stalled = path.with_name("stalled.jpg")
    asset, _ = sign_remote(pki, make_jpeg(seed=9), "image/jpeg", AI, server.url("/stall"))
    stalled.write_bytes(asset)
    try:
        with pytest.raises(RemoteManifestUnavailable, match="timed out"):
            reader.read(stalled)
    finally:
        reader.close()


def test_a_reference_off_the_list_sends_no_request(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    with manifest_server() as unlisted:
        path, _ = remote_asset(pki, unlisted, tmp_path)
        reader = reader_for(trust, server)
        try:
            report = reader.read(path)
        finally:
            reader.close()
        assert unlisted.requests == []
    assert report.provenance == "unreadable"
    assert report.reason is not None and "not on the allow-list" in report.reason


def test_the_redis_cache_fetches_a_popular_manifest_once(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path, redis_client: redis.Redis, key_prefix: str
) -> None:
    path, _ = remote_asset(pki, server, tmp_path)
    policy = FetchPolicy(allowed=(parse_origin(server.origin),))
    cached = CachedManifestFetcher(
        HttpManifestFetcher(policy), redis_client, policy=policy, prefix=key_prefix, ttl_seconds=60
    )
    reader = IsolatedCredentialReader(trust, timeout=30, manifests=cached)
    try:
        first, second = reader.read(path), reader.read(path)
    finally:
        reader.close()
    assert first.provenance == second.provenance == "trusted"
    assert server.requests == ["/m/ai"]
    keys = redis_client.keys(f"{key_prefix}:manifest:*")
    assert len(keys) == 1 and 0 < redis_client.ttl(keys[0]) <= 60


def test_an_xmp_dcterms_provenance_reference_is_followed(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    """A reference written by hand into the XMP packet (not by c2pa's Builder) is what c2pa reports too."""
    import io

    from PIL import Image

    url = server.url("/m/elsewhere")
    _, server.manifests["elsewhere"] = sign_remote(pki, make_jpeg(seed=4), "image/jpeg", AI, url)
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    out = io.BytesIO()
    with Image.open(io.BytesIO(make_jpeg(seed=5))) as image:
        image.save(out, "JPEG", xmp=xmp)
    path = tmp_path / "xmp-reference.jpg"
    path.write_bytes(out.getvalue())
    reader = reader_for(trust, server)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert server.requests == ["/m/elsewhere"]
    # The store was signed over other pixels: validated against this asset, it is invalid, never borrowed.
    assert (report.provenance, report.manifest_url) == ("invalid", url)


def test_the_fetched_store_leaves_no_file_in_the_spool_dir(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    path, _ = remote_asset(pki, server, tmp_path)
    policy = FetchPolicy(allowed=(parse_origin(server.origin),))
    reader = IsolatedCredentialReader(trust, timeout=30, manifests=HttpManifestFetcher(policy), spool_dir=spool)
    try:
        assert reader.read(path).provenance == "trusted"
    finally:
        reader.close()
    assert list(spool.iterdir()) == []


def xmp_jpeg(tmp_path: Path, name: str, description: str) -> Path:
    """A JPEG (no C2PA) whose XMP packet holds ``description``'s properties, written by hand."""
    import io

    from PIL import Image

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/">{description}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()
    out = io.BytesIO()
    with Image.open(io.BytesIO(make_jpeg(seed=6))) as image:
        image.save(out, "JPEG", xmp=xmp)
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def test_a_refused_reference_keeps_the_generator_traces(
    trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    """Off the allow-list, the fetch is refused; the file's own trace still labels it AI, and the record says both."""
    with manifest_server() as unlisted:
        url = unlisted.url("/m/elsewhere")
        path = xmp_jpeg(
            tmp_path,
            "traced-remote.jpg",
            f"<dcterms:provenance>{url}</dcterms:provenance><xmp:CreatorTool>Draw Things</xmp:CreatorTool>",
        )
        reader = reader_for(trust, server)
        try:
            report = reader.read(path)
        finally:
            reader.close()
        assert unlisted.requests == []
    assert (report.provenance, report.manifest_url) == ("unreadable", url)
    assert ("xmp", "CreatorTool", "Draw Things") in report.metadata_fields
    policy = load_policy(DEFAULT_POLICY)
    decision = decide(report, policy)
    record = build_record(report=report, decision=decision, policy_version=policy.version, duration_ms=1.0)
    assert (record.label, record.generator, record.label_source) == ("ai_generated", "Draw Things", "xmp")
    assert record.manifest_url == url
    assert record.reason is not None and "not on the allow-list" in record.reason and url in record.reason


@pytest.mark.parametrize(
    "reference",
    [
        "https://" + "a" * 3000 + ".example/m",
        "https://user:secret@manifests.example/m",
        "file:///etc/passwd",  # c2pa itself reports no reference for this one: absent
    ],
)
def test_a_reference_that_is_not_an_http_url_is_not_used(
    trust: TrustFiles, server: ManifestServer, tmp_path: Path, reference: str
) -> None:
    """c2pa reports any URL its parser takes from the upload's XMP; one that is too long or carries credentials is
    neither fetched nor written to the record, nor echoed in the reason."""
    path = xmp_jpeg(tmp_path, "bad-reference.jpg", f"<dcterms:provenance>{reference}</dcterms:provenance>")
    reader = reader_for(trust, server)
    try:
        report = reader.read(path)
    finally:
        reader.close()
    assert server.requests == []
    assert report.manifest_url is None
    if reference.startswith("file:"):
        assert report.provenance == "absent"
        return
    assert report.provenance == "unreadable"
    assert report.reason == (
        f"remote manifest reference refused: not a usable http(s) URL ({len(reference)} characters; at most 2048, "
        "no credentials, whitespace or control characters)"
    )


def provenance_xmp(url: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/"><dcterms:provenance>{url}</dcterms:provenance>'
        "<xmp:CreatorTool>Draw Things</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def test_a_dcterms_provenance_c2pa_does_not_report_is_followed(
    pki: TestPKI, trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    """A MOV's XMP in ``moov/udta/XMP_``: c2pa finds no manifest and reports no reference (absent); the reference
    in the XMP the trace reader parsed is fetched under the same rules and the asset validated against it."""
    from testkit.traces import container, with_udta_xmp

    url = server.url("/m/elsewhere")
    _, server.manifests["elsewhere"] = sign_remote(pki, make_jpeg(seed=4), "image/jpeg", AI, url)
    path = tmp_path / "reference.mov"
    path.write_bytes(with_udta_xmp(container("mov", {}), provenance_xmp(url)))
    without = IsolatedCredentialReader(trust, timeout=30)  # what c2pa and the trace reader say on their own
    reader = reader_for(trust, server)
    try:
        alone = without.read(path)
        report = reader.read(path)
    finally:
        without.close()
        reader.close()
    assert (alone.provenance, alone.manifest_url) == ("absent", None)
    assert ("xmp", "provenance", url) in alone.metadata_fields
    assert server.requests == ["/m/elsewhere"]
    # The store was signed over another asset: validated against this one, it is never borrowed.
    assert report.manifest_url == url
    assert report.provenance == "invalid"
    assert report.store is not None and report.store.failure_codes


def test_a_dcterms_provenance_off_the_list_is_not_requested_and_the_trace_labels(
    trust: TrustFiles, server: ManifestServer, tmp_path: Path
) -> None:
    from testkit.traces import container, with_udta_xmp

    with manifest_server() as unlisted:
        url = unlisted.url("/m/x")
        path = tmp_path / "unlisted.mov"
        path.write_bytes(with_udta_xmp(container("mov", {}), provenance_xmp(url)))
        reader = reader_for(trust, server)
        try:
            report = reader.read(path)
        finally:
            reader.close()
        assert unlisted.requests == []
    assert (report.provenance, report.manifest_url) == ("unreadable", url)
    assert report.reason is not None and "not on the allow-list" in report.reason
    policy = load_policy(DEFAULT_POLICY)
    decision = decide(report, policy)
    assert (decision.label, decision.generator, decision.label_source) == ("ai_generated", "Draw Things", "xmp")
