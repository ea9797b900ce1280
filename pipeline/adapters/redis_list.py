"""MinIO's Redis notification target: the :class:`~pipeline.ports.EventQueue` of ``media-ingest intake redis KEY``.

MinIO's ``access`` format appends one event per upload to the list ``KEY`` (RPUSH). Reliable-queue pattern: each
event is moved atomically (BLMOVE/LMOVE) from ``KEY`` to ``KEY:processing`` when received and removed from there
only when acknowledged; :meth:`RedisEventList.recover` moves whatever a failed round or a dead intake left in the
processing list back to the head of ``KEY``.

MinIO's ``namespace`` format keeps a hash under ``KEY`` instead (one field per object, rewritten in place): no
queue at all, and every list command on it answers ``WRONGTYPE``. :meth:`~RedisEventList.check` refuses it at
start, and a receive that meets it later raises the same :class:`~pipeline.errors.SourceMisconfigured`, so the
intake stops with one line naming the fix instead of retrying forever. Connection faults become
:class:`~pipeline.errors.StateUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import redis
import redis.exceptions
import structlog

from pipeline.adapters.redis_store.connection import translated
from pipeline.errors import SourceMisconfigured
from pipeline.ports import QueuedEvent

log = structlog.get_logger("media_ingest.intake.redis")

READABLE = frozenset({"list", "none"})
"""Key types a receive works on: MinIO's access-format list, or no key yet (nothing uploaded so far)."""


def misconfigured(key: str, key_type: str) -> SourceMisconfigured:
    """The one line an operator needs: what the key is, and the MinIO setting that makes it a list."""
    what = "a hash (MinIO's namespace format)" if key_type == "hash" else f"a {key_type}"
    return SourceMisconfigured(
        f"Redis key {key!r} is {what}, not the list `intake redis` drains: configure MinIO's Redis notification "
        f"target with format=access (MINIO_NOTIFY_REDIS_FORMAT_<ID>=access), then delete the key"
    )


class RedisEventList:
    """The list ``key`` that MinIO's Redis target writes, with its processing list ``key:processing``."""

    source = "redis"
    unit = "events"

    def __init__(self, client: redis.Redis, key: str, *, batch_size: int = 100) -> None:
        self._redis = client
        self._key = key
        self._processing = f"{key}:processing"
        self._batch_size = batch_size
        """Events moved by one receive at most (one LMOVE each)."""

    def describe(self) -> Mapping[str, str]:
        return {"key": self._key}

    def check(self) -> None:
        for key in (self._key, self._processing):
            with translated(f"read the type of {key}"):
                raw = self._redis.type(key)
            key_type = raw.decode() if isinstance(raw, bytes) else str(raw)
            if key_type not in READABLE:
                raise misconfigured(key, key_type)

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        """Move up to ``limit`` (at most ``batch_size``) events to the processing list, blocking up to
        ``wait_seconds`` for the first. A fault part-way leaves the moved events in the processing list, where
        :meth:`recover` finds them."""
        items: list[bytes] = []
        try:
            with translated(f"take events from {self._key}"):
                if wait_seconds > 0:  # BLMOVE's timeout 0 would block forever; whole seconds, as redis-py types it
                    timeout = math.ceil(wait_seconds)
                    first = self._redis.blmove(self._key, self._processing, timeout, "LEFT", "RIGHT")
                else:
                    first = self._redis.lmove(self._key, self._processing, "LEFT", "RIGHT")
                if first is None:
                    return []
                items.append(cast(bytes, first))
                while len(items) < min(limit, self._batch_size):
                    item = self._redis.lmove(self._key, self._processing, "LEFT", "RIGHT")
                    if item is None:
                        break
                    items.append(cast(bytes, item))
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                self.check()  # raises SourceMisconfigured naming the key that is not a list
            raise
        origin = f"redis:{self._key}"
        return [QueuedEvent(body=item, origin=origin, receipt=item) for item in items]

    def acknowledge(self, events: Sequence[QueuedEvent]) -> None:
        with translated(f"remove acknowledged events from {self._processing}"):
            pipe = self._redis.pipeline(transaction=False)
            for event in events:
                pipe.lrem(self._processing, 1, event.receipt)
            pipe.execute()

    def recover(self) -> int:
        """Move every event of the processing list back to the head of the queue, in order."""
        moved = 0
        with translated(f"move {self._processing} back to {self._key}"):
            while self._redis.lmove(self._processing, self._key, "RIGHT", "LEFT") is not None:
                moved += 1
        if moved:
            log.warning("intake.recovered", events=moved, key=self._key)
        return moved
