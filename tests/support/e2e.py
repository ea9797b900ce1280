"""What the end-to-end tests share: reading the label stream, waiting on observable state, wiring S3 -> SQS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def read_records(client: Any, stream: str) -> list[dict[str, Any]]:
    return [json.loads(fields[b"record"]) for _, fields in client.xrange(stream)]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds (a deadline, not a sleep
    standing in for synchronisation)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def wire_notifications(s3: Any, sqs: Any, bucket: str) -> str:
    """Send the bucket's ObjectCreated notifications to a new SQS queue, as on AWS; returns the queue URL."""
    queue_url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return str(queue_url)


def intake_echoes(processes: Any) -> int:
    """Copy events the intake dropped as our own write-backs' echoes, from its ``intake.batch`` log lines."""
    log = next(path for _, path in processes.procs if path.name == "intake.log")
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return sum(line.get("echoes", 0) for line in lines if line.get("event") == "intake.batch")
