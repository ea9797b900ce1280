"""``media-ingest intake sqs QUEUE_URL``: long-poll an SQS queue of S3 event notifications.

A message is deleted only after all its tasks are on the broker. Messages that fail to enqueue stay in SQS and
come back after the queue's visibility timeout (configure a redrive policy with a DLQ for the queue itself).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import boto3
import structlog
from botocore.config import Config

from pipeline.events import BucketAllowList
from pipeline.ports import FailureSink
from workers.intake import (
    ANY_BUCKET,
    HOURLY,
    NO_LINGER,
    BatchWindow,
    CountQueued,
    Discard,
    Enqueue,
    Flush,
    IsEcho,
    Linger,
    Round,
    no_flush,
    warn_if_any_bucket,
)

log = structlog.get_logger("media_ingest.intake.sqs")


def make_sqs_client(endpoint_url: str | None) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=40)
    return boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=config)


class SqsIntake:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        *,
        enqueue: Enqueue,
        failures: FailureSink,
        count_queued: CountQueued,
        wait_seconds: int = 20,
        visibility_timeout: int = 60,
        is_echo: IsEcho | None = None,
        flush: Flush = no_flush,
        discard: Discard = no_flush,
        linger: Linger = NO_LINGER,
        allowed: BucketAllowList = ANY_BUCKET,
        window: BatchWindow = HOURLY,
    ) -> None:
        self._allowed = allowed
        self._window = window
        self._sqs = client
        self._linger = linger
        self._flush = flush
        self._discard = discard
        self._queue_url = queue_url
        self._enqueue = enqueue
        self._failures = failures
        self._is_echo = is_echo
        self._count_queued = count_queued
        self._wait = wait_seconds
        self._visibility = visibility_timeout
        self.stopping = threading.Event()
        self.last_poll = time.monotonic()
        """When the last poll round finished without error (readiness)."""

    def _receive(self, wait_seconds: int, limit: int = 10) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=limit,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=self._visibility,
        )
        return list(response.get("Messages", []))

    def poll_once(self) -> int:
        """One receive -> enqueue -> delete round (lingering for more messages while the workers are behind, see
        :class:`~workers.intake.Linger`). Returns the number of tasks enqueued."""
        messages = self._receive(self._wait)
        if not messages:
            return 0
        round_ = Round(
            "sqs",
            enqueue=self._enqueue,
            failures=self._failures,
            is_echo=self._is_echo,
            allowed=self._allowed,
            window=self._window,
        )
        done: list[dict[str, str]] = []

        def take(batch: list[dict[str, Any]]) -> int:
            for message in batch:
                round_.dispatch(message["Body"], origin=f"sqs:{message['MessageId']}")
                done.append({"Id": str(len(done) % 10), "ReceiptHandle": message["ReceiptHandle"]})
            return len(batch)

        def take_more() -> int | None:
            try:
                batch = self._receive(0, min(10, self._linger.max_events - len(done)))
            except Exception as exc:  # noqa: BLE001 - only ends the linger: the round goes out with what it holds
                log.warning("intake.linger_receive_failed", reason=str(exc)[:500])
                return None
            return take(batch)

        try:
            self._linger.fill(take(messages), take_more, self.stopping)
            self._flush()  # grouped tasks of this round go out before any message is deleted
        except Exception:
            # All or nothing: no message of the round is deleted, so SQS delivers them all again; what did reach
            # the broker runs twice, harmlessly (the guards), and nothing buffered survives into the next round.
            self._discard()
            log.exception("intake.enqueue_failed", messages=round_.events)
            return 0
        if round_.enqueued:
            self._count_queued(round_.batch_id, round_.enqueued, round_.batch_fields)
        for first in range(0, len(done), 10):
            result = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=done[first : first + 10])
            for failed in result.get("Failed", []):
                log.warning("intake.delete_failed", reason=failed.get("Message"), code=failed.get("Code"))
        round_.observe()
        log.info("intake.batch", **round_.summary(events_as="messages"))
        return round_.enqueued

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        warn_if_any_bucket(self._allowed, process="intake")
        log.info("intake.started", queue_url=self._queue_url)
        while not self.stopping.is_set():
            try:
                self.poll_once()
                self.last_poll = time.monotonic()
            except Exception:
                log.exception("intake.poll_failed")
                self.stopping.wait(2.0)
        log.info("intake.stopped")
