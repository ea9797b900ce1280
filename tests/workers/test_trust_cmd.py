"""`media-ingest trust show` / `trust refresh`: what is loaded, and atomic refresh that keeps the last good list."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from pipeline.settings import Settings
from tests.conftest import ROOT
from workers.trust_cmd import refresh, show

CAI = ROOT.parent / "shared" / "trust" / "cai"


@pytest.fixture
def served(tmp_path):
    """A loopback HTTP server over a directory the test fills."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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


def test_refresh_writes_checked_files_and_keeps_the_last_good_one_on_failure(served, tmp_path, pki):
    www, base = served
    (www / "anchors.pem").write_bytes(pki.root_pem)
    (www / "store.cfg").write_text(pki.trust_config)
    cache = tmp_path / "cache"
    settings = Settings(trust_anchors_url=f"{base}/anchors.pem", trust_config_url=f"{base}/store.cfg")
    assert [(r.file, r.ok, r.detail) for r in refresh(settings, cache)] == [
        ("anchors.pem", True, "1 certificates"),
        ("store.cfg", True, "2 EKU OIDs"),
    ]
    assert (cache / "anchors.pem").read_bytes() == pki.root_pem

    (www / "anchors.pem").write_text("<html>maintenance</html>")  # a broken mirror
    (www / "store.cfg").unlink()  # and a missing file
    results = refresh(settings, cache)
    assert [(r.file, r.ok) for r in results] == [("anchors.pem", False), ("store.cfg", False)]
    assert all(r.detail.endswith("kept the last good file") for r in results)
    assert (cache / "anchors.pem").read_bytes() == pki.root_pem
    assert (cache / "store.cfg").read_text() == pki.trust_config
    assert sorted(p.name for p in cache.iterdir()) == ["anchors.pem", "store.cfg"]  # no temporary files left


def test_refresh_command_exits_1_when_a_download_fails(served, tmp_path):
    _, base = served
    env = {
        **os.environ,
        "MEDIA_INGEST_TRUST_ANCHORS_URL": f"{base}/missing.pem",
        "MEDIA_INGEST_TRUST_CACHE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "trust", "refresh", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert (line["file"], line["ok"]) == ("anchors.pem", False)
    assert "404" in line["detail"]
