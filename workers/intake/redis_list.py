"""``media-ingest intake redis KEY``: drain MinIO's Redis notification target (``access`` format: a list).

Reliable-queue pattern: each event is moved atomically (BLMOVE) from ``KEY`` to ``KEY:processing``, its tasks are
enqueued, and only then is it removed from the processing list. Events left in the processing list by a bridge
that died are moved back to ``KEY`` when a bridge starts.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, cast

import redis
import structlog

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

log = structlog.get_logger("media_ingest.intake.redis")


class RedisListIntake:
    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        enqueue: Enqueue,
        failures: FailureSink,
        count_queued: CountQueued,
        block_seconds: int = 5,
        batch_size: int = 100,
        is_echo: IsEcho | None = None,
        flush: Flush = no_flush,
        discard: Discard = no_flush,
        linger: Linger = NO_LINGER,
        allowed: BucketAllowList = ANY_BUCKET,
        window: BatchWindow = HOURLY,
    ) -> None:
        self._allowed = allowed
        self._window = window
        self._redis = client
        self._linger = linger
        self._flush = flush
        self._discard = discard
        self._stranded = False
        """A round failed after moving its events to the processing list: move them back before the next one."""
        self._key = key
        self._processing = f"{key}:processing"
        self._enqueue = enqueue
        self._failures = failures
        self._is_echo = is_echo
        self._count_queued = count_queued
        self._block = block_seconds
        self._batch_size = batch_size
        self.stopping = threading.Event()
        self.last_poll = time.monotonic()
        """When the last poll round finished without error (readiness)."""

    def recover(self) -> int:
        """Move events a dead bridge left half-done back to the head of the queue."""
        moved = 0
        while self._redis.lmove(self._processing, self._key, "RIGHT", "LEFT") is not None:
            moved += 1
        if moved:
            log.warning("intake.recovered", events=moved, key=self._key)
        return moved

    def poll_once(self) -> int:
        if self._stranded:
            self.recover()
            self._stranded = False
        first = self._redis.blmove(self._key, self._processing, self._block, "LEFT", "RIGHT")
        if first is None:
            return 0
        round_ = Round(
            "redis",
            enqueue=self._enqueue,
            failures=self._failures,
            is_echo=self._is_echo,
            allowed=self._allowed,
            window=self._window,
        )
        items: list[Any] = []

        def take(head: Any = None) -> int:
            """Move up to ``batch_size`` events (after ``head``, already moved) to the processing list and
            dispatch them; return how many."""
            batch = [head] if head is not None else []
            while len(batch) < self._batch_size:
                item = self._redis.lmove(self._key, self._processing, "LEFT", "RIGHT")
                if item is None:
                    break
                batch.append(item)
            items.extend(batch)
            for item in batch:
                round_.dispatch(item, origin=f"redis:{self._key}")
            return len(batch)

        try:
            self._linger.fill(take(first), take, self.stopping)
            self._flush()  # grouped tasks go out before the events leave the processing list
        except Exception:
            # All or nothing, as for SQS: the round's events stay in the processing list and go back to the queue
            # before the next round; what reached the broker runs twice, harmlessly.
            self._discard()
            self._stranded = True
            raise
        for item in items:
            self._redis.lrem(self._processing, 1, cast(str, item))
        if round_.enqueued:
            self._count_queued(round_.batch_id, round_.enqueued, round_.batch_fields)
        round_.observe()
        log.info("intake.batch", **round_.summary())
        return round_.enqueued

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        warn_if_any_bucket(self._allowed, process="intake")
        self.recover()
        log.info("intake.started", key=self._key)
        while not self.stopping.is_set():
            try:
                self.poll_once()
                self.last_poll = time.monotonic()
            except redis.exceptions.ConnectionError:
                log.warning("intake.redis_unavailable", retry_in_s=1.0)
                self.stopping.wait(1.0)
            except Exception:  # e.g. the broker refused a publish (kombu's OperationalError): retry the round
                log.exception("intake.poll_failed", retry_in_s=2.0)
                self.stopping.wait(2.0)
        log.info("intake.stopped")
