"""The real services a run uses, started here: an embedded Valkey, moto's S3+SQS server, the intake and the worker.

Everything talks over loopback exactly as in production (S3 notifications -> SQS -> ``media-ingest intake sqs`` ->
Celery on Redis -> ``media-ingest worker``), with the test PKI's root as the trust anchor. The bucket sends every
``s3:ObjectCreated:*`` event by default, as docs/operations.md tells operators to configure it, so the worker also
receives the ``ObjectCreated:Copy`` of its own metadata write-back and large multipart uploads are seen at all; the
benchmark counts those echo tasks in the worker's CPU because production pays them too. ``events="put"`` subscribes
to ``ObjectCreated:Put`` only, to show what the echo costs (multipart uploads are then never seen).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig

from bench import latency, procs
from pipeline.model import OUTCOMES
from pipeline.settings import Settings
from testkit.pki import TestPKI
from workers.embedded import MOTO_CREDENTIALS, embedded_redis, free_port, moto_server, stop_process, wait_for_http

BUCKET = "bench"
QUEUE = "bench-events"
MULTIPART = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=64 * 1024**2, max_concurrency=2)
"""Uploads above 64 MB go multipart, as real clients send large videos (and as S3 requires above 5 GB)."""


@dataclass
class Servers:
    """Valkey + moto on loopback, the settings pointing at them, and plain clients for the benchmark's own use."""

    settings: Settings
    env: dict[str, str]
    s3: Any
    sqs: Any
    redis: Any
    workdir: Path
    moto_pid: int | None = None
    valkey_pid: int | None = None
    latency_pid: int | None = None
    """The latency proxy's process, when the run models S3's network latency."""


@contextlib.contextmanager
def servers(stack: contextlib.ExitStack, workdir: Path, pki: TestPKI, *, latency_ms: float = 0) -> Iterator[Servers]:
    """Start Valkey and moto, write the trust files, and yield clients; everything stops when ``stack`` closes.

    With ``latency_ms`` the pipeline and the naive loop reach moto through :mod:`bench.latency` (each S3 and SQS
    request that much later); the benchmark's own clients (uploads, checks) still talk to moto directly.
    """
    import redis

    redis_url = stack.enter_context(embedded_redis())
    endpoint = stack.enter_context(moto_server(log=workdir / "moto.log"))
    pipeline_endpoint = endpoint
    latency_pid = None
    if latency_ms > 0:
        port = free_port()
        latency_pid = stack.enter_context(latency.proxy(port, int(endpoint.rsplit(":", 1)[1]), latency_ms)).pid
        pipeline_endpoint = f"http://127.0.0.1:{port}"
    trust = pki.write(workdir / "trust")
    settings = Settings(
        redis_url=redis_url,
        s3_endpoint_url=pipeline_endpoint,
        trust_anchors=trust.anchors,
        trust_allowed=trust.allowed,
        trust_config=trust.config,
        log_level="WARNING",
        log_format="json",
        sqs_wait_seconds=5,
    )
    env = {**os.environ, **MOTO_CREDENTIALS, **settings.to_environ()}
    session = boto3.session.Session(
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=MOTO_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    table = procs.snapshot()
    yield Servers(
        settings=settings,
        env=env,
        s3=session.client("s3", endpoint_url=endpoint),
        sqs=session.client("sqs", endpoint_url=endpoint),
        redis=redis.Redis.from_url(redis_url),
        workdir=workdir,
        moto_pid=procs.find(table, os.getpid(), "workers.embedded moto"),
        valkey_pid=procs.find(table, os.getpid(), "valkey"),
        latency_pid=latency_pid,
    )


EVENTS = {"all": "s3:ObjectCreated:*", "put": "s3:ObjectCreated:Put"}


def wire_bucket(srv: Servers, bucket: str = BUCKET, events: str = "all") -> str:
    """Create ``bucket`` and an SQS queue receiving its ``ObjectCreated`` notifications; return the queue URL."""
    srv.s3.create_bucket(Bucket=bucket)
    queue_url = str(srv.sqs.create_queue(QueueName=QUEUE)["QueueUrl"])
    arn = srv.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    srv.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": [EVENTS[events]]}]},
    )
    return queue_url


# --------------------------------------------------------------------------------------------------
# Pipeline processes
# --------------------------------------------------------------------------------------------------


@dataclass
class Pipeline:
    worker: subprocess.Popen[bytes]
    intake: subprocess.Popen[bytes]
    metrics_port: int
    queue_url: str
    concurrency: int
    log: Path

    def alive(self) -> bool:
        return self.worker.poll() is None and self.intake.poll() is None


def start_pipeline(
    stack: contextlib.ExitStack, srv: Servers, queue_url: str, *, concurrency: int, pool: str = "prefork"
) -> Pipeline:
    """``media-ingest worker`` (``pool``, ``concurrency`` processes or threads, /metrics on) and ``intake sqs``."""
    log_path = srv.workdir / "pipeline.log"
    log = stack.enter_context(log_path.open("ab"))
    port = free_port()
    cli = [sys.executable, "-m", "workers.cli"]
    worker = subprocess.Popen(
        [*cli, "worker", "--pool", pool, "--concurrency", str(concurrency), "--metrics-port", str(port)],
        env=srv.env,
        stdout=log,
        stderr=log,
    )
    intake = subprocess.Popen([*cli, "intake", "sqs", queue_url], env=srv.env, stdout=log, stderr=log)
    pipe = Pipeline(worker, intake, port, queue_url, concurrency, log_path)
    stack.callback(stop_pipeline, pipe)
    wait_for_http(f"http://127.0.0.1:{port}/healthz", worker, timeout=60)
    return pipe


def stop_pipeline(pipe: Pipeline) -> None:
    """Stop the intake and the worker (idempotent), then remove the worker's Prometheus multiprocess directory.

    ``media-ingest worker --metrics-port`` makes that directory with mkdtemp and leaves it behind; the benchmark
    finds its own by the files the worker's processes have mapped, so it never touches another run's.
    """
    directories = _metrics_dirs(pipe) if pipe.worker.poll() is None else set()
    stop_process(pipe.intake, 30)
    stop_process(pipe.worker, 30)
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


def _metrics_dirs(pipe: Pipeline) -> set[Path]:
    table = procs.snapshot()
    found: set[Path] = set()
    for pid in procs.descendants(table, pipe.worker.pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
                path = Path(line.split(maxsplit=5)[-1])
                if path.parent.name.startswith("media-ingest-metrics-") and path.suffix == ".db":
                    found.add(path.parent)
    return found


def stage_seconds(pipe: Pipeline) -> dict[str, tuple[float, int]]:
    """(sum of seconds, count) per stage from the worker's ``media_ingest_stage_seconds`` histogram."""
    with urllib.request.urlopen(f"http://127.0.0.1:{pipe.metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        for suffix in ("_sum", "_count"):
            head = f"media_ingest_stage_seconds{suffix}{{"
            if line.startswith(head):
                labels, value = line[len(head) :].rsplit("} ", 1)
                stage = labels.split('stage="', 1)[1].split('"', 1)[0]
                values[(stage, suffix)] = float(value)
    stages = {stage for stage, _ in values}
    return {s: (values.get((s, "_sum"), 0.0), int(values.get((s, "_count"), 0))) for s in sorted(stages)}


# --------------------------------------------------------------------------------------------------
# Uploads and the label stream
# --------------------------------------------------------------------------------------------------


def upload(s3: Any, key: str, path: Path, mime: str, bucket: str = BUCKET) -> None:
    """One upload as a client would send it: a single PUT, or multipart above 64 MB."""
    if path.stat().st_size > MULTIPART.multipart_threshold:
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": mime}, Config=MULTIPART)
    else:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=mime)


def stream_tail(srv: Servers) -> bytes:
    """The ID of the newest stream entry (or 0-0): records after it belong to the phase about to start."""
    entries = srv.redis.xrevrange(srv.settings.label_stream, count=1)
    return entries[0][0] if entries else b"0-0"


@dataclass
class Seen:
    """One record read back from the label stream."""

    label_time: float
    """When Redis appended it (the stream entry ID's milliseconds): independent of when the bench read it."""
    record: dict[str, Any] = field(repr=False)


def collect(
    srv: Servers,
    since: bytes,
    keys: set[str],
    *,
    timeout: float,
    alive: Callable[[], bool],
) -> dict[str, Seen]:
    """Read the label stream from ``since`` until every key has a record, the time is up or a process died."""
    seen: dict[str, Seen] = {}
    last = since
    deadline = time.monotonic() + timeout
    while keys - seen.keys() and time.monotonic() < deadline and alive():
        for _, entries in srv.redis.xread({srv.settings.label_stream: last}, count=1000, block=500) or []:
            for entry_id, fields in entries:
                last = entry_id
                record = json.loads(fields[b"record"])
                if record.get("key") in keys:
                    millis = int(entry_id.split(b"-", 1)[0])
                    seen[record["key"]] = Seen(millis / 1000, record)
    return seen


def task_counts(srv: Servers) -> dict[str, int]:
    """Tasks queued by the intake and outcomes counted by the workers, summed over every batch."""
    totals = dict.fromkeys(("queued", *OUTCOMES), 0)
    prefix = f"{srv.settings.key_prefix}:batch:"
    for key in srv.redis.scan_iter(match=f"{prefix}*", count=1000):
        values = srv.redis.hmget(key, list(totals))
        for name, value in zip(totals, values, strict=True):
            totals[name] += int(value or 0)
    return totals


def drained(srv: Servers, queue_url: str) -> bool:
    """Nothing left anywhere: SQS empty and nothing in flight, Celery queue empty, nothing unacked, every task done."""
    attributes = srv.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    if any(int(v) for v in attributes.values()):
        return False
    if srv.redis.llen(srv.settings.queue) or srv.redis.hlen("unacked"):
        return False
    counts = task_counts(srv)
    return sum(counts[o] for o in OUTCOMES) >= counts["queued"]


def wait_drained(srv: Servers, pipe: Pipeline, *, timeout: float = 120.0) -> bool:
    """Wait until :func:`drained` holds twice in a row (an echo event may be on its way between two checks)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline and pipe.alive():
        streak = streak + 1 if drained(srv, pipe.queue_url) else 0
        if streak >= 2:
            return True
        time.sleep(0.5)
    return False


# --------------------------------------------------------------------------------------------------
# Who spent the CPU
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far of each party sharing the machine, taken at one instant."""

    at: float
    worker: dict[str, float]
    intake: float
    moto: float
    valkey: float
    bench: float
    proxy: float
    machine_busy: float
    machine_total: float

    def minus(self, earlier: CpuSample) -> dict[str, Any]:
        """CPU seconds per party in between; ``other`` is the rest of the machine (should be near zero: if not,
        something outside the benchmark competed for the cores)."""
        worker = {k: v - earlier.worker.get(k, 0.0) for k, v in self.worker.items()}
        parties = {
            "worker_total": sum(worker.values()),
            "intake": self.intake - earlier.intake,
            "moto": self.moto - earlier.moto,
            "valkey": self.valkey - earlier.valkey,
            "bench": self.bench - earlier.bench,
            "proxy": self.proxy - earlier.proxy,
        }
        busy = self.machine_busy - earlier.machine_busy
        out: dict[str, Any] = {"wall_s": self.at - earlier.at, "worker": worker, **parties}
        out.update(
            parties_total=sum(parties.values()),
            other=max(0.0, busy - sum(parties.values())),
            machine_busy=busy,
            machine_total=self.machine_total - earlier.machine_total,
        )
        return {
            k: ({r: round(x, 3) for r, x in v.items()} if isinstance(v, dict) else round(v, 3)) for k, v in out.items()
        }


def cpu_sample(srv: Servers, pipe: Pipeline | None) -> CpuSample:
    table = procs.snapshot()
    busy, total = procs.machine_cpu()
    me = table.get(os.getpid())

    def own(pid: int | None) -> float:
        return table[pid].total_cpu_s if pid is not None and pid in table else 0.0

    return CpuSample(
        at=time.time(),
        worker={k: v for k, v in procs.worker_cpu_by_role(table, pipe.worker.pid).items()} if pipe else {},
        intake=procs.tree_cpu(table, pipe.intake.pid) if pipe else 0.0,
        moto=own(srv.moto_pid),
        valkey=own(srv.valkey_pid),
        bench=me.cpu_s if me else time.process_time(),
        proxy=own(srv.latency_pid),
        machine_busy=busy,
        machine_total=total,
    )


def worker_memory(pipe: Pipeline) -> list[dict[str, Any]]:
    """Peak (VmHWM) and current (VmRSS) resident memory of each worker process, with its role."""
    table = procs.snapshot()
    rows = []
    for pid in procs.descendants(table, pipe.worker.pid):
        memory = procs.memory_kb(pid)
        rows.append(
            {
                "pid": pid,
                "role": procs.worker_role(table, pid, pipe.worker.pid),
                "peak_rss_mb": round(memory.get("VmHWM", 0) / 1024, 1),
                "rss_mb": round(memory.get("VmRSS", 0) / 1024, 1),
            }
        )
    order = {"parent": 0, "pool": 1, "reader": 2, "other": 3}
    return sorted(rows, key=lambda r: (order[r["role"]], r["pid"]))


def reader_children(pipe: Pipeline) -> int:
    table = procs.snapshot()
    return sum(
        procs.worker_role(table, p, pipe.worker.pid) == "reader" for p in procs.descendants(table, pipe.worker.pid)
    )


def expect_all(seen: dict[str, Seen], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if k not in seen]
