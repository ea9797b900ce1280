"""The failure store: what the pipeline gave up on or skipped, one entry per object version, bounded."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from pipeline.adapters.redis_store.connection import server_time, translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.model import ObjectVersion
from pipeline.ports import FailureEntry


class RedisFailureSink:
    """:class:`pipeline.ports.FailureSink`: one entry per object version, bounded in count and age.

    Entry times (``first_at``, ``last_at``) and the age limit go by the Redis clock: a worker whose own clock runs
    a month ahead would otherwise trim every entry the others recorded.
    """

    def __init__(self, client: redis.Redis, *, prefix: str, max_entries: int, max_age: int) -> None:
        self._redis = client
        keys = Keys(prefix)
        self._hash = keys.failures
        self._index = keys.failures_index
        self._max_entries = max_entries
        self._max_age = max_age

    def record(self, entry: FailureEntry) -> None:
        identity = ObjectVersion.of(entry).identity()
        now = server_time(self._redis)
        with translated("record failure"):
            previous = self._redis.hget(self._hash, identity)
            first = json.loads(previous)["first_at"] if previous else now
            doc = {**entry.__dict__, "id": identity, "first_at": first, "last_at": now}
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._hash, identity, json.dumps(doc))
            pipe.zadd(self._index, {identity: now})
            pipe.execute()
            self._trim(now)

    def _trim(self, now: float) -> None:
        stale = cast(list[bytes], self._redis.zrangebyscore(self._index, "-inf", now - self._max_age))
        excess = int(self._redis.zcard(self._index)) - len(stale) - self._max_entries
        if excess > 0:
            stale += cast(list[bytes], self._redis.zrange(self._index, len(stale), len(stale) + excess - 1))
        if stale:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(self._hash, *stale)
            pipe.zrem(self._index, *stale)
            pipe.execute()

    def entries(self) -> list[dict[str, Any]]:
        with translated("read failures"):
            ids = cast(list[bytes], self._redis.zrevrange(self._index, 0, -1))
            if not ids:
                return []
            return [json.loads(raw) for raw in self._redis.hmget(self._hash, ids) if raw]

    def remove(self, ids: list[str]) -> int:
        if not ids:
            return 0
        with translated("remove failures"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(self._hash, *ids)
            pipe.zrem(self._index, *ids)
            removed, _ = pipe.execute()
        return int(removed)
