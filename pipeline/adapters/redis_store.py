"""Redis adapters: the label stream (exactly once per object version), the failure store, delivery counters and
batch counters. The only pipeline module that imports ``redis``; connection faults become StateUnavailable.

Key layout (all under ``Settings.key_prefix``, default ``media-ingest``; the label stream is ``Settings.label_stream``):

* ``{p}:done:{sha}`` — string, exactly-once guard for one object version under one policy version (and, for
  versioned buckets, the ``written`` guard of a completed write-back), TTL ``done_ttl_seconds``; its value is the
  ``aigc-*`` metadata written (JSON), or a Unix time when it holds none.
* ``{p}:attempts:{sha}`` — integer, deliveries of one object version that have not finished, TTL 1 day.
* ``{p}:group:{task id}`` — integer, objects of a group task that have ended (its resume point), TTL 1 day.
* ``{p}:failures`` — hash identity -> JSON entry; ``{p}:failures:index`` — sorted set identity -> last time.
* ``{p}:batch:{id}`` — hash of counters (queued, labelled, already_labelled, duplicate, replaced, skipped, failed)
  and descriptive fields (kind, parents, reason, who; an intake window's source, window_start, window_end), TTL
  its ``ttl`` field (an intake window's ``intake_batch_ttl_seconds``) or 30 days after its last update;
  ``{p}:batches`` — sorted set batch id -> last update, the listing's index (at most 10,000, 30 days).
* ``{p}:audit`` — stream of operator actions (replay, purge-failures, backfill).
* ``{p}:ops-locks`` — hash scope -> JSON holder (owner token, who, action, expiry by the Redis clock): the operator
  actions that run, one per bucket/prefix scope; overlapping scopes exclude each other (:class:`RedisScopeLocks`).

Times that decide what is kept or redelivered (failure-store retention, lock expiry) come from the Redis server's
clock (``TIME``), never this host's: a host whose clock runs ahead must not trim or take over what others hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import redis
import redis.exceptions
import structlog

from pipeline.errors import StateUnavailable
from pipeline.model import OUTCOMES
from pipeline.ports import MAX_GUARD_METADATA_BYTES, FailureEntry, Guard
from pipeline.record import METADATA_PREFIX, encode_record

# SET the guard (its value: the metadata written, see RedisLabelSink) only if absent, and XADD in the same atomic
# step: a rerun can never add a second record.
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


def server_time(client: redis.Redis) -> float:
    """The Redis server's clock (``TIME``) as Unix time: the one clock every host sharing this Redis agrees on."""
    with translated("read the Redis clock"):
        seconds, micros = client.time()
    return seconds + micros / 1_000_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class RedisLabelSink:
    """:class:`pipeline.ports.LabelSink` on a Redis stream; each entry has one field, ``record`` (JSON).

    A guard's value is the ``aigc-*`` metadata written (compact JSON without the ``aigc-`` prefix, about 100
    bytes: ``MEMORY USAGE`` ~216 bytes a guard, against ~104 for the Unix time guards held before); a guard set
    without metadata, or by a release before guards kept it, holds a Unix time and reads back as
    ``Guard(written=None)``.
    """

    def __init__(self, client: redis.Redis, stream: str, *, prefix: str, done_ttl: int, maxlen: int) -> None:
        self._redis = client
        self._stream = stream
        self._prefix = prefix
        self._ttl = done_ttl
        self._maxlen = maxlen
        self._script = client.register_script(_PUBLISH_ONCE)

    def _guard(self, dedupe_key: str) -> str:
        return f"{self._prefix}:done:{_digest(dedupe_key)}"

    def publish(self, record: Mapping[str, Any], dedupe_key: str, written: Mapping[str, str] | None = None) -> bool:
        payload = encode_record(record)
        with translated(f"publish to stream {self._stream}"):
            entry = self._script(
                keys=[self._guard(dedupe_key), self._stream],
                args=[_guard_value(written), self._ttl, self._maxlen, payload],
            )
        return entry is not None

    def is_published(self, dedupe_key: str) -> bool:
        with translated("read exactly-once guard"):
            return bool(self._redis.exists(self._guard(dedupe_key)))

    def guard(self, dedupe_key: str) -> Guard | None:
        with translated("read exactly-once guard"):
            raw = cast(bytes | None, self._redis.get(self._guard(dedupe_key)))
        if raw is None:
            return None
        if not raw.startswith(b"{"):
            return Guard(None)
        written = json.loads(raw)
        return Guard({METADATA_PREFIX + str(k): str(v) for k, v in written.items()})

    def mark_published(self, dedupe_key: str, written: Mapping[str, str] | None = None) -> None:
        value = _guard_value(written)
        with translated("set exactly-once guard"):
            self._redis.set(self._guard(dedupe_key), value, ex=self._ttl)


def _guard_value(written: Mapping[str, str] | None) -> str:
    """What a guard holds: ``written`` as compact JSON with the ``aigc-`` prefix of its keys left out (20 bytes
    fewer per guard), or the Unix time when there is none."""
    if written is None:
        return str(int(time.time()))
    if not all(k.startswith(METADATA_PREFIX) for k in written):
        raise ValueError(f"guard metadata must be {METADATA_PREFIX}* keys only: {sorted(written)}")
    short = {k.removeprefix(METADATA_PREFIX): v for k, v in written.items()}
    value = json.dumps(short, separators=(",", ":"), sort_keys=True)
    if len(value) > MAX_GUARD_METADATA_BYTES:
        raise ValueError(f"guard metadata above {MAX_GUARD_METADATA_BYTES} bytes: {value[:200]}")
    return value


class RedisFailureSink:
    """:class:`pipeline.ports.FailureSink`: one entry per object version, bounded in count and age.

    Entry times (``first_at``, ``last_at``) and the age limit go by the Redis clock: a worker whose own clock runs
    a month ahead would otherwise trim every entry the others recorded.
    """

    def __init__(self, client: redis.Redis, *, prefix: str, max_entries: int, max_age: int) -> None:
        self._redis = client
        self._hash = f"{prefix}:failures"
        self._index = f"{prefix}:failures:index"
        self._max_entries = max_entries
        self._max_age = max_age

    def record(self, entry: FailureEntry) -> None:
        identity = "\0".join((entry.bucket, entry.key, entry.version_id or "null", entry.etag or ""))
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


class RedisDeliveryCounter:
    """:class:`pipeline.ports.DeliveryCounter` with one short-lived integer per object version."""

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
    """:class:`pipeline.ports.GroupProgress`: one short-lived integer per group task id."""

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
    """Per-batch outcome counters (queued, labelled, skipped, failed, ...) with an expiry, and an index of the
    batches (a sorted set by last update, bounded) so that listing them never scans the keyspace."""

    INDEX_MAX = 10_000
    """Batches the index keeps at most (the oldest go first); their hashes expire on their own TTL."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: int = 30 * 86_400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl
        self._index = f"{prefix}:batches"
        self._count = client.register_script(_COUNT)

    def count(
        self,
        batch_id: str,
        field: str,
        amount: int = 1,
        *,
        ttl: int | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        """Add to one counter; when the outcomes reach the queued count, stamp ``finished_at`` (and remove it
        when more are queued later). ``ttl`` becomes the batch's own retention, which later counts (the workers')
        keep; ``fields`` are descriptive fields set in the same step (an intake window's kind and bounds)."""
        key = f"{self._prefix}:batch:{batch_id}"
        pairs = [part for item in (fields or {}).items() for part in item]
        args: list[str | int] = [field, amount, "" if ttl is None else ttl, self._ttl, self.INDEX_MAX, batch_id]
        with translated(f"count batch {batch_id}"):
            self._count(keys=[key, self._index], args=[*args, len(pairs) // 2, *pairs, *OUTCOMES])

    def describe(self, batch_id: str, **fields: str) -> None:
        """Attach descriptive fields (kind, parent batch, reason, who) to a batch."""
        key = f"{self._prefix}:batch:{batch_id}"
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
            ids = [_text(b) for b in cast(list[bytes], self._redis.zrange(self._index, 0, -1))]
            pipe = self._redis.pipeline(transaction=False)
            for batch_id in ids:
                pipe.hgetall(f"{self._prefix}:batch:{batch_id}")
            hashes = pipe.execute() if ids else []
            gone = [b for b, raw in zip(ids, hashes, strict=True) if not raw]
            if gone:  # expired: drop them from the index too
                self._redis.zrem(self._index, *gone)
        return {b: {_text(k): _text(v) for k, v in raw.items()} for b, raw in zip(ids, hashes, strict=True) if raw}

    def get(self, batch_id: str) -> dict[str, str]:
        with translated(f"read batch {batch_id}"):
            raw = self._redis.hgetall(f"{self._prefix}:batch:{batch_id}")
        return {_text(k): _text(v) for k, v in raw.items()}


# Operator locks: one hash, field = scope name, value = JSON holder with its owner token and expiry (ms, Redis clock).
# Acquiring drops expired holders and refuses while a live one overlaps (same bucket, or either is every bucket, and
# one prefix is a prefix of the other); all in one script, so two operators can never both pass the check.
_LOCK_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[5])
local bucket, prefix = ARGV[2], ARGV[3]
local held = redis.call('HGETALL', KEYS[1])
for i = 1, #held, 2 do
  local other = cjson.decode(held[i + 1])
  if tonumber(other.expires_ms) <= now then
    redis.call('HDEL', KEYS[1], held[i])
  elseif (other.bucket == '' or bucket == '' or other.bucket == bucket)
      and (string.sub(other.prefix, 1, #prefix) == prefix or string.sub(prefix, 1, #other.prefix) == other.prefix) then
    return {0, held[i + 1]}
  end
end
local mine = cjson.decode(ARGV[4])
mine.expires_ms = now + ttl
mine.at = tonumber(t[1])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(mine))
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, ''}
"""

# Extend the expiry only while the holder is still ours (a holder that expired and was taken over is gone or has
# another token; one that expired with nobody taking over is still ours: no overlapping action ran meanwhile).
_LOCK_RENEW = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local mine = cjson.decode(raw)
if mine.token ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local ttl = tonumber(ARGV[3])
mine.expires_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(mine))
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# Compare-and-delete: an owner whose lock expired and was taken over must not delete the new owner's.
_LOCK_RELEASE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw).token == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

_log = structlog.get_logger("media_ingest.ops")


@dataclass(frozen=True)
class LockScope:
    """What an operator action touches: a bucket (``""``: every bucket) and a key prefix (``""``: every key).

    Two scopes overlap when they can name the same object: same bucket (or either is every bucket) and one prefix
    is a prefix of the other. ``s3://b/p`` and ``s3://b/p/x`` overlap; ``s3://b/p/x`` and ``s3://b/p/y`` do not;
    (plain string prefixes, as S3 lists them: ``s3://b/p`` also overlaps ``s3://b/photos``).
    """

    bucket: str = ""
    prefix: str = ""

    def name(self) -> str:
        if self.bucket:
            return f"s3://{self.bucket}/{self.prefix}"
        return f"every bucket, keys under {self.prefix!r}" if self.prefix else "every bucket"

    def overlaps(self, other: LockScope) -> bool:
        """The rule the acquire script applies (kept here for readers and tests)."""
        buckets = not self.bucket or not other.bucket or self.bucket == other.bucket
        return buckets and (self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix))


class ScopeLocked(RuntimeError):
    """Another operator action holds an overlapping scope; ``holder`` says who, what and since when."""

    def __init__(self, scope: LockScope, holder: dict[str, Any]) -> None:
        self.scope = scope
        self.holder = holder
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("at", 0))))
        super().__init__(
            f"a {holder.get('action')} of {holder.get('scope')} is running (started by {holder.get('who')} on "
            f"{holder.get('host')}, pid {holder.get('pid')}, at {since}) and overlaps {scope.name()}; wait for it "
            "to finish, or choose a scope where neither prefix contains the other"
        )


class LockLost(RuntimeError):
    """The lock expired (the process stalled longer than its TTL) and may be held by another action now."""


class HeldLock:
    """A lock this process holds; renewed by a thread while the ``with`` block runs, released (if still ours) after.

    Call :meth:`check` before each item of work: it renews, and raises :class:`LockLost` when the lock is no
    longer ours (this process stalled past the TTL, and another action took the scope).
    """

    def __init__(self, locks: RedisScopeLocks, scope: LockScope, token: str) -> None:
        self._locks = locks
        self.scope = scope
        self.token = token
        self._lost = False
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew(self) -> bool:
        """Extend the TTL if the lock is still ours; False (and lost for good) otherwise."""
        with self._mutex:
            if self._lost:
                return False
            if not self._locks.renew(self.scope, self.token):
                self._lost = True
                return False
            return True

    def check(self) -> None:
        """Renew, and raise :class:`LockLost` unless the lock is still ours: one round trip before each item of
        work, so an action never goes on after another has taken its scope (the thread covers long waits)."""
        if not self.renew():
            raise LockLost(
                f"lost the lock on {self.scope.name()}: it expired (this process stalled for more than "
                f"{self._locks.ttl:g}s) and may be held by another action now"
            )

    def release(self) -> bool:
        """Delete the lock if it is still ours (compare-and-delete); False if it expired and was taken over."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return self._locks.release(self.scope, self.token)

    def _keep(self) -> None:
        interval = self._locks.ttl / 3
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    _log.error("ops.lock_lost", scope=self.scope.name())
                    return
            except StateUnavailable as exc:  # check() renews too, and stops the action if Redis stays away
                _log.warning("ops.lock_renew_failed", scope=self.scope.name(), reason=str(exc), retry_in_s=interval)

    def __enter__(self) -> HeldLock:
        self._thread = threading.Thread(target=self._keep, name="media-ingest-ops-lock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            released = self.release()
        except StateUnavailable as error:  # the TTL frees it; do not hide the action's own error
            _log.warning("ops.lock_release_failed", scope=self.scope.name(), reason=str(error))
            return
        if not released:
            _log.warning("ops.lock_taken_over", scope=self.scope.name())


class RedisScopeLocks:
    """One operator action (replay, backfill) at a time per overlapping bucket/prefix scope, by ``{p}:ops-locks``.

    Each holder carries a random owner token and an expiry by the Redis clock, ``ttl`` seconds ahead and renewed
    every third of that while the action runs; a killed operator process frees its scope within ``ttl``.
    """

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: float = 60.0) -> None:
        self._redis = client
        self._key = f"{prefix}:ops-locks"
        self.ttl = ttl
        self._acquire = client.register_script(_LOCK_ACQUIRE)
        self._renew = client.register_script(_LOCK_RENEW)
        self._release = client.register_script(_LOCK_RELEASE)

    def acquire(self, scope: LockScope, *, action: str, who: str) -> HeldLock:
        """Take the scope or raise :class:`ScopeLocked` naming the overlapping action; use the result in ``with``."""
        token = secrets.token_hex(16)
        holder = {
            "token": token,
            "action": action,
            "scope": scope.name(),
            "bucket": scope.bucket,
            "prefix": scope.prefix,
            "who": who,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        with translated(f"lock {scope.name()}"):
            ok, other = cast(
                list[Any],
                self._acquire(
                    keys=[self._key], args=[scope.name(), scope.bucket, scope.prefix, json.dumps(holder), self._ms]
                ),
            )
        if not int(ok):
            raise ScopeLocked(scope, json.loads(other))
        return HeldLock(self, scope, token)

    @property
    def _ms(self) -> int:
        return int(self.ttl * 1000)

    def renew(self, scope: LockScope, token: str) -> bool:
        with translated(f"renew the lock on {scope.name()}"):
            return bool(self._renew(keys=[self._key], args=[scope.name(), token, self._ms]))

    def release(self, scope: LockScope, token: str) -> bool:
        with translated(f"release the lock on {scope.name()}"):
            return bool(self._release(keys=[self._key], args=[scope.name(), token]))

    def holders(self) -> list[dict[str, Any]]:
        """Every holder still recorded (expired ones included until the next acquire drops them)."""
        with translated("list operator locks"):
            raw = cast(dict[bytes, bytes], self._redis.hgetall(self._key))
        return [json.loads(v) for v in raw.values()]
