"""Run the c2pa read in a child process, so a crafted file that hangs or crashes the reader costs one object.

C2PA readers have crashed and hung on crafted files before (see the "bomb" files in the conformance corpus). The
worker keeps one long-lived child per process (start-up is paid once, ~0.3 s) and talks to it over pipes.

The protocol is built so that an answer can never be taken for another object's (a stale answer once made the
pipeline label an AI image ``captured``):

* the child's first line says whether it started (``{"ready": true}``) or why not (bad trust files, a missing
  library): a child that cannot start is a fault of ours (:class:`~pipeline.errors.ReaderUnavailable`, retried),
  never a label;
* each request is ``{"id": N, "path": ...}`` (plus ``"manifest": PATH``, a fetched remote manifest store to
  validate the asset against) and its answer must echo ``N``; a mismatch kills the child;
* anything that interrupts the wait for an answer (the task's soft time limit, any exception) kills the child, so
  no unanswered request is left behind for the next read to receive.

Only a property of the file's bytes may produce an ``unreadable`` report. A child that crashes or hangs on a file
is replaced and the file read once more in the fresh child; only a file that crashes or hangs that one too is
reported unreadable. A read that exceeds the child's CPU limit (``RLIMIT_CPU``, set per read) is a property of the
bytes. An unexpected exception inside the reader is a bug of ours: :class:`~pipeline.errors.ReaderFault`, recorded
as a failure to replay once fixed.

The child runs under an address-space limit (``RLIMIT_AS``), writes no core files, and dies with its parent
(``PR_SET_PDEATHSIG``), so a worker killed mid-read leaves no orphan behind. Its answer line is capped
(:data:`MAX_ANSWER_BYTES`) before the parent parses it.

Run as ``python -m pipeline.adapters.credentials.isolated [--anchors A] [--allowed B] [--config C] [--memory-mb N]
[--cpu-seconds S]`` it is that child.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import structlog

from pipeline.credentials.raw import RawReport, report_from_raw
from pipeline.credentials.trust import TrustFiles
from pipeline.errors import ReaderFault, ReaderUnavailable, RemoteManifestRefused
from pipeline.ports import CredentialReport, ManifestFetcher
from pipeline.remote_manifests import reference_url, xmp_provenance
from pipeline.spool import SPOOL_PREFIX, SPOOL_SUFFIX

log = structlog.get_logger("media_ingest.reader")

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer the parent reads for one file. The biggest manifest store in the conformance corpus is
well under 1 MB of JSON; a file whose answer is larger gets an ``unreadable`` report saying so."""

STARTUP_TIMEOUT = 30.0
"""How long a new child may take to load c2pa and build its trust context before it counts as unable to start."""


@dataclass(frozen=True)
class ReaderLimits:
    """Resource limits of the reader child: the wall-clock timeout per read, and the kernel's limits."""

    timeout: float = 60.0
    """Seconds one read may take (wall clock) before the child is killed."""
    memory_mb: int = 4096
    """Address-space limit of the child (``RLIMIT_AS``); 0: none."""
    cpu_seconds: int | None = None
    """CPU seconds one read may use (``RLIMIT_CPU``, reset before each read); None: the timeout, rounded up."""

    def cpu(self) -> int:
        return self.cpu_seconds if self.cpu_seconds is not None else max(1, int(self.timeout + 0.999))

    def args(self) -> list[str]:
        return ["--memory-mb", str(self.memory_mb), "--cpu-seconds", str(self.cpu())]


def _trust_args(trust: TrustFiles) -> list[str]:
    args: list[str] = []
    for flag, path in (("--anchors", trust.anchors), ("--allowed", trust.allowed), ("--config", trust.config)):
        if path:
            args += [flag, str(path)]
    return args


class _Unanswered(Exception):
    """One attempt got no usable answer from a child that had started: it crashed, hung, or answered wrongly."""

    def __init__(self, what: str, *, mismatch: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.mismatch = mismatch


class _Child:
    """One running reader child: its process, its pipes and the bytes read past the last line."""

    def __init__(self, command: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=0
        )
        self.ready = False
        self._buffer = bytearray()

    def send(self, line: bytes) -> bool:
        """Write one request; False if the child has already gone (its pipe is closed)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line)
        except BrokenPipeError:
            return False
        return True

    def readline(self, timeout: float, limit: int) -> bytes | None:
        """One line, ``b""`` at EOF, None on timeout; raises :class:`_TooLong` past ``limit`` bytes.

        The pipe is unbuffered, so ``select`` sees every byte; bytes past the newline stay for the next call.
        """
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if len(self._buffer) > limit:
                    raise _TooLong()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return b""
                self._buffer += chunk
        end = self._buffer.index(b"\n") + 1
        if end > limit:
            raise _TooLong()
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    def exit_description(self) -> str:
        code = self.proc.wait()
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"signal {signal.Signals(-code).name}"
            return f"signal {-code}"
        return f"exit status {code}"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.close_pipes()

    def close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


class _TooLong(Exception):
    pass


class IsolatedCredentialReader:
    """:class:`pipeline.ports.CredentialReader` that reads in a supervised child process."""

    def __init__(
        self,
        trust: TrustFiles,
        *,
        timeout: float = 60.0,
        limits: ReaderLimits | None = None,
        command: Sequence[str] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        startup_timeout: float = STARTUP_TIMEOUT,
        on_restart: Callable[[str], None] | None = None,
        manifests: ManifestFetcher | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self._limits = limits or ReaderLimits(timeout=timeout)
        self._manifests = manifests
        """Fetches the manifest store of an asset that references a remote one; None: not fetched (the report
        stays ``unreadable``, "remote manifest not fetched")."""
        self._spool_dir = spool_dir
        child = [sys.executable, "-m", __name__, *_trust_args(trust), *self._limits.args()]
        self._command = list(command or child)
        self._max_answer = max_answer_bytes
        self._startup_timeout = startup_timeout
        self._child: _Child | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._on_restart = on_restart
        self.restarts = 0
        """Children replaced after a crash, hang, interruption or mismatch; each is logged (``reader.restarted``)
        and counted through ``on_restart(reason)`` (the worker's ``media_ingest_reader_restarts_total``)."""

    def read(self, path: Path) -> CredentialReport:
        """Read ``path`` in the child; when it references a remote manifest store, fetch that (in this process:
        network, cache and retry belong to the worker) and read the asset once more against the fetched bytes.

        The reference is the one c2pa reports, or, for a file c2pa finds no manifest in, an XMP
        ``dcterms:provenance`` among the unsigned metadata fields (XMP that c2pa does not read: an MP4's ``uuid``
        box, a GIF's XMP extension). Raises :class:`~pipeline.errors.RemoteManifestUnavailable` for a transient
        fetch fault (the task retries); a refused fetch is an ``unreadable`` report whose reason says why, carrying
        ``manifest_url`` and the file's generator traces, which may still label it.
        """
        report = self._read(path, None)
        url = report.manifest_url or xmp_provenance(report)
        if url is None or self._manifests is None:
            return report
        try:
            data = self._manifests.fetch(url)
        except RemoteManifestRefused as exc:
            return replace(report, provenance="unreadable", reason=str(exc), manifest_url=url)
        with tempfile.NamedTemporaryFile(
            dir=self._spool_dir, prefix=SPOOL_PREFIX, suffix=".manifest" + SPOOL_SUFFIX
        ) as manifest:
            manifest.write(data)
            manifest.flush()
            fetched = self._read(path, Path(manifest.name))
        reason = fetched.reason
        if fetched.provenance == "unreadable":
            reason = f"remote manifest {url}: {reason}"
        return replace(
            fetched,
            manifest_url=url,
            reason=reason,
            metadata_fields=fetched.metadata_fields or report.metadata_fields,
        )

    def _read(self, path: Path, manifest: Path | None) -> CredentialReport:
        with self._lock:  # one request at a time per child: threads of one process take turns
            try:
                return self._attempt(path, manifest)
            except _Unanswered as first:
                try:
                    report = self._attempt(path, manifest)  # once more, in a fresh child
                except _Unanswered as second:
                    if first.mismatch or second.mismatch:
                        raise ReaderUnavailable(
                            f"the C2PA reader answered out of turn twice ({second.what}); this is a fault of the "
                            "worker, not of the file: it is retried"
                        ) from None
                    return CredentialReport(
                        "unreadable",
                        reason=f"the C2PA reader failed on this file twice, in two fresh processes ({second.what})",
                    )
                return report

    def _running_child(self) -> _Child:
        if self._child is None or self._child.proc.poll() is not None:
            if self._child is not None:
                self._child.close_pipes()
                self._restarted("died_idle")
            self._child = _Child(self._command)
        return self._child

    def _attempt(self, path: Path, manifest: Path | None = None) -> CredentialReport:
        """One request to a running child. Raises :class:`_Unanswered` if the child failed it (the caller tries once
        more), :class:`ReaderUnavailable` if no child could start, :class:`ReaderFault` for a bug in the reader."""
        child = self._running_child()
        self._next_id += 1
        request_id = self._next_id
        fields: dict[str, object] = {"id": request_id, "path": os.fsdecode(path.absolute())}
        if manifest is not None:
            fields["manifest"] = os.fsdecode(manifest.absolute())
        request = json.dumps(fields).encode() + b"\n"
        try:
            child.send(request)  # a child that already died is found out below, from its first line or its EOF
            if not child.ready:
                self._await_ready(child)
            line = child.readline(self._limits.timeout, self._max_answer)
        except _TooLong:
            self._discard(child, "oversized_answer")
            return CredentialReport(
                "unreadable",
                reason=f"the reader's answer for this file exceeds {self._max_answer} bytes (an oversized manifest)",
            )
        except BaseException:
            # The soft time limit, a signal, a bug: the child may still be working on this request, and its answer
            # must never reach the next read. Kill it; the next read starts a fresh one.
            self._discard(child, "interrupted")
            raise
        if line is None:
            self._discard(child, "timeout")
            raise _Unanswered(f"no answer within {self._limits.timeout:g}s")
        if not line:
            how = child.exit_description()
            over_cpu = how == "signal SIGXCPU"
            self._discard(child, "cpu_limit" if over_cpu else "crash")
            if over_cpu:
                return CredentialReport(
                    "unreadable", reason=f"reading used more than {self._limits.cpu()}s of CPU; reader stopped"
                )
            raise _Unanswered(f"the reader crashed: {how}")
        answer = self._parse(child, line)
        if answer.get("id") != request_id:
            self._discard(child, "mismatch")
            raise _Unanswered(f"answer for request {answer.get('id')!r}, expected {request_id}", mismatch=True)
        if "unavailable" in answer:
            raise ReaderUnavailable(f"the C2PA reader {answer['unavailable']}; check MEDIA_INGEST_SPOOL_DIR")
        if "error" in answer:
            raise ReaderFault(f"the C2PA reader raised an unexpected error on this file: {answer['error']}")
        report = report_from_raw(answer)
        url = answer.get("manifest_url")
        return replace(report, manifest_url=reference_url(url)) if isinstance(url, str) else report

    def _await_ready(self, child: _Child) -> None:
        try:
            line = child.readline(self._startup_timeout, self._max_answer)
        except _TooLong:
            line = b"{}"
        if line is None:
            self._discard(child, "start_timeout")
            raise ReaderUnavailable(f"the C2PA reader did not start within {self._startup_timeout:g}s")
        if not line:
            how = child.exit_description()
            self._discard(child, "start_exit")
            raise ReaderUnavailable(
                f"the C2PA reader exited before it was ready ({how}); see the worker's stderr, and check the "
                "MEDIA_INGEST_TRUST_* files with `media-ingest trust show`"
            )
        hello = self._parse(child, line)
        if hello.get("ready") is not True:
            self._discard(child, "start_failed")
            why = hello.get("error") or repr(hello)
            raise ReaderUnavailable(
                f"the C2PA reader cannot start: {why}; check the MEDIA_INGEST_TRUST_* "
                "files with `media-ingest trust show` and `media-ingest trust refresh`"
            )
        child.ready = True

    def _parse(self, child: _Child, line: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            self._discard(child, "bad_line")
            raise ReaderUnavailable(f"the C2PA reader wrote a line that is not a JSON object: {line[:200]!r}")
        return doc

    def _discard(self, child: _Child, reason: str) -> None:
        child.kill()
        if self._child is child:
            self._child = None
            self._restarted(reason)

    def _restarted(self, reason: str) -> None:
        self.restarts += 1
        log.warning("reader.restarted", reason=reason, restarts=self.restarts)
        if self._on_restart is not None:
            self._on_restart(reason)

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
            if child is not None:
                child.close_pipes()  # EOF on stdin: the child's loop ends
                try:
                    child.proc.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()

    def __del__(self) -> None:
        child = getattr(self, "_child", None)
        if child is not None and child.proc.poll() is None:
            child.proc.kill()


# --- the child ------------------------------------------------------------------------------------------------


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed worker leaves no reader behind."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _limit_resources(memory_mb: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cpu_budget(seconds: int) -> None:
    """Allow this process ``seconds`` more CPU from now: RLIMIT_CPU counts the process's whole life."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _write(out: IO[bytes], doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
    out.flush()


def serve(trust: TrustFiles, *, cpu_seconds: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child's loop: a ready line, then one JSON answer per JSON request, until stdin closes."""
    try:
        from pipeline.adapters.credentials.reader import C2paCredentialReader

        reader = C2paCredentialReader(trust)
    except Exception as exc:  # noqa: BLE001 - bad trust files, a missing native library: say why, then stop
        _write(stdout, {"ready": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})
        return
    _write(stdout, {"ready": True})
    for line in stdin:
        request = json.loads(line)
        _cpu_budget(cpu_seconds)
        result: RawReport
        try:
            manifest = request.get("manifest")
            result = reader.read_raw(Path(request["path"]), Path(manifest) if manifest else None)
        except OSError as exc:  # the spool or fetched-manifest file we wrote: our fault, never the object's
            result = {"unavailable": f"cannot open the spooled file: {exc.strerror}"}
        except Exception as exc:  # noqa: BLE001 - a bug of ours, on this file: the parent records a failure
            result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        _write(stdout, {**result, "id": request["id"]})


def _main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.adapters.credentials.isolated")
    parser.add_argument("--anchors", type=Path)
    parser.add_argument("--allowed", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=60)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    _die_with_parent()
    _limit_resources(args.memory_mb)
    serve(
        TrustFiles(args.anchors, args.allowed, args.config),
        cpu_seconds=args.cpu_seconds,
        stdin=sys.stdin.buffer,
        stdout=sys.stdout.buffer,
    )


if __name__ == "__main__":
    _main(sys.argv[1:])
