"""Put objects in front of a worker the two ways production does: ``media-ingest submit`` (a task per object)
or S3 notifications on SQS through ``media-ingest intake sqs`` (small objects grouped, pipeline.grouping)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

PATHS = ("submit", "intake-groups")


def s3_record(bucket: str, key: str, size: int, etag: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event,
        "eventTime": "2026-11-25T10:00:00.000Z",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size, "eTag": etag, "sequencer": "1"}},
    }


def send_notifications(sqs: Any, queue_url: str, records: Sequence[dict[str, Any]], per_message: int = 10) -> None:
    for start in range(0, len(records), per_message):
        body = json.dumps({"Records": list(records[start : start + per_message])})
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)


def put_in_front_of_workers(
    path: str, processes: Any, s3: Any, sqs: Any, bucket: str, keys: Sequence[str], batch: str
) -> None:
    """Enqueue ``keys`` by ``path``; with ``submit`` under batch id ``batch``, by the intake under its own ids."""
    if path == "submit":
        uris = [f"s3://{bucket}/{k}" for k in keys]
        assert processes.start("submit", *uris, "--batch", batch, name="submit").wait(60) == 0
        return
    assert path == "intake-groups", path
    queue_url = sqs.create_queue(QueueName=f"{bucket}-{batch}")["QueueUrl"]
    records = []
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        records.append(s3_record(bucket, key, head["ContentLength"], head["ETag"].strip('"')))
    send_notifications(sqs, queue_url, records)
    processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")


def batch_counts(client: Any, prefix: str) -> dict[str, int]:
    """Counters summed over every batch under ``prefix`` (the intake names its batches itself)."""
    total: dict[str, int] = {}
    for key in client.scan_iter(match=f"{prefix}:batch:*"):
        for field, value in client.hgetall(key).items():
            name = field.decode()
            if value.isdigit():
                total[name] = total.get(name, 0) + int(value)
    return total
