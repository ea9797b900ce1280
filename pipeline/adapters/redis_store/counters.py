"""Short-lived integers per id: deliveries of an object version that have not finished, and how far a group task
got (its resume point after a redelivery or a hand-on)."""

from __future__ import annotations

import redis

from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys

DAY = 86_400


class _PerIdCounter:
    """Base of the counters below: a client, the key names and the TTL every count gets."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = DAY) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._ttl = ttl


class RedisDeliveryCounter(_PerIdCounter):
    """:class:`pipeline.ports.DeliveryCounter` with one short-lived integer per object version."""

    def started(self, identity: str) -> int:
        key = self._keys.attempts(identity)
        with translated("count delivery"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, self._ttl)
            count, _ = pipe.execute()
        return int(count)

    def finished(self, identity: str) -> None:
        with translated("clear delivery count"):
            self._redis.delete(self._keys.attempts(identity))


class RedisGroupProgress(_PerIdCounter):
    """:class:`pipeline.ports.GroupProgress`: one short-lived integer per group task id."""

    def done(self, group_id: str) -> int:
        with translated("read group progress"):
            return int(self._redis.get(self._keys.group(group_id)) or 0)

    def advance(self, group_id: str, done: int) -> None:
        with translated("record group progress"):
            self._redis.set(self._keys.group(group_id), done, ex=self._ttl)

    def clear(self, group_id: str) -> None:
        with translated("clear group progress"):
            self._redis.delete(self._keys.group(group_id))
