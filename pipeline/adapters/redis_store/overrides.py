"""Operator overrides of labels, one Redis string per object content, kept without expiry."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.model import NamesAVersion
from pipeline.ports import Override, override_identity


class RedisOverrideStore:
    """:class:`pipeline.ports.OverrideStore` on ``{p}:override:{sha}`` (JSON of the :class:`Override`, with the
    bucket, key and ETag it is for); ``{p}:overrides`` indexes them (sorted set identity -> Unix time set)."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self._redis = client
        self._keys = Keys(prefix)

    def get(self, obj: NamesAVersion) -> Override | None:
        with translated(f"read the override of s3://{obj.bucket}/{obj.key}"):
            found = self._redis.get(self._keys.override(override_identity(obj)))
        if not isinstance(found, bytes):
            return None
        return Override.from_dict(json.loads(found))

    def put(self, obj: NamesAVersion, override: Override) -> None:
        identity = override_identity(obj)
        body = {**override.to_dict(), "bucket": obj.bucket, "key": obj.key, "etag": obj.etag}
        with translated(f"write the override of s3://{obj.bucket}/{obj.key}"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._keys.override(identity), json.dumps(body))
            pipe.zadd(self._keys.overrides, {identity: _seconds(override.at)})
            pipe.execute()

    def entries(self, count: int = 1000) -> list[dict[str, Any]]:
        with translated("list the overrides"):
            identities = cast(list[bytes], self._redis.zrevrange(self._keys.overrides, 0, count - 1))
            if not identities:
                return []
            bodies = cast(list[bytes | None], self._redis.mget([self._keys.override(i.decode()) for i in identities]))
        return [json.loads(body) for body in bodies if body is not None]


def _seconds(at: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(at).timestamp()
    except ValueError:
        return 0.0
