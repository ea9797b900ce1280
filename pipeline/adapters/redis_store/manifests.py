"""Fetched remote C2PA manifest stores, cached in Redis by URL with a TTL, so a manifest that many uploads
reference is fetched once per TTL, not once per upload (:class:`CachedManifestFetcher`)."""

from __future__ import annotations

import redis

from pipeline.adapters.redis_store.connection import translated
from pipeline.adapters.redis_store.keys import Keys
from pipeline.errors import RemoteManifestRefused
from pipeline.ports import ManifestFetcher
from pipeline.remote_manifests import FetchPolicy, check_url


class CachedManifestFetcher:
    """:class:`pipeline.ports.ManifestFetcher` that asks Redis first and keeps what ``inner`` fetched.

    Only successful fetches are kept: a refusal or a transient fault is asked again next time (the allow-list or
    the server may have changed), and the URL is checked against the allow-list before the cache is asked. The
    bytes are cached as fetched; the reader validates them against each asset.
    """

    def __init__(
        self, inner: ManifestFetcher, client: redis.Redis, *, policy: FetchPolicy, prefix: str, ttl_seconds: int
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._client = client
        self._keys = Keys(prefix)
        self._ttl = ttl_seconds

    def fetch(self, url: str) -> bytes:
        if not self._policy.enabled:
            raise RemoteManifestRefused(f"remote manifest {url} not fetched (MEDIA_INGEST_REMOTE_MANIFESTS=off)")
        check_url(url, self._policy)  # a cached manifest of an origin taken off the allow-list is not used
        key = self._keys.manifest(url)
        with translated("read the remote manifest cache"):
            cached = self._client.get(key)
        if isinstance(cached, bytes):
            return cached
        body = self._inner.fetch(url)
        if self._ttl > 0:
            with translated("write the remote manifest cache"):
                self._client.set(key, body, ex=self._ttl)
        return body
