"""The reader child process: a hang or a crash costs one object, the next read works."""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

from pipeline.credentials.isolated import IsolatedCredentialReader
from pipeline.memory import InMemoryLabelSink, InMemoryObjectStore
from pipeline.model import ObjectRef
from pipeline.policy import load_policy
from pipeline.process import Services, label_object
from pipeline.settings import DEFAULT_POLICY

# A stand-in child that misbehaves on purpose: hangs on *.hang, dies of SIGSEGV on *.crash, else says "absent".
MISBEHAVING_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    for line in sys.stdin.buffer:
        path = line.decode().strip()
        if path.endswith(".hang"):
            time.sleep(3600)
        if path.endswith(".crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        sys.stdout.write(json.dumps({"provenance": "absent", "reason": "stub", "doc": None}) + "\\n")
        sys.stdout.flush()
    """
)


@pytest.fixture
def misbehaving():
    reader = IsolatedCredentialReader(None, timeout=1.0, command=[sys.executable, "-c", MISBEHAVING_CHILD])  # type: ignore[arg-type]
    yield reader
    reader.close()


def test_a_hanging_read_is_stopped_at_the_timeout_and_the_next_read_works(misbehaving, tmp_path):
    (tmp_path / "bomb.hang").write_bytes(b"x")
    (tmp_path / "ok.jpg").write_bytes(b"x")
    started = time.monotonic()
    report = misbehaving.read(tmp_path / "bomb.hang")
    assert time.monotonic() - started < 10
    assert (report.provenance, report.reason) == ("unreadable", "reading took longer than 1s; reader stopped")
    assert misbehaving.read(tmp_path / "ok.jpg").provenance == "absent"
    assert misbehaving.restarts == 1


def test_a_crashing_read_is_reported_with_the_signal_and_the_next_read_works(misbehaving, tmp_path):
    (tmp_path / "bomb.crash").write_bytes(b"x")
    (tmp_path / "ok.jpg").write_bytes(b"x")
    report = misbehaving.read(tmp_path / "bomb.crash")
    assert (report.provenance, report.reason) == ("unreadable", "the C2PA reader crashed on this file (signal SIGSEGV)")
    assert misbehaving.read(tmp_path / "ok.jpg").provenance == "absent"


def test_a_poison_object_ends_as_a_record_and_the_pipeline_goes_on(misbehaving):
    store, sink = InMemoryObjectStore(), InMemoryLabelSink()
    services = Services(
        store=store, reader=misbehaving, sink=sink, policy=load_policy(DEFAULT_POLICY), max_object_bytes=1 << 20
    )
    store.put("b", "bomb.crash", b"crafted")
    store.put("b", "fine.jpg", b"plain")
    # The spool file's name ends in .obj; the stub keys its behaviour on the path, so wrap the reader.
    outcomes = []
    for key, suffix in (("bomb.crash", ".crash"), ("fine.jpg", ".jpg")):
        services = Services(
            store=store,
            reader=_Suffixed(misbehaving, suffix),
            sink=sink,
            policy=services.policy,
            max_object_bytes=1 << 20,
        )
        outcomes.append(label_object(ObjectRef("b", key), services))
    assert [o.status for o in outcomes] == ["labelled", "labelled"]
    assert [(r["key"], r["label"], r["provenance"]) for r in sink.records] == [
        ("bomb.crash", "unknown", "unreadable"),
        ("fine.jpg", "unknown", "absent"),
    ]
    assert sink.records[0]["reason"] == "the C2PA reader crashed on this file (signal SIGSEGV)"
    assert store.head("b", "bomb.crash").metadata["aigc-provenance"] == "unreadable"


class _Suffixed:
    def __init__(self, inner, suffix):
        self.inner, self.suffix = inner, suffix

    def read(self, path):
        link = path.with_name(path.name + self.suffix)
        link.symlink_to(path)
        try:
            return self.inner.read(link)
        finally:
            link.unlink()


def test_the_real_child_reads_signed_samples(samples, trust):
    reader = IsolatedCredentialReader(trust, timeout=30)
    try:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            for sample in samples:
                path = Path(tmp) / sample.name
                path.write_bytes(sample.data)
                assert reader.read(path).provenance == sample.expect_provenance, sample.name
    finally:
        reader.close()


def test_trust_files_are_reloaded_when_they_change_without_a_restart(samples, pki, tmp_path):
    """A worker's reader picks up a refreshed trust list (new mtime) on its next read."""
    import os
    from pathlib import Path

    from pipeline.credentials.trust import TrustFiles
    from pipeline.samples import make_test_pki

    other = make_test_pki("another test CA")
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(other.root_pem)
    config = tmp_path / "store.cfg"
    config.write_text(pki.trust_config)
    sample = next(s for s in samples if s.name == "ai-generated.jpg")
    path = Path(tmp_path / sample.name)
    path.write_bytes(sample.data)
    reader = IsolatedCredentialReader(TrustFiles(anchors, None, config), timeout=30)
    try:
        assert reader.read(path).provenance == "valid"
        anchors.write_bytes(pki.root_pem)
        os.utime(anchors, (1, 2_000_000_000))  # a refresh always changes the mtime; make sure it differs here
        assert reader.read(path).provenance == "trusted"
        assert reader.restarts == 0
    finally:
        reader.close()
