"""Where the worker's CPU goes: py-spy samples the worker and its children during the mix burst.

``python -m bench --profile`` attaches ``py-spy record --subprocesses`` (idle threads excluded, so the samples are
CPU, not waiting) to the worker for the burst and writes the collapsed stacks to ``bench/out/profile-worker.txt``
(load them into speedscope or flamegraph.pl). :func:`categorise` sorts each sampled stack into the stage or the
library it was spent in, which is the per-stage CPU breakdown in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# Every stack of a pool process starts in Celery's worker loop, so the rules go from specific to general:
# 1. a frame of one of our stages anywhere in the stack names the category (a botocore call made inside the S3
#    adapter's write_metadata is "S3 CopyObject", whatever botocore does below it);
# 2. otherwise the outermost frame of a known library below Celery's own frames (logging inside Celery's task
#    trace is logging);
# 3. otherwise Celery itself, if it is on the stack.
STAGES: tuple[tuple[str, str], ...] = (
    ("pipeline/adapters/credentials/reader.py", "C2PA read (reader child)"),
    ("write_metadata (pipeline/adapters/s3.py", "S3 CopyObject (boto3)"),
    ("fetch (pipeline/adapters/s3.py", "S3 GET + spool to disk (boto3)"),
    ("pipeline/adapters/credentials/isolated.py", "C2PA reader round trip (worker side)"),
    ("pipeline/adapters/redis_store/", "Redis state (guards, batches, deliveries)"),
    ("pipeline/record.py", "decide + build the record"),
    ("pipeline/policy.py", "decide + build the record"),
    ("workers/metrics.py", "Prometheus metrics"),
    ("workers/lease.py", "lease keeper (unacked renewals)"),
)
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("prometheus_client", "Prometheus metrics"),
    ("structlog", "logging"),
    ("/logging/", "logging"),
    ("redis/", "redis-py (broker traffic)"),
    ("json/", "JSON (messages)"),
)
CELERY = ("celery/", "kombu/", "billiard/", "click/")


def classify(frames: list[str]) -> str:
    """The category of one sampled stack (root first); see the rules above."""
    for text, name in STAGES:
        if any(text in frame for frame in frames):
            return name
    for frame in frames:
        for text, name in LIBRARIES:
            if text in frame:
                return name
    if any(marker in frame for frame in frames for marker in CELERY):
        return "Celery + kombu (task loop, messages, acks)"
    return "other (interpreter, imports, stdlib)"


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampling(pid: int, out: Path, *, rate: int = 200) -> Iterator[bool]:
    """Record the process tree of ``pid`` until the block ends; yields False (and records nothing) without py-spy."""
    exe = _py_spy()
    if exe is None:
        print("profile   skipped: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        yield False
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate), "--format", "raw"]
    proc = subprocess.Popen([*cmd, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield True
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode not in (0, -signal.SIGINT) and not out.exists():
            print(f"profile   py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)


def categorise(collapsed: Path) -> dict[str, float]:
    """Share of the samples per category (descending), from py-spy's collapsed-stack output."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        counts[classify(stack.split(";"))] += int(number)
    total = sum(counts.values()) or 1
    return {name: round(100 * n / total, 1) for name, n in counts.most_common()}
