"""Batch counters: per-batch outcome counts with descriptive fields, and the bounded index that lists them."""

from __future__ import annotations

import time
from typing import cast

import redis

from pipeline.adapters.redis_store.connection import text, translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.model import OUTCOMES
from pipeline.ports import BatchFields

# Increment, keep the timestamps, and stamp finished_at when every queued object has an outcome (cleared again when
# more are queued, as an intake window's are); keep the hash's TTL (its own ``ttl`` field once a caller set one) and
# its place in the index, trimmed by age and count: one round trip. Times are the Redis clock's, which every host
# agrees on (a worker whose clock ran ahead would otherwise trim the whole index).
# KEYS: batch hash, index. ARGV: field, amount, ttl ('' keeps the hash's own), default ttl, index cap, batch id,
# number of descriptive fields n, n names and values, then the outcome fields.
_COUNT = """
local clock = redis.call('TIME')
local now = clock[1] .. '.' .. string.format('%06d', tonumber(clock[2]))
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[1], 'started_at', now)
redis.call('HSET', KEYS[1], 'updated_at', now)
local ttl = ARGV[3]
if ttl ~= '' then redis.call('HSET', KEYS[1], 'ttl', ttl) else ttl = redis.call('HGET', KEYS[1], 'ttl') or ARGV[4] end
redis.call('EXPIRE', KEYS[1], ttl)
local n = tonumber(ARGV[7])
for i = 8, 7 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local done = 0
for i = 8 + 2 * n, #ARGV do done = done + tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') end
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0')
if queued > 0 and done >= queued then
  redis.call('HSETNX', KEYS[1], 'finished_at', now)
else
  redis.call('HDEL', KEYS[1], 'finished_at')
end
redis.call('ZADD', KEYS[2], now, ARGV[6])
local oldest = tonumber(clock[1]) - math.max(tonumber(ttl), tonumber(ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', oldest))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1 - tonumber(ARGV[5]))
return done
"""


class RedisBatchCounters:
    """:class:`pipeline.ports.BatchCounters`: per-batch outcome counters (queued, labelled, skipped, failed, ...)
    with an expiry, and an index of the batches (a sorted set by last update, bounded) so that listing them never
    scans the keyspace."""

    INDEX_MAX = 10_000
    """Batches the index keeps at most (the oldest go first); their hashes expire on their own TTL."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = 30 * 86_400, index_max: int = INDEX_MAX) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._ttl = ttl
        self._index_max = index_max
        self._index = self._keys.batches
        self._count = client.register_script(_COUNT)

    def count(
        self, batch: str, field: str, amount: int = 1, *, ttl: int | None = None, fields: BatchFields | None = None
    ) -> None:
        """Add to one counter; when the outcomes reach the queued count, stamp ``finished_at`` (and remove it
        when more are queued later). ``ttl`` becomes the batch's own retention, which later counts (the workers')
        keep; ``fields`` are descriptive fields set in the same step (an intake window's kind and bounds)."""
        key = self._keys.batch(batch)
        pairs = [part for item in (fields or {}).items() for part in item]
        args: list[str | int] = [field, amount, "" if ttl is None else ttl, self._ttl, self._index_max, batch]
        with translated(f"count batch {batch}"):
            self._count(keys=[key, self._index], args=[*args, len(pairs) // 2, *pairs, *OUTCOMES])

    def describe(self, batch_id: str, **fields: str) -> None:
        """Attach descriptive fields (kind, parent batch, reason, who) to a batch."""
        key = self._keys.batch(batch_id)
        with translated(f"describe batch {batch_id}"):
            pipe = self._redis.pipeline(transaction=True)
            for name, value in {**fields, "updated_at": str(time.time())}.items():
                pipe.hset(key, name, value)
            pipe.hsetnx(key, "started_at", str(time.time()))
            pipe.expire(key, self._ttl)
            pipe.zadd(self._index, {batch_id: time.time()})  # the next count re-scores it by the Redis clock
            pipe.execute()

    def all(self) -> dict[str, dict[str, str]]:
        """Every batch in the index whose hash is still kept, oldest update first (reads the index, never SCAN)."""
        with translated("list batches"):
            ids = [text(b) for b in cast(list[bytes], self._redis.zrange(self._index, 0, -1))]
            pipe = self._redis.pipeline(transaction=False)
            for batch_id in ids:
                pipe.hgetall(self._keys.batch(batch_id))
            hashes = pipe.execute() if ids else []
            gone = [b for b, raw in zip(ids, hashes, strict=True) if not raw]
            if gone:  # expired: drop them from the index too
                self._redis.zrem(self._index, *gone)
        return {b: {text(k): text(v) for k, v in raw.items()} for b, raw in zip(ids, hashes, strict=True) if raw}

    def get(self, batch_id: str) -> dict[str, str]:
        with translated(f"read batch {batch_id}"):
            raw = self._redis.hgetall(self._keys.batch(batch_id))
        return {text(k): text(v) for k, v in raw.items()}
