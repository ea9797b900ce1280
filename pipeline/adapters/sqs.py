"""SQS adapter: the :class:`~pipeline.ports.EventQueue` of ``media-ingest intake sqs``.

A received message stays in the queue, invisible for the visibility timeout, until it is deleted; an intake that
fails a round (or dies) deletes nothing, so SQS hands the messages out again after that timeout (a redrive policy
with a dead-letter queue bounds how often: docs/operations.md). botocore errors become
:class:`~pipeline.errors.QueueUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.exceptions
import structlog
from botocore.config import Config

from pipeline.errors import QueueUnavailable
from pipeline.ports import QueuedEvent

log = structlog.get_logger("media_ingest.intake.sqs")

MAX_MESSAGES = 10
"""SQS hands out and deletes at most 10 messages per call."""


def make_sqs_client(endpoint_url: str | None) -> Any:
    """A boto3 SQS client whose read timeout outlasts the longest long poll (20 s)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=40)
    return boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=config)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise QueueUnavailable(f"SQS {what}: {exc}") from exc


class SqsEventQueue:
    """One SQS queue of S3 event notifications (or SNS envelopes of them)."""

    source = "sqs"
    unit = "messages"

    def __init__(self, client: Any, queue_url: str, *, visibility_timeout: int = 60) -> None:
        self._sqs = client
        self._queue_url = queue_url
        self._visibility = visibility_timeout

    def describe(self) -> Mapping[str, str]:
        return {"queue_url": self._queue_url}

    def check(self) -> None:
        """Nothing to check before receiving: a queue that does not exist or may not be read fails each receive
        (logged, retried), as it would if its policy changed while the intake runs."""

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        with _translated(f"receive from {self._queue_url}"):
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=max(1, min(MAX_MESSAGES, limit)),
                WaitTimeSeconds=int(wait_seconds),
                VisibilityTimeout=self._visibility,
            )
        return [
            QueuedEvent(body=m["Body"], origin=f"sqs:{m['MessageId']}", receipt=m["ReceiptHandle"])
            for m in response.get("Messages", [])
        ]

    def acknowledge(self, events: Sequence[QueuedEvent]) -> None:
        """Delete in batches of 10; a message SQS refuses to delete is logged and comes back (its tasks run twice,
        harmlessly: the exactly-once guard)."""
        for first in range(0, len(events), MAX_MESSAGES):
            chunk = events[first : first + MAX_MESSAGES]
            entries = [{"Id": str(n), "ReceiptHandle": e.receipt} for n, e in enumerate(chunk)]
            with _translated(f"delete from {self._queue_url}"):
                result = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for failed in result.get("Failed", []):
                log.warning("intake.delete_failed", reason=failed.get("Message"), code=failed.get("Code"))

    def recover(self) -> int:
        """SQS gives an undeleted message back by itself once its visibility timeout ends."""
        return 0
