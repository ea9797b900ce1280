"""``media-ingest demo``: the whole pipeline, through the real event path, on generated samples.

Servers: the Redis and S3 endpoints from ``MEDIA_INGEST_REDIS_URL`` / ``MEDIA_INGEST_S3_ENDPOINT_URL`` when set;
otherwise an embedded Valkey and a moto S3+SQS server on loopback (never a default Redis database or real AWS by
accident). Then: a bucket whose ``ObjectCreated`` notifications go to an SQS queue, ``media-ingest intake sqs`` and
``media-ingest worker`` as real child processes, the samples uploaded, and a table of what came out on the label
stream and in the objects' metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from pipeline.ports import FailureSink
from pipeline.settings import Settings
from testkit.catalogue import build_samples
from testkit.pki import make_test_pki
from workers.composition import failure_store, redis_connection
from workers.embedded import MOTO_CREDENTIALS, embedded_redis, moto_server, stop_process

BUCKET = "media-ingest-demo"
QUEUE = "media-ingest-demo-events"
GONE = "deleted-before-fetch.jpg"


def run_demo(settings: Settings, *, keep: bool = False, timeout: float = 120.0) -> int:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="media-ingest-demo-")))
        overrides: dict[str, Any] = {}
        if "redis_url" not in settings.configured:
            overrides["redis_url"] = stack.enter_context(embedded_redis())
            print(f"redis     embedded Valkey at {overrides['redis_url']}")
        else:
            print(f"redis     {settings.redis_url}")
        aws_env: dict[str, str] = {}
        if "s3_endpoint_url" not in settings.configured:
            overrides["s3_endpoint_url"] = stack.enter_context(moto_server(log=workdir / "moto.log"))
            aws_env = dict(MOTO_CREDENTIALS)
            print(f"s3+sqs    moto server at {overrides['s3_endpoint_url']}")
        else:
            print(f"s3+sqs    {settings.s3_endpoint_url}")
        pki = make_test_pki()
        trust = pki.write(workdir / "trust")
        overrides.update(trust_anchors=trust.anchors, trust_allowed=trust.allowed, trust_config=trust.config)
        settings = settings.with_overrides(**overrides)
        env = {**os.environ, **aws_env, **settings.to_environ(), "MEDIA_INGEST_LOG_FORMAT": "json"}

        session = boto3.session.Session(
            aws_access_key_id=aws_env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
            region_name=aws_env.get("AWS_DEFAULT_REGION"),
        )
        s3 = session.client("s3", endpoint_url=settings.s3_endpoint_url)
        sqs = session.client("sqs", endpoint_url=settings.s3_endpoint_url)
        queue_url = _wire_bucket_to_queue(s3, sqs)
        print(f"bucket    s3://{BUCKET} -> ObjectCreated notifications -> {queue_url}")

        logs = workdir / "processes.log"
        log_file = stack.enter_context(logs.open("ab"))
        cli = [sys.executable, "-m", "workers.cli"]
        worker = _spawn([*cli, "worker", "--concurrency", "2"], env, log_file)
        stack.callback(stop_process, worker)
        intake = _spawn([*cli, "intake", "sqs", queue_url], env, log_file)
        stack.callback(stop_process, intake)

        redis = redis_connection(settings)  # the demo reads the label stream as the platform would
        start_id = redis.xadd(settings.label_stream, {"record": "{}"}, maxlen=settings.label_stream_maxlen)
        samples = build_samples(pki)
        uploaded: dict[str, float] = {}
        t0 = time.time()
        for sample in samples:
            s3.put_object(
                Bucket=BUCKET, Key=f"uploads/{sample.name}", Body=sample.data, ContentType=sample.content_type
            )
            uploaded[f"uploads/{sample.name}"] = time.time()
        s3.put_object(Bucket=BUCKET, Key=f"uploads/{GONE}", Body=samples[0].data, ContentType="image/jpeg")
        s3.delete_object(Bucket=BUCKET, Key=f"uploads/{GONE}")
        print(f"uploaded  {len(samples)} samples (+1 deleted before it could be fetched); waiting for labels…\n")

        records = _collect(redis, settings, start_id, set(uploaded), timeout, [worker, intake])
        elapsed = time.time() - t0
        failures = _wait_for_skip(failure_store(settings))
        expected = {f"uploads/{s.name}": s for s in samples}
        rows = []
        for key, sample in expected.items():
            record = records.get(key)
            meta = s3.head_object(Bucket=BUCKET, Key=key).get("Metadata", {}) if record else {}
            latency = (record["_seen"] - uploaded[key]) * 1000 if record else None
            rows.append(
                (
                    key.removeprefix("uploads/"),
                    record["label"] if record else "(none)",
                    record["provenance"] if record else "",
                    "ok" if record and meta.get("aigc-label") == record["label"] else "-",
                    f"{record['duration_ms']:.1f}" if record else "",
                    f"{latency:.0f}" if latency is not None else "",
                    ""
                    if record
                    and (record["label"], record["provenance"]) == (sample.expect_label, sample.expect_provenance)
                    else "!",
                )
            )
        _print_table(rows)
        for entry in failures:
            print(
                f"\n{entry['disposition']:8}  s3://{entry['bucket']}/{entry['key']}: {entry['error_class']}: "
                f"{entry['message'][:100]}"
            )
        done = sum(1 for r in rows if r[1] != "(none)")
        print(
            f"\n{done}/{len(rows)} objects labelled in {elapsed:.1f}s through S3 events -> SQS -> intake -> "
            f"Celery worker -> c2pa -> label stream {settings.label_stream!r} + object metadata."
        )
        if keep:
            print(f"process logs: {logs}\nservers kept running; Ctrl-C to stop.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
        mismatched = [r for r in rows if r[6]]
        return 0 if done == len(rows) and not mismatched else 1


def _wire_bucket_to_queue(s3: Any, sqs: Any) -> str:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return str(queue_url)


def _spawn(argv: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=log, stderr=log)


def _collect(
    redis: Any, settings: Settings, start_id: Any, keys: set[str], timeout: float, procs: list[subprocess.Popen[bytes]]
) -> dict[str, dict[str, Any]]:
    """Read the label stream until every key has a record (or the time is up)."""
    records: dict[str, dict[str, Any]] = {}
    last = start_id
    deadline = time.time() + timeout
    while keys - records.keys() and time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            print("a pipeline process exited early; see the process log", file=sys.stderr)
            break
        for _, entries in redis.xread({settings.label_stream: last}, count=100, block=500) or []:
            for entry_id, fields in entries:
                last = entry_id
                record = json.loads(fields[b"record"])
                if record.get("bucket") == BUCKET and record.get("key") in keys:
                    record["_seen"] = time.time()
                    records[record["key"]] = record
    return records


def _wait_for_skip(sink: FailureSink, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The deleted object ends as a recorded skip, not a label; wait for it so the demo can show it."""
    deadline = time.time() + timeout
    while True:
        entries = sink.entries()
        if any(e["key"] == f"uploads/{GONE}" for e in entries) or time.time() > deadline:
            return entries
        time.sleep(0.2)


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    header = ("KEY", "LABEL", "PROVENANCE", "METADATA", "READ_MS", "UPLOAD_TO_LABEL_MS", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
