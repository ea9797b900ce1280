"""`media-ingest trust show` / `trust refresh`, and the start-up trust check.

A list replaces the cached copy only whole, loadable by c2pa and not sharply shorter; a process does not start on
trust files c2pa cannot load (every reader child would exit at start and every object be recorded unreadable).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.credentials.trust import TrustFiles, UnloadableTrust, check_with_c2pa, describe_pem
from pipeline.settings import Settings, SettingsError, load_settings
from tests.conftest import ROOT
from workers.cli.trust_lists import refresh, show

CAI = ROOT.parent / "shared" / "trust" / "cai"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    announce: int | None = None
    """Content-Length to send (default: the body's); a larger one with the body cut short is a broken transfer."""
    location: str | None = None


class Mirror:
    """A loopback HTTP server whose answers the test sets per path (body, announced length, redirect)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                route = routes.get(self.path, Route(b"not found", status=404))
                self.send_response(route.status)
                if route.location:
                    self.send_header("Location", route.location)
                self.send_header("Content-Length", str(route.announce or len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
                self.close_connection = True  # what was not sent by now never comes

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, body: bytes, **kw: object) -> str:
        self.routes[path] = Route(body, **kw)  # type: ignore[arg-type]
        return self.base + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = Mirror()
    yield server
    server.close()


@pytest.fixture
def bundle(pki) -> bytes:
    """Five certificates, each with a label line before it, as the C2PA list is laid out."""
    pem = pki.root_pem + pki.trusted_chain_pem + pki.untrusted_chain_pem
    labelled = b"".join(f"Test certificate {i}\n".encode() + block for i, block in enumerate(_blocks(pem)))
    assert len(describe_pem(labelled, "bundle")) == 5
    return labelled


def _blocks(pem: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----\n"
    return [part + end for part in pem.split(end) if part.strip()]


def _loopback(**kw: object) -> Settings:
    return Settings(trust_allow_loopback_http=True, **kw)  # type: ignore[arg-type]


def _outcome(results) -> list[tuple[str, bool]]:
    return [(r.file, r.ok) for r in results]


def test_show_lists_every_certificate_and_the_ekus(trust, pki):
    loaded = show(Settings(trust_anchors=trust.anchors, trust_allowed=trust.allowed, trust_config=trust.config))
    [anchor] = loaded["certificates"]
    assert anchor["kind"] == "anchor" and anchor["name"].startswith("media-ingest test")
    assert anchor["expired"] is False and len(anchor["sha256"]) == 64
    assert loaded["eku_oids"] == ["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36"]


@pytest.mark.skipif(not CAI.exists(), reason="../shared/trust not present")
def test_show_reads_the_cai_known_certificate_list():
    loaded = show(
        Settings(trust_anchors=CAI / "anchors.pem", trust_allowed=CAI / "allowed.pem", trust_config=CAI / "store.cfg")
    )
    pem_count = sum(p.read_text().count("BEGIN CERTIFICATE") for p in (CAI / "anchors.pem", CAI / "allowed.pem"))
    assert len(loaded["certificates"]) == pem_count
    assert "1.3.6.1.4.1.62558.2.1" in loaded["eku_oids"]  # the C2PA claim-signing EKU
    check_with_c2pa(TrustFiles(CAI / "anchors.pem", CAI / "allowed.pem", CAI / "store.cfg"))


def test_refresh_writes_checked_files_and_keeps_the_last_good_one_on_failure(mirror, tmp_path, pki):
    cache = tmp_path / "cache"
    settings = _loopback(
        trust_anchors_url=mirror.serve("/anchors.pem", pki.root_pem),
        trust_config_url=mirror.serve("/store.cfg", pki.trust_config.encode()),
    )
    assert [(r.file, r.ok, r.detail) for r in refresh(settings, cache)] == [
        ("anchors.pem", True, "1 certificates"),
        ("store.cfg", True, "2 EKU OIDs"),
    ]
    assert (cache / "anchors.pem").read_bytes() == pki.root_pem

    mirror.serve("/anchors.pem", b"<html>maintenance</html>")  # a broken mirror
    del mirror.routes["/store.cfg"]  # and a missing file
    results = refresh(settings, cache)
    assert _outcome(results) == [("anchors.pem", False), ("store.cfg", False)]
    assert all(r.detail.endswith("kept the last good file") for r in results)
    assert (cache / "anchors.pem").read_bytes() == pki.root_pem
    assert (cache / "store.cfg").read_text() == pki.trust_config
    assert sorted(p.name for p in cache.iterdir()) == ["anchors.pem", "store.cfg"]  # no temporary files left


def test_refresh_refuses_a_transfer_cut_short_and_keeps_the_last_good_file(mirror, tmp_path, bundle):
    """The incident: the connection dropped mid-body, ``read(n)`` returned what had come, and that was written."""
    cache = tmp_path / "cache"
    settings = _loopback(trust_anchors_url=mirror.serve("/anchors.pem", bundle))
    assert _outcome(refresh(settings, cache)) == [("anchors.pem", True)]

    mirror.serve("/anchors.pem", bundle[: len(bundle) * 3 // 4], announce=len(bundle))
    [result] = refresh(settings, cache)
    assert not result.ok
    assert result.detail.startswith(f"truncated download: {len(bundle) * 3 // 4} of the {len(bundle)} bytes")
    assert (cache / "anchors.pem").read_bytes() == bundle
    assert [p.name for p in cache.iterdir()] == ["anchors.pem"]


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        pytest.param(lambda b: b[: b.rindex(b"-----END") - 30], "part of a certificate outside", id="in-the-base64"),
        pytest.param(lambda b: b[: b.rindex(b"-----END") + 12], "part of a certificate outside", id="in-the-END-line"),
        pytest.param(lambda b: b[: b.rindex(b"-----BEGIN") + 9], "part of a certificate outside", id="in-BEGIN"),
        pytest.param(lambda b: b[: b.rindex(b"-----BEGIN") + 3], "part of a certificate outside", id="three-dashes"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b.split(b"\n", 1)[1], "a byte-order mark?", id="byte-order-mark"),
    ],
)
def test_half_a_certificate_is_refused_by_refresh_and_at_start(mirror, tmp_path, bundle, damage, why):
    """A mirror that serves a damaged file (its length announced right): ``cryptography`` reads the whole
    certificates and skips the rest; c2pa refuses the file, or (a byte-order mark before the first BEGIN) skips
    that certificate. Nothing to compare the count with: first run."""
    damaged = damage(bundle)
    cache = tmp_path / "cache"
    [result] = refresh(_loopback(trust_anchors_url=mirror.serve("/anchors.pem", damaged)), cache)
    assert not result.ok
    assert why in result.detail
    assert result.detail.endswith("kept the last good file (there is none yet)")
    assert not (cache / "anchors.pem").exists()

    on_disk = tmp_path / "anchors.pem"
    on_disk.write_bytes(damaged)
    with pytest.raises(SettingsError, match=re.escape(f"MEDIA_INGEST_TRUST_ANCHORS={on_disk}: not a PEM bundle")):
        load_settings({"MEDIA_INGEST_TRUST_ANCHORS": str(on_disk)})


def test_a_bundle_only_c2pa_refuses_is_refused_by_refresh_and_at_start(mirror, tmp_path, bundle, pki):
    """A block with an RFC 1421 header line (a mirror's annotation): every certificate parses with
    ``cryptography``, which ignores the header, but c2pa's PEM parser refuses the file, so every reader child
    would exit at start. An empty anchors file likewise (the PEM check skips an empty file)."""
    blocks = _blocks(bundle)
    annotated = b"".join(blocks[:2]) + blocks[2].replace(b"-----\n", b"-----\nComment: mirror copy\n\n", 1)
    assert len(describe_pem(annotated, "annotated")) == 3  # the PEM checks alone accept it

    cache = tmp_path / "cache"
    settings = _loopback(trust_anchors_url=mirror.serve("/anchors.pem", bundle))
    assert _outcome(refresh(settings, cache)) == [("anchors.pem", True)]
    mirror.serve("/anchors.pem", annotated)
    [result] = refresh(settings, cache)
    assert not result.ok and "c2pa cannot load it" in result.detail, result.detail
    assert (cache / "anchors.pem").read_bytes() == bundle
    assert [p.name for p in cache.iterdir()] == ["anchors.pem"]

    on_disk = tmp_path / "anchors.pem"
    for content in (annotated, b"", b"\n"):
        on_disk.write_bytes(content)
        with pytest.raises(SettingsError, match="^" + re.escape(f"MEDIA_INGEST_TRUST_ANCHORS={on_disk}: c2pa cannot")):
            load_settings({"MEDIA_INGEST_TRUST_ANCHORS": str(on_disk)})
    config = tmp_path / "store.cfg"
    config.write_text(pki.trust_config)
    good = tmp_path / "good.pem"
    good.write_bytes(bundle)
    env = {"MEDIA_INGEST_TRUST_ALLOWED": str(good), "MEDIA_INGEST_TRUST_CONFIG": str(config)}
    assert load_settings({**env, "MEDIA_INGEST_TRUST_ANCHORS": str(good)}).trust_anchors == good
    on_disk.write_bytes(annotated)
    with pytest.raises(SettingsError) as refused:  # names the one file c2pa refused, not the three
        load_settings({**env, "MEDIA_INGEST_TRUST_ANCHORS": str(on_disk)})
    assert str(refused.value).startswith(f"MEDIA_INGEST_TRUST_ANCHORS={on_disk}: c2pa cannot load it (")
    with pytest.raises(UnloadableTrust) as info:
        check_with_c2pa(TrustFiles(anchors=on_disk, allowed=good, config=config))
    assert info.value.path == on_disk


def test_refresh_refuses_a_sharp_drop_in_certificates_unless_allowed(mirror, tmp_path, bundle):
    cache = tmp_path / "cache"
    settings = _loopback(trust_anchors_url=mirror.serve("/anchors.pem", bundle))
    assert _outcome(refresh(settings, cache)) == [("anchors.pem", True)]
    two = b"".join(_blocks(bundle)[:2])
    mirror.serve("/anchors.pem", two)  # cut cleanly between two blocks: whole, loadable, and 3 of 5 gone
    [result] = refresh(settings, cache)
    assert not result.ok
    assert result.detail.startswith("2 certificates where the last good copy has 5: more than half gone at once")
    assert "--allow-drop" in result.detail
    assert (cache / "anchors.pem").read_bytes() == bundle

    three = b"".join(_blocks(bundle)[:3])
    mirror.serve("/anchors.pem", three)  # two of five withdrawn: an ordinary update
    assert [(r.ok, r.detail) for r in refresh(settings, cache)] == [(True, "3 certificates (the last good copy had 5)")]
    mirror.serve("/anchors.pem", b"".join(_blocks(bundle)[:1]))
    assert _outcome(refresh(settings, cache, allow_drop=True)) == [("anchors.pem", True)]
    assert len(describe_pem((cache / "anchors.pem").read_bytes(), "cache")) == 1


def test_refresh_downloads_over_https_only(mirror, tmp_path, pki):
    url = mirror.serve("/anchors.pem", pki.root_pem)
    source = tmp_path / "anchors-source.pem"
    source.write_bytes(pki.root_pem)
    cache = tmp_path / "cache"
    for settings in (
        Settings(trust_anchors_url=url),  # plain http without the test setting
        _loopback(trust_anchors_url=source.as_uri()),  # file:// never
        _loopback(trust_anchors_url="http://192.0.2.1/anchors.pem"),  # http to a host that is not loopback
    ):
        started = time.monotonic()
        [result] = refresh(settings, cache)
        assert not result.ok and "is not an https:// URL; trust lists are downloaded over https only" in result.detail
        assert time.monotonic() - started < 5  # refused before any connection is tried
    assert not cache.exists()

    redirect = mirror.serve("/moved.pem", b"", status=302, location="http://192.0.2.1/anchors.pem")
    [result] = refresh(_loopback(trust_anchors_url=redirect), cache)
    assert not result.ok and result.detail.startswith("redirected to 'http://192.0.2.1/anchors.pem' is not an https")
    redirect = mirror.serve("/moved-here.pem", b"", status=302, location=url)
    assert _outcome(refresh(_loopback(trust_anchors_url=redirect), cache)) == [("anchors.pem", True)]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/a.pem", "file:///etc/ssl/a.pem", "ftp://example.com/a.pem"])
def test_a_trust_url_that_is_not_https_stops_the_process_at_start(url):
    with pytest.raises(SettingsError, match=r"^MEDIA_INGEST_TRUST_ALLOWED_URL: .* is not an https:// URL"):
        load_settings({"MEDIA_INGEST_TRUST_ALLOWED_URL": url})
    loopback = {"MEDIA_INGEST_TRUST_ALLOWED_URL": url, "MEDIA_INGEST_TRUST_ALLOW_LOOPBACK_HTTP": "true"}
    if url.startswith("http://127.0.0.1"):
        assert load_settings(loopback).trust_allowed_url == url
    else:
        with pytest.raises(SettingsError, match="is not an https:// URL"):
            load_settings(loopback)
    assert load_settings({"MEDIA_INGEST_TRUST_ALLOWED_URL": "https://example.com/a.pem"}).trust_allowed_url


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refresh_command_exits_1_when_a_download_fails(mirror, tmp_path):
    env = {
        "MEDIA_INGEST_TRUST_ANCHORS_URL": f"{mirror.base}/missing.pem",
        "MEDIA_INGEST_TRUST_CACHE_DIR": str(tmp_path),
        "MEDIA_INGEST_TRUST_ALLOW_LOOPBACK_HTTP": "true",
    }
    result = _cli("trust", "refresh", "--json", env=env)
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert (line["file"], line["ok"]) == ("anchors.pem", False)
    assert "404" in line["detail"]


def test_processes_refuse_to_start_on_a_broken_trust_file_and_refresh_repairs_it(mirror, tmp_path, bundle):
    """The state the incident left behind: the configured anchors file holds half a certificate. Workers (and the
    other commands) stop at start naming it; ``trust refresh`` still runs, and replaces it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "anchors.pem").write_bytes(bundle[: bundle.rindex(b"-----END") - 30])
    env = {
        "MEDIA_INGEST_TRUST_ANCHORS": str(cache / "anchors.pem"),
        "MEDIA_INGEST_TRUST_CACHE_DIR": str(cache),
        "MEDIA_INGEST_TRUST_ANCHORS_URL": mirror.serve("/anchors.pem", bundle),
        "MEDIA_INGEST_TRUST_ALLOW_LOOPBACK_HTTP": "true",
    }
    celery = str(Path(sys.executable).with_name("celery"))
    for start in ([sys.executable, "-m", "workers.cli", "worker"], [celery, "-A", "workers.app", "worker"]):
        worker = subprocess.run(start, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert worker.returncode == 2, worker.stderr
        [line] = worker.stderr.strip().splitlines()
        assert f"configuration error: MEDIA_INGEST_TRUST_ANCHORS={cache / 'anchors.pem'}: not a PEM" in line
    show_run = _cli("trust", "show", env=env)
    assert show_run.returncode == 2 and "MEDIA_INGEST_TRUST_ANCHORS=" in show_run.stderr

    repaired = _cli("trust", "refresh", "--json", env=env)
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout)["ok"] is True
    assert (cache / "anchors.pem").read_bytes() == bundle
    assert _cli("trust", "show", "--json", env=env).returncode == 0


# --- published lists (ETSI TS 119 602 LoTE JSON) ------------------------------------------------------------------


def test_refresh_reads_a_published_list_and_show_reports_it(mirror, tmp_path, pki, capsys):
    from pipeline.adapters.credentials.reader import C2paCredentialReader
    from testkit.media import make_jpeg
    from testkit.signing import DIGITAL_CAPTURE, created, definition, sign
    from testkit.trust_lists import make_lote, service
    from workers.cli import render

    cache = tmp_path / "cache"
    lote = make_lote([("media-ingest tests", [service(pki.root_pem)])], name="C2PA Trust List", sequence=4)
    settings = _loopback(
        trust_anchors_url=mirror.serve("/trust-list.json", lote),
        trust_config_url=mirror.serve("/store.cfg", pki.trust_config.encode()),
    )
    [anchors, _] = refresh(settings, cache)
    assert anchors.ok, anchors.detail
    assert anchors.detail.startswith("C2PA Trust List, sequence 4, issued ")
    assert (
        describe_pem((cache / "anchors.pem").read_bytes(), "x")[0].sha256 == describe_pem(pki.root_pem, "r")[0].sha256
    )

    configured = Settings(trust_anchors=cache / "anchors.pem", trust_config=cache / "store.cfg")
    [listed] = show(configured)["lists"]
    assert (listed["file"], listed["name"], listed["sequence"], listed["stale"]) == (
        "anchors",
        "C2PA Trust List",
        4,
        False,
    )
    render.trust_lists(show(configured))
    assert "anchors: C2PA Trust List, sequence 4, issued " in capsys.readouterr().out

    # c2pa validates against the bundle made from the list: the trusted chain's sample is trusted.
    sample = tmp_path / "photo.jpg"
    sample.write_bytes(sign(pki, make_jpeg(seed=41), "image/jpeg", definition("Cam", "p", [created(DIGITAL_CAPTURE)])))
    reader = C2paCredentialReader(TrustFiles(anchors=cache / "anchors.pem", config=cache / "store.cfg"))
    assert reader.read(sample).provenance == "trusted"


def test_refresh_refuses_an_older_issue_of_a_list_and_keeps_the_newer(mirror, tmp_path, pki):
    from testkit.trust_lists import make_lote, service

    cache = tmp_path / "cache"
    url = mirror.serve("/trust-list.json", make_lote([("A", [service(pki.root_pem)])], sequence=9))
    settings = _loopback(trust_anchors_url=url)
    assert _outcome(refresh(settings, cache)) == [("anchors.pem", True)]
    kept = (cache / "anchors.pem").read_bytes()

    mirror.serve("/trust-list.json", make_lote([("A", [service(pki.root_pem)])], sequence=8))
    [result] = refresh(settings, cache)
    assert not result.ok
    assert "sequence 8 is older than the last good copy's (9)" in result.detail
    assert (cache / "anchors.pem").read_bytes() == kept
    assert json.loads((cache / "anchors.pem.lote.json").read_text())["sequence"] == 9


def test_a_stale_list_shows_as_stale(mirror, tmp_path, pki, capsys):
    import datetime

    from testkit.trust_lists import make_lote, service
    from workers.cli import render

    cache = tmp_path / "cache"
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=100)
    lote = make_lote([("A", [service(pki.root_pem)])], issued=long_ago, next_update=datetime.timedelta(days=90))
    [result] = refresh(_loopback(trust_anchors_url=mirror.serve("/l.json", lote)), cache)
    assert result.ok and "(STALE)" in result.detail
    loaded = show(Settings(trust_anchors=cache / "anchors.pem"))
    assert loaded["lists"][0]["stale"] is True
    render.trust_lists(loaded)
    assert "STALE: past its next update" in capsys.readouterr().out


def test_a_pem_download_replacing_a_published_list_drops_its_information(mirror, tmp_path, pki):
    from testkit.trust_lists import make_lote, service

    cache = tmp_path / "cache"
    url = mirror.serve("/anchors", make_lote([("A", [service(pki.root_pem)])]))
    refresh(_loopback(trust_anchors_url=url), cache)
    assert (cache / "anchors.pem.lote.json").exists()
    mirror.serve("/anchors", pki.root_pem)
    assert _outcome(refresh(_loopback(trust_anchors_url=url), cache)) == [("anchors.pem", True)]
    assert not (cache / "anchors.pem.lote.json").exists()
    assert show(Settings(trust_anchors=cache / "anchors.pem"))["lists"] == []
