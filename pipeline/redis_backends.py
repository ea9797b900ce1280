"""Redis adapters: the label stream (exactly once per object version), the failure store, delivery counters and
batch counters. The only pipeline module that imports ``redis``; connection faults become StateUnavailable.

Key layout (all under ``Settings.key_prefix``, default ``media-ingest``; the label stream is ``Settings.label_stream``):

* ``{p}:done:{sha}`` — string, exactly-once guard for one object version under one policy version (and, for
  versioned buckets, the ``written`` guard of a completed write-back), TTL ``done_ttl_seconds``.
* ``{p}:attempts:{sha}`` — integer, deliveries of one object version that have not finished, TTL 1 day.
* ``{p}:group:{task id}`` — integer, objects of a group task that have ended (its resume point), TTL 1 day.
* ``{p}:failures`` — hash identity -> JSON entry; ``{p}:failures:index`` — sorted set identity -> last time.
* ``{p}:batch:{id}`` — hash of counters (queued, labelled, already_labelled, duplicate, replaced, skipped, failed)
  and descriptive fields (kind, parents, reason, who).
* ``{p}:audit`` — stream of operator actions (replay, purge-failures, backfill); ``{p}:replay-lock:{scope}``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import redis
import redis.exceptions

from pipeline.errors import StateUnavailable
from pipeline.interfaces import FailureEntry
from pipeline.model import OUTCOMES

# SET the guard only if absent, and XADD in the same atomic step: a rerun can never add a second record.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'record', ARGV[4])
end
return false
"""


def connect(url: str) -> redis.Redis:
    """A client that retries a dropped connection a few times with backoff before raising."""
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries=5),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
    ) as exc:
        raise StateUnavailable(f"{what}: Redis unreachable ({exc}); check MEDIA_INGEST_REDIS_URL") from exc
    except (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError) as exc:
        # Full (maxmemory with noeviction) or a replica during failover: transient for us, retry with backoff.
        raise StateUnavailable(f"{what}: Redis cannot take writes now ({exc}); check its memory and role") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class RedisLabelSink:
    """:class:`pipeline.interfaces.LabelSink` on a Redis stream; each entry has one field, ``record`` (JSON)."""

    def __init__(self, client: redis.Redis, stream: str, *, prefix: str, done_ttl: int, maxlen: int) -> None:
        self._redis = client
        self._stream = stream
        self._prefix = prefix
        self._ttl = done_ttl
        self._maxlen = maxlen
        self._script = client.register_script(_PUBLISH_ONCE)

    def _guard(self, dedupe_key: str) -> str:
        return f"{self._prefix}:done:{_digest(dedupe_key)}"

    def publish(self, record: Mapping[str, Any], dedupe_key: str) -> bool:
        payload = json.dumps(record, separators=(",", ":"), sort_keys=True)
        with translated(f"publish to stream {self._stream}"):
            entry = self._script(
                keys=[self._guard(dedupe_key), self._stream],
                args=[str(int(time.time())), self._ttl, self._maxlen, payload],
            )
        return entry is not None

    def is_published(self, dedupe_key: str) -> bool:
        with translated("read exactly-once guard"):
            return bool(self._redis.exists(self._guard(dedupe_key)))

    def mark_published(self, dedupe_key: str) -> None:
        with translated("set exactly-once guard"):
            self._redis.set(self._guard(dedupe_key), str(int(time.time())), ex=self._ttl)


class RedisFailureSink:
    """:class:`pipeline.interfaces.FailureSink`: one entry per object version, bounded in count and age."""

    def __init__(self, client: redis.Redis, *, prefix: str, max_entries: int, max_age: int) -> None:
        self._redis = client
        self._hash = f"{prefix}:failures"
        self._index = f"{prefix}:failures:index"
        self._max_entries = max_entries
        self._max_age = max_age

    def record(self, entry: FailureEntry) -> None:
        identity = "\0".join((entry.bucket, entry.key, entry.version_id or "null", entry.etag or ""))
        now = time.time()
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


class RedisDeliveryCounter:
    """:class:`pipeline.interfaces.DeliveryCounter` with one short-lived integer per object version."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = 86_400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl

    def _key(self, dedupe_key: str) -> str:
        return f"{self._prefix}:attempts:{_digest(dedupe_key)}"

    def started(self, dedupe_key: str) -> int:
        with translated("count delivery"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(self._key(dedupe_key))
            pipe.expire(self._key(dedupe_key), self._ttl)
            count, _ = pipe.execute()
        return int(count)

    def finished(self, dedupe_key: str) -> None:
        with translated("clear delivery count"):
            self._redis.delete(self._key(dedupe_key))


class RedisGroupProgress:
    """:class:`pipeline.interfaces.GroupProgress`: one short-lived integer per group task id."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = 86_400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl

    def _key(self, group_id: str) -> str:
        return f"{self._prefix}:group:{group_id}"

    def done(self, group_id: str) -> int:
        with translated("read group progress"):
            return int(self._redis.get(self._key(group_id)) or 0)

    def advance(self, group_id: str, done: int) -> None:
        with translated("record group progress"):
            self._redis.set(self._key(group_id), done, ex=self._ttl)

    def clear(self, group_id: str) -> None:
        with translated("clear group progress"):
            self._redis.delete(self._key(group_id))


# Increment, keep the timestamps, and set finished_at once every queued object has an outcome: one round trip.
_COUNT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local done = 0
for i = 5, #ARGV do done = done + tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') end
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0')
if queued > 0 and done >= queued then redis.call('HSETNX', KEYS[1], 'finished_at', ARGV[3]) end
return done
"""


class RedisBatchCounters:
    """Per-batch outcome counters (queued, labelled, skipped, failed, ...) with an expiry."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = 30 * 86_400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl
        self._count = client.register_script(_COUNT)

    def count(self, batch_id: str, field: str, amount: int = 1) -> None:
        """Add to one counter; the first time the outcomes reach the queued count, stamp ``finished_at``."""
        key = f"{self._prefix}:batch:{batch_id}"
        now = str(time.time())
        with translated(f"count batch {batch_id}"):
            self._count(keys=[key], args=[field, amount, now, self._ttl, *OUTCOMES])

    def describe(self, batch_id: str, **fields: str) -> None:
        """Attach descriptive fields (kind, parent batch, reason, who) to a batch."""
        key = f"{self._prefix}:batch:{batch_id}"
        with translated(f"describe batch {batch_id}"):
            pipe = self._redis.pipeline(transaction=True)
            for name, value in {**fields, "updated_at": str(time.time())}.items():
                pipe.hset(key, name, value)
            pipe.hsetnx(key, "started_at", str(time.time()))
            pipe.expire(key, self._ttl)
            pipe.execute()

    def all(self) -> dict[str, dict[str, str]]:
        """Every batch still kept, by id."""
        marker = f"{self._prefix}:batch:"
        with translated("list batches"):
            keys = [_text(k) for k in self._redis.scan_iter(match=f"{marker}*", count=1000)]
        return {key[len(marker) :]: self.get(key[len(marker) :]) for key in sorted(keys)}

    def get(self, batch_id: str) -> dict[str, str]:
        with translated(f"read batch {batch_id}"):
            raw = self._redis.hgetall(f"{self._prefix}:batch:{batch_id}")
        return {_text(k): _text(v) for k, v in raw.items()}
