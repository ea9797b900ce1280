"""Run the c2pa read in a child process, so a crafted file that hangs or crashes the reader costs one object.

C2PA readers have crashed and hung on crafted files before (see the "bomb" files in the conformance corpus). The
worker keeps one long-lived child per process (start-up is paid once, ~0.3 s) and talks to it over pipes: one
line with a path out, one JSON line back (:mod:`pipeline.credentials.raw`). If no answer comes within the
timeout the child is killed and the object gets an ``unknown``/``unreadable`` record saying so; if the child dies,
the same with its exit status. The next read starts a fresh child.

Run as ``python -m pipeline.credentials.isolated ANCHORS ALLOWED CONFIG`` it is that child.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.credentials.raw import raw, report_from_raw
from pipeline.credentials.trust import TrustFiles
from pipeline.interfaces import CredentialReport


class IsolatedCredentialReader:
    """:class:`pipeline.interfaces.CredentialReader` that reads in a supervised child process."""

    def __init__(self, trust: TrustFiles, *, timeout: float = 60.0, command: Sequence[str] | None = None) -> None:
        self._command = list(command or [sys.executable, "-m", "pipeline.credentials.isolated", *trust.args()])
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                self.restarts += 1
            self._proc = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=0
            )
        return self._proc

    def read(self, path: Path) -> CredentialReport:
        with self._lock:  # one request at a time per child: threads of one process take turns
            proc = self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(os.fsencode(path.absolute()) + b"\n")
            except BrokenPipeError:
                return self._failed(proc)
            line = _readline(proc.stdout, self._timeout)
            if line is None:
                self._kill(proc)
                return CredentialReport(
                    "unreadable", reason=f"reading took longer than {self._timeout:g}s; reader stopped"
                )
            if not line:
                return self._failed(proc)
            return report_from_raw(json.loads(line))

    def _failed(self, proc: subprocess.Popen[bytes]) -> CredentialReport:
        code = proc.wait()
        _close_pipes(proc)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return CredentialReport("unreadable", reason=f"the C2PA reader crashed on this file ({how})")

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait()
        _close_pipes(proc)

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                _close_pipes(self._proc)  # EOF on stdin: the child's loop ends
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._kill(self._proc)
            self._proc = None

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def _readline(stream: object, timeout: float) -> bytes | None:
    """One line from the child, ``b""`` at EOF, None on timeout. Unbuffered pipe, so select sees every byte."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    buf = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        deadline = _now() + timeout
        while True:
            remaining = deadline - _now()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b""
            buf += chunk
            if buf.endswith(b"\n"):
                return bytes(buf)


def _now() -> float:
    return time.monotonic()


def serve(trust: TrustFiles) -> None:
    """The child's loop: a path per line in, a JSON report per line out, until stdin closes."""
    from pipeline.credentials.reader import C2paCredentialReader

    reader = C2paCredentialReader(trust)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        path = Path(os.fsdecode(line.rstrip(b"\n")))
        try:
            result = reader.read_raw(path)
        except OSError as exc:
            result = raw("unreadable", f"cannot open the spooled file: {exc.strerror}")
        out.write(json.dumps(result, separators=(",", ":")).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    anchors, allowed, config = (Path(a) if a else None for a in ([*sys.argv[1:4], "", "", ""])[:3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    serve(TrustFiles(anchors, allowed, config))
