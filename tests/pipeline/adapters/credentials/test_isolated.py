"""The reader child process: a hang or a crash costs one object, an answer never reaches the wrong object, and a
fault of ours (a child that cannot start, a bug) is never a label."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from pipeline.adapters.credentials.isolated import IsolatedCredentialReader, ReaderLimits
from pipeline.adapters.memory import InMemoryLabelSink, InMemoryObjectStore
from pipeline.credentials.trust import TrustFiles
from pipeline.errors import ReaderFault, ReaderUnavailable
from pipeline.model import ObjectRef
from pipeline.policy import load_policy
from pipeline.process import Services, label_object
from pipeline.settings import DEFAULT_POLICY

# A stand-in child that speaks the reader's protocol and misbehaves on purpose, keyed on the file's name:
#   *.hang      hangs              *.crash      dies of SIGSEGV       *.slow   answers after 1.5 s
#   *.hang1 / *.crash1             do so only the first time (a marker file beside it remembers)
#   *.huge      answers with a line longer than the parent accepts     *.bug    reports an unexpected error
#   *.wrongid   answers with another request's id                      *.cpu    spins on the CPU
# Any other file: "absent", with the file's name as the reason, so a test sees whose answer arrived.
STAND_IN_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    mode = sys.argv[1] if len(sys.argv) > 1 else "ready"
    if mode == "no-start":
        print(json.dumps({"ready": False, "error": "ValueError: trust anchors: truncated PEM"}), flush=True)
        sys.exit(3)
    if mode == "exit":
        sys.exit(1)
    if mode == "cpu":
        from pipeline.adapters.credentials.isolated import _cpu_budget
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        path = request["path"]
        answer = {"provenance": "absent", "reason": os.path.basename(path), "doc": None, "id": request["id"]}
        marker = path + ".seen"
        once = not os.path.exists(marker)
        open(marker, "w").close()
        if path.endswith(".hang") or (path.endswith(".hang1") and once):
            time.sleep(3600)
        if path.endswith(".crash") or (path.endswith(".crash1") and once):
            os.kill(os.getpid(), signal.SIGSEGV)
        if path.endswith(".slow"):
            time.sleep(1.5)
        if path.endswith(".huge"):
            answer["reason"] = "x" * 100_000
        if path.endswith(".bug"):
            answer = {"error": "KeyError: 'manifests'", "id": request["id"]}
        if path.endswith(".wrongid"):
            answer["id"] = request["id"] + 1000
        if path.endswith(".cpu"):
            _cpu_budget(1)
            while True:
                pass
        print(json.dumps(answer), flush=True)
    """
)


def stand_in(mode: str = "ready", *, timeout: float = 1.0, **kwargs: Any) -> IsolatedCredentialReader:
    command = [sys.executable, "-c", STAND_IN_CHILD, mode]
    return IsolatedCredentialReader(
        TrustFiles(), limits=ReaderLimits(timeout=timeout, cpu_seconds=1), command=command, **kwargs
    )


@pytest.fixture
def reader() -> Iterator[IsolatedCredentialReader]:
    reader = stand_in()
    yield reader
    reader.close()


def touch(directory: Path, *names: str) -> list[Path]:
    paths = [directory / name for name in names]
    for path in paths:
        path.write_bytes(b"x")
    return paths


def test_each_answer_reaches_the_file_it_was_asked_for(reader: IsolatedCredentialReader, tmp_path: Path) -> None:
    for path in touch(tmp_path, "a.jpg", "b.jpg", "c.jpg"):
        assert reader.read(path).reason == path.name
    assert reader.restarts == 0


def test_a_file_that_hangs_twice_is_unreadable_and_the_next_read_works(
    reader: IsolatedCredentialReader, tmp_path: Path
) -> None:
    bomb, ok = touch(tmp_path, "bomb.hang", "ok.jpg")
    started = time.monotonic()
    report = reader.read(bomb)
    assert time.monotonic() - started < 10
    assert (report.provenance, report.reason) == (
        "unreadable",
        "the C2PA reader failed on this file twice, in two fresh processes (no answer within 1s)",
    )
    assert reader.read(ok).reason == "ok.jpg"
    assert reader.restarts == 2


def test_every_replaced_child_is_logged_and_counted_with_its_reason(tmp_path: Path) -> None:
    reasons: list[str] = []
    reader = stand_in(on_restart=reasons.append)
    try:
        hang, crash, ok = touch(tmp_path, "a.hang1", "b.crash1", "ok.jpg")
        with structlog.testing.capture_logs() as logs:
            reader.read(hang)
            reader.read(crash)
            reader.read(ok)
    finally:
        reader.close()
    assert reasons == ["timeout", "crash"]
    assert [(e["event"], e["reason"], e["restarts"]) for e in logs if e["event"] == "reader.restarted"] == [
        ("reader.restarted", "timeout", 1),
        ("reader.restarted", "crash", 2),
    ]


def test_a_file_that_crashes_twice_is_unreadable_with_the_signal(
    reader: IsolatedCredentialReader, tmp_path: Path
) -> None:
    bomb, ok = touch(tmp_path, "bomb.crash", "ok.jpg")
    report = reader.read(bomb)
    assert (report.provenance, report.reason) == (
        "unreadable",
        "the C2PA reader failed on this file twice, in two fresh processes (the reader crashed: signal SIGSEGV)",
    )
    assert reader.read(ok).reason == "ok.jpg"


@pytest.mark.parametrize("name", ["photo.crash1", "photo.hang1"])
def test_a_crash_or_hang_that_does_not_happen_again_gives_the_real_answer(
    reader: IsolatedCredentialReader, tmp_path: Path, name: str
) -> None:
    """An OOM kill or a stuck child is our fault, not the file's: the fresh child's answer is the one recorded."""
    (path,) = touch(tmp_path, name)
    report = reader.read(path)
    assert (report.provenance, report.reason) == ("absent", name)
    assert reader.restarts == 1


def test_an_interrupted_read_never_hands_its_answer_to_the_next_file(tmp_path: Path) -> None:
    """The soft time limit strikes while the child is still reading: the next files get their own answers.

    The timeout is long enough that the slow answer would arrive while the next read waits."""
    reader = stand_in(timeout=5)
    try:
        slow, ai, third = touch(tmp_path, "camera.slow", "ai.jpg", "third.jpg")
        with pytest.raises(_SoftLimit), _interrupt_after(0.3):
            reader.read(slow)
        assert [reader.read(p).reason for p in (ai, third)] == ["ai.jpg", "third.jpg"]
        assert reader.restarts == 1
    finally:
        reader.close()


def test_an_answer_with_another_requests_id_is_never_used(reader: IsolatedCredentialReader, tmp_path: Path) -> None:
    (path,) = touch(tmp_path, "x.wrongid")
    with pytest.raises(ReaderUnavailable, match="answered out of turn twice"):
        reader.read(path)
    (ok,) = touch(tmp_path, "ok.jpg")
    assert reader.read(ok).reason == "ok.jpg"


def test_an_oversized_answer_is_unreadable_without_reading_it_all(tmp_path: Path) -> None:
    reader = stand_in(max_answer_bytes=10_000)
    try:
        huge, ok = touch(tmp_path, "x.huge", "ok.jpg")
        report = reader.read(huge)
        assert (report.provenance, report.reason) == (
            "unreadable",
            "the reader's answer for this file exceeds 10000 bytes (an oversized manifest)",
        )
        assert reader.read(ok).reason == "ok.jpg"
    finally:
        reader.close()


def test_an_unexpected_error_in_the_reader_is_a_recorded_fault_not_a_label(
    reader: IsolatedCredentialReader, tmp_path: Path
) -> None:
    (path,) = touch(tmp_path, "x.bug")
    with pytest.raises(ReaderFault, match="KeyError: 'manifests'"):
        reader.read(path)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("no-start", "cannot start: ValueError: trust anchors: truncated PEM"),
        ("exit", r"exited before it was ready \(exit status 1\)"),
    ],
)
def test_a_child_that_cannot_start_is_a_retryable_fault_never_a_label(mode: str, message: str, tmp_path: Path) -> None:
    reader = stand_in(mode)
    try:
        (path,) = touch(tmp_path, "camera.jpg")
        with pytest.raises(ReaderUnavailable, match=message):
            reader.read(path)
    finally:
        reader.close()


def test_a_read_over_its_cpu_limit_is_unreadable(tmp_path: Path) -> None:
    reader = stand_in("cpu", timeout=20)
    try:
        (path,) = touch(tmp_path, "x.cpu")
        started = time.monotonic()
        report = reader.read(path)
        assert (report.provenance, report.reason) == ("unreadable", "reading used more than 1s of CPU; reader stopped")
        assert time.monotonic() - started < 15
    finally:
        reader.close()


# --- the real child (c2pa-python) -------------------------------------------------------------------------------


@pytest.fixture
def sample_files(samples: list[Any], tmp_path: Path) -> dict[str, Path]:
    files = {}
    for sample in samples:
        files[sample.name] = tmp_path / sample.name
        files[sample.name].write_bytes(sample.data)
    return files


@pytest.fixture
def real_reader(trust: TrustFiles) -> Iterator[IsolatedCredentialReader]:
    reader = IsolatedCredentialReader(trust, timeout=30)
    yield reader
    reader.close()


def test_the_real_child_reads_signed_samples(
    real_reader: IsolatedCredentialReader, samples: list[Any], sample_files: dict[str, Path]
) -> None:
    for sample in samples:
        assert real_reader.read(sample_files[sample.name]).provenance == sample.expect_provenance, sample.name


def _child_pid(reader: IsolatedCredentialReader) -> int:
    child = reader._child
    assert child is not None
    return child.proc.pid


def test_a_real_read_interrupted_mid_flight_leaves_no_answer_for_the_next_object(
    real_reader: IsolatedCredentialReader, sample_files: dict[str, Path], trust: TrustFiles
) -> None:
    """The finding: a camera photo's read hit the soft limit, and the next object (an AI image) got its report.

    The child is stopped (SIGSTOP) so that the interruption lands while the request is unanswered, then resumed.
    Each object then goes through ``label_object``, so the records are checked object by object.
    """
    store, sink = InMemoryObjectStore(), InMemoryLabelSink()
    services = Services(
        store=store, reader=real_reader, sink=sink, policy=load_policy(DEFAULT_POLICY), max_object_bytes=1 << 24
    )
    for name in ("camera.jpg", "ai-generated.jpg", "plain.jpg"):
        store.put("b", name, sample_files[name].read_bytes())
    real_reader.read(sample_files["plain.jpg"])  # the child is running
    stalled = _child_pid(real_reader)
    os.kill(stalled, signal.SIGSTOP)
    try:
        with pytest.raises(_SoftLimit), _interrupt_after(0.5):
            label_object(ObjectRef("b", "camera.jpg"), services)
    finally:
        with _suppress_gone():
            os.kill(stalled, signal.SIGCONT)
    assert _gone(stalled), "the interrupted child must be killed"
    for name in ("ai-generated.jpg", "plain.jpg"):
        label_object(ObjectRef("b", name), services)
    assert [(r["key"], r["label"], r["provenance"]) for r in sink.records] == [
        ("ai-generated.jpg", "ai_generated", "trusted"),
        ("plain.jpg", "unknown", "absent"),
    ]


def test_a_real_child_killed_mid_read_is_replaced_and_the_file_gets_its_real_label(
    real_reader: IsolatedCredentialReader, sample_files: dict[str, Path]
) -> None:
    """An OOM kill of the reader is a fault of ours: the object is read again, not labelled unreadable."""
    real_reader.read(sample_files["plain.jpg"])
    victim = _child_pid(real_reader)
    os.kill(victim, signal.SIGSTOP)  # hold it mid-read, then kill it as the OOM killer would
    killer = _after(0.3, lambda: os.kill(victim, signal.SIGKILL))
    try:
        report = real_reader.read(sample_files["camera.jpg"])
    finally:
        killer.join()
    assert report.provenance == "trusted"
    assert report.store is not None and report.store.manifests
    assert real_reader.restarts == 1


def test_a_truncated_trust_bundle_stops_the_real_child_at_start_as_a_retryable_fault(
    trust: TrustFiles, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    assert trust.anchors is not None
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors.read_bytes()[:300])  # half a certificate, as a cut-off download leaves
    reader = IsolatedCredentialReader(TrustFiles(anchors, trust.allowed, trust.config), timeout=30)
    try:
        with pytest.raises(ReaderUnavailable, match="cannot start"):
            reader.read(sample_files["camera.jpg"])
    finally:
        reader.close()


def test_the_real_child_dies_with_its_parent(trust: TrustFiles, sample_files: dict[str, Path]) -> None:
    """A worker process killed mid-read (SIGKILL, hard time limit) leaves no reader child behind."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from pipeline.adapters.credentials.isolated import IsolatedCredentialReader
        from pipeline.credentials.trust import TrustFiles
        reader = IsolatedCredentialReader(TrustFiles(*[Path(p) if p else None for p in {trust_args(trust)!r}]))
        reader.read(Path({str(sample_files["plain.jpg"])!r}))
        print(reader._child.proc.pid, flush=True)
        sys.stdin.read()
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert not _gone(child, within=0.2)
            parent.kill()
            parent.wait()
            assert _gone(child), "the reader child outlived its worker"
        finally:
            parent.kill()


def trust_args(trust: TrustFiles) -> list[str]:
    return [str(p) if p else "" for p in (trust.anchors, trust.allowed, trust.config)]


def test_the_real_child_runs_under_its_memory_limit(trust: TrustFiles, sample_files: dict[str, Path]) -> None:
    reader = IsolatedCredentialReader(trust, limits=ReaderLimits(timeout=30, memory_mb=1024))
    try:
        reader.read(sample_files["plain.jpg"])
        limits = Path(f"/proc/{_child_pid(reader)}/limits").read_text()
        address_space = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert address_space.split()[3:5] == [str(1024 * 1024 * 1024)] * 2
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"]
    finally:
        reader.close()


def test_a_decompression_bomb_header_gets_a_report_not_a_crash(real_reader: IsolatedCredentialReader) -> None:
    """A 100000 x 100000 PNG header: Pillow refuses to open it; the reader answers, and its child lives on."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.png"
        path.write_bytes(_png_header(100_000, 100_000))
        assert path.stat().st_size < 500
        report = real_reader.read(path)
        assert report.provenance == "absent"
        assert real_reader.restarts == 0


def test_a_poison_object_ends_as_a_record_and_the_pipeline_goes_on(
    reader: IsolatedCredentialReader, tmp_path: Path
) -> None:
    store, sink = InMemoryObjectStore(), InMemoryLabelSink()
    policy = load_policy(DEFAULT_POLICY)
    store.put("b", "bomb.crash", b"crafted")
    store.put("b", "fine.jpg", b"plain")
    outcomes = []
    for key, suffix in (("bomb.crash", ".crash"), ("fine.jpg", ".jpg")):
        # The spool file's name ends in .obj; the stand-in keys its behaviour on the path, so wrap the reader.
        services = Services(
            store=store, reader=_Suffixed(reader, suffix), sink=sink, policy=policy, max_object_bytes=1 << 20
        )
        outcomes.append(label_object(ObjectRef("b", key), services))
    assert [o.status for o in outcomes] == ["labelled", "labelled"]
    assert [(r["key"], r["label"], r["provenance"]) for r in sink.records] == [
        ("bomb.crash", "unknown", "unreadable"),
        ("fine.jpg", "unknown", "absent"),
    ]
    assert "(the reader crashed: signal SIGSEGV)" in sink.records[0]["reason"]
    assert store.head("b", "bomb.crash").metadata["aigc-provenance"] == "unreadable"


def test_trust_files_are_reloaded_when_they_change_without_a_restart(
    samples: list[Any], pki: Any, tmp_path: Path
) -> None:
    """A worker's reader picks up a refreshed trust list (new mtime) on its next read."""
    from testkit.pki import make_test_pki

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


# --- helpers -----------------------------------------------------------------------------------------------------


class _SoftLimit(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded, raised by a signal handler in the waiting thread as Celery does."""


class _interrupt_after:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            raise _SoftLimit()

        self.previous = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


def _after(seconds: float, action: Any) -> Any:
    import threading

    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> bool:
        return kind is ProcessLookupError


def _gone(pid: int, *, within: float = 5.0) -> bool:
    """Whether ``pid`` has exited (or is a zombie nobody waited for) within the deadline."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class _Suffixed:
    def __init__(self, inner: IsolatedCredentialReader, suffix: str) -> None:
        self.inner, self.suffix = inner, suffix

    def read(self, path: Path) -> Any:
        link = path.with_name(path.name + self.suffix)
        link.symlink_to(path)
        try:
            return self.inner.read(link)
        finally:
            link.unlink()


def test_stand_in_child_protocol_is_the_real_childs() -> None:
    """The stand-in speaks what serve() speaks: a ready line first, then answers carrying the request id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.jpg"
        path.write_bytes(b"not an image")
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.adapters.credentials.isolated"],
            input=json.dumps({"id": 7, "path": str(path)}).encode() + b"\n",
            capture_output=True,
            timeout=60,
            check=True,
        )
    ready, answer = (json.loads(line) for line in proc.stdout.splitlines())
    assert ready == {"ready": True}
    assert answer["id"] == 7 and answer["provenance"] == "unreadable"


def test_a_spool_file_the_child_cannot_open_is_our_fault_not_a_label(
    real_reader: IsolatedCredentialReader, tmp_path: Path
) -> None:
    """The spool file is ours: a child that cannot open it (removed, a wrong MEDIA_INGEST_SPOOL_DIR) is retried."""
    with pytest.raises(ReaderUnavailable, match="cannot open the spooled file"):
        real_reader.read(tmp_path / "gone.obj")
