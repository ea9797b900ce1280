"""Operator scope locks: one replay or backfill at a time per overlapping bucket/prefix scope, in ``{p}:ops-locks``.

Every decision (expired? overlapping? still the owner's?) is taken inside one Lua script by the Redis clock, so two
operators can never both pass the check and a host whose clock runs ahead cannot take over what another holds.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from pipeline.adapters.held_lock import HeldLock, new_holder
from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.ports import LockScope, ScopeLocked

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


class RedisScopeLocks:
    """:class:`pipeline.ports.ScopeLocks`: one operator action (replay, backfill) at a time per overlapping
    bucket/prefix scope, by ``{p}:ops-locks``.

    Each holder carries a random owner token and an expiry by the Redis clock, ``ttl`` seconds ahead and renewed
    every third of that while the action runs; a killed operator process frees its scope within ``ttl``.
    """

    def __init__(self, client: redis.Redis, *, prefix: str, ttl: float = 60.0) -> None:
        self._redis = client
        self._key = Keys(prefix).ops_locks
        self.ttl = ttl
        self._acquire = client.register_script(_LOCK_ACQUIRE)
        self._renew = client.register_script(_LOCK_RENEW)
        self._release = client.register_script(_LOCK_RELEASE)

    def acquire(self, scope: LockScope, *, action: str, who: str) -> HeldLock:
        """Take the scope or raise :class:`ScopeLocked` naming the overlapping action; use the result in ``with``."""
        holder = new_holder(scope, action=action, who=who)
        with translated(f"lock {scope.name()}"):
            ok, other = cast(
                list[Any],
                self._acquire(
                    keys=[self._key], args=[scope.name(), scope.bucket, scope.prefix, json.dumps(holder), self._ms]
                ),
            )
        if not int(ok):
            raise ScopeLocked(scope, json.loads(other))
        return HeldLock(self, scope, holder["token"])

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
