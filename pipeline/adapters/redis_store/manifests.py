"""Fetched remote C2PA manifest stores cached in Redis by URL with a TTL, and the single-flight claim on a URL
(:class:`RedisManifestCache`), so a manifest that many uploads reference is fetched once per TTL, not once per
upload, nor once per worker when a burst of uploads references it at the same moment."""

from __future__ import annotations

import secrets

import redis

from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.manifest_cache import CachedManifestFetcher as _Cached
from pipeline.ports import ManifestFetcher
from pipeline.remote_manifests import FetchPolicy

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisManifestCache:
    """:class:`pipeline.ports.ManifestCache` in Redis: ``{p}:manifest:{sha}`` holds a store's bytes (``EX`` the
    TTL), ``{p}:manifest-flight:{sha}`` a claim's token (``SET NX PX``, released only by its token)."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self._client = client
        self._keys = Keys(prefix)
        self._release = client.register_script(_RELEASE)

    def get(self, url: str) -> bytes | None:
        with translated("read the remote manifest cache"):
            cached = self._client.get(self._keys.manifest(url))
        return cached if isinstance(cached, bytes) else None

    def put(self, url: str, body: bytes, ttl_seconds: int) -> None:
        with translated("write the remote manifest cache"):
            self._client.set(self._keys.manifest(url), body, ex=ttl_seconds)

    def claim(self, url: str, ttl_ms: int) -> str | None:
        token = secrets.token_hex(16)
        with translated("claim a remote manifest fetch"):
            taken = self._client.set(self._keys.manifest_flight(url), token, nx=True, px=ttl_ms)
        return token if taken else None

    def claimed(self, url: str) -> bool:
        with translated("read a remote manifest fetch claim"):
            return bool(self._client.exists(self._keys.manifest_flight(url)))

    def release(self, url: str, token: str) -> None:
        with translated("release a remote manifest fetch claim"):
            self._release(keys=[self._keys.manifest_flight(url)], args=[token])


class CachedManifestFetcher(_Cached):
    """:class:`pipeline.manifest_cache.CachedManifestFetcher` over :class:`RedisManifestCache`."""

    def __init__(
        self, inner: ManifestFetcher, client: redis.Redis, *, policy: FetchPolicy, prefix: str, ttl_seconds: int
    ) -> None:
        super().__init__(inner, RedisManifestCache(client, prefix=prefix), policy=policy, ttl_seconds=ttl_seconds)
