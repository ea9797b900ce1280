"""The label stream: each record published exactly once per object version, with its guard."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, cast

import redis

from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.ports import MAX_GUARD_METADATA_BYTES, Guard
from pipeline.record import METADATA_PREFIX, encode_record

# SET the guard (its value: the metadata written, see RedisLabelSink) only if absent, and XADD in the same atomic
# step: a rerun can never add a second record.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'record', ARGV[4])
end
return false
"""


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
        self._keys = Keys(prefix)
        self._ttl = done_ttl
        self._maxlen = maxlen
        self._script = client.register_script(_PUBLISH_ONCE)

    def publish(self, record: Mapping[str, Any], dedupe_key: str, written: Mapping[str, str] | None = None) -> bool:
        payload = encode_record(record)
        with translated(f"publish to stream {self._stream}"):
            entry = self._script(
                keys=[self._keys.guard(dedupe_key), self._stream],
                args=[_guard_value(written), self._ttl, self._maxlen, payload],
            )
        return entry is not None

    def is_published(self, dedupe_key: str) -> bool:
        with translated("read exactly-once guard"):
            return bool(self._redis.exists(self._keys.guard(dedupe_key)))

    def guard(self, dedupe_key: str) -> Guard | None:
        with translated("read exactly-once guard"):
            raw = cast(bytes | None, self._redis.get(self._keys.guard(dedupe_key)))
        if raw is None:
            return None
        if not raw.startswith(b"{"):
            return Guard(None)
        written = json.loads(raw)
        return Guard({METADATA_PREFIX + str(k): str(v) for k, v in written.items()})

    def mark_published(self, dedupe_key: str, written: Mapping[str, str] | None = None) -> None:
        value = _guard_value(written)
        with translated("set exactly-once guard"):
            self._redis.set(self._keys.guard(dedupe_key), value, ex=self._ttl)


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
