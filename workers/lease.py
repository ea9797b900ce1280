"""Keep the broker's visibility lease on every message this worker holds, so a short visibility timeout is safe.

Celery's Redis transport redelivers a message whose delivery is older than ``visibility_timeout`` and not yet
acknowledged (kombu scores each delivery in the ``unacked_index`` sorted set with its delivery time). A long
timeout makes a crashed worker's tasks wait that long; a short one runs long tasks twice. This thread, in the
worker's main process, re-scores every delivery the worker still holds (running, prefetched, or waiting for a
retry's countdown) every ``visibility_timeout / 4`` seconds. A worker that is SIGKILLed stops renewing, and its
messages come back within one visibility timeout plus kombu's restore sweep.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
import structlog
from celery.worker import state

log = structlog.get_logger("media_ingest.lease")

UNACKED_INDEX = "unacked_index"  # kombu's default ``unacked_index_key``


def held_delivery_tags() -> set[str]:
    """Delivery tags of every message this worker process has received and not acknowledged."""
    for _ in range(3):
        try:
            requests: list[Any] = [
                *state.requests.values(),
                *state.reserved_requests,
                *state.active_requests,
                *state.scheduled_requests,
            ]
            break
        except RuntimeError:  # a set changed size while we copied it; try again
            continue
    else:
        return set()
    tags = set()
    for request in requests:
        message = getattr(request, "message", None)
        tag = getattr(message, "delivery_tag", None)
        if tag:
            tags.add(str(tag))
    return tags


class LeaseKeeper(threading.Thread):
    def __init__(self, redis_url: str, visibility_timeout: int) -> None:
        super().__init__(name="media-ingest-lease", daemon=True)
        self._client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.interval = max(1.0, visibility_timeout / 4)
        self.stopping = threading.Event()

    def renew(self) -> int:
        tags = held_delivery_tags()
        if tags:
            now = time.time()
            self._client.zadd(UNACKED_INDEX, dict.fromkeys(tags, now), xx=True)
        return len(tags)

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.renew()
            except redis.exceptions.RedisError as exc:
                log.warning("lease.renew_failed", reason=str(exc), retry_in_s=self.interval)

    def stop(self) -> None:
        self.stopping.set()
