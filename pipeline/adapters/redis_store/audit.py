"""The audit log: operator actions on a capped Redis stream, stamped by the Redis clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import redis

from pipeline.adapters.redis_store.connection import server_time, translated
from pipeline.adapters.redis_store.keys import Keys

MAX_ENTRIES = 100_000
"""Entries the stream keeps, about (``XADD MAXLEN ~``): years of operator actions."""


class RedisAuditLog:
    """:class:`pipeline.ports.AuditLog` on ``{p}:audit``; each entry has one field, ``entry`` (JSON: action, who,
    at, then the action's own fields)."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self._redis = client
        self._stream = Keys(prefix).audit

    def record(self, action: str, who: str, fields: Mapping[str, Any]) -> None:
        entry = {"action": action, "who": who, "at": server_time(self._redis), **fields}
        with translated("write the audit log"):
            self._redis.xadd(self._stream, {"entry": json.dumps(entry)}, maxlen=MAX_ENTRIES, approximate=True)

    def latest(self, count: int = 50) -> list[dict[str, Any]]:
        with translated("read the audit log"):
            entries = cast(list[tuple[bytes, dict[bytes, bytes]]], self._redis.xrevrange(self._stream, count=count))
        return [json.loads(fields[b"entry"]) for _, fields in entries]
