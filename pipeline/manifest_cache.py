"""Remote manifest stores through a shared cache, fetched once per URL however many workers want one at a time.

:class:`CachedManifestFetcher` asks the :class:`~pipeline.ports.ManifestCache` first. On a miss it claims the URL
(a short lock, Redis ``SET NX PX``): the worker that gets the claim fetches and puts the store in the cache, the
others poll the cache for at most :attr:`FetchPolicy.flight_wait_seconds <pipeline.remote_manifests.FetchPolicy>`
and then fetch it themselves (a claim whose holder failed or died stops the wait at once, or expires after one
fetch bound). So a popular manifest referenced by a burst of uploads costs one request, and a slow or failing
holder costs the others at most the wait.

The cache is an optimisation, never a reason to lose a good fetch or to fail an object: a cache that cannot be
read or written (Redis down, :class:`~pipeline.errors.StateUnavailable`) is logged (``manifest_cache.unavailable``)
and the manifest is fetched and used without it. Only successful fetches are cached; the URL is checked against the
allow-list before the cache is asked, so a cached store of an origin taken off the list is not used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from pipeline.errors import StateUnavailable
from pipeline.ports import ManifestCache, ManifestFetcher
from pipeline.remote_manifests import FetchPolicy, check_url

log = structlog.get_logger("media_ingest.manifests")

POLL_SECONDS = 0.05
"""How often a waiting worker looks for the store the claim's holder is fetching."""

_T = TypeVar("_T")


class CachedManifestFetcher:
    """:class:`pipeline.ports.ManifestFetcher` that asks ``cache`` first, single-flight per URL, and keeps what
    ``inner`` fetched for ``ttl_seconds`` (0: not kept)."""

    def __init__(
        self,
        inner: ManifestFetcher,
        cache: ManifestCache,
        *,
        policy: FetchPolicy,
        ttl_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._policy = policy
        self._ttl = ttl_seconds
        self._clock = clock
        self._sleep = sleep

    def fetch(self, url: str) -> bytes:
        check_url(url, self._policy)  # refused before the cache is asked
        cached = self._cached(url)
        if cached is not None:
            return cached
        lock_ms = max(1, int(self._policy.fetch_bound_seconds * 1000))
        token = self._quietly(url, "claim", lambda: self._cache.claim(url, lock_ms), None)
        if token is None:
            waited = self._wait(url)
            if waited is not None:
                return waited
        try:
            body = self._inner.fetch(url)
            if self._ttl > 0:
                self._quietly(url, "write", lambda: self._cache.put(url, body, self._ttl), None)
            return body
        finally:
            if token is not None:
                held = token
                self._quietly(url, "release", lambda: self._cache.release(url, held), None)

    def _cached(self, url: str) -> bytes | None:
        return self._quietly(url, "read", lambda: self._cache.get(url), None)

    def _wait(self, url: str) -> bytes | None:
        """The store another worker is fetching, once it is in the cache; None when the wait ends without it (the
        holder released its claim without caching, or the wait is over)."""
        deadline = self._clock() + self._policy.flight_wait_seconds
        while self._clock() < deadline:
            self._sleep(POLL_SECONDS)
            cached = self._cached(url)
            if cached is not None:
                return cached
            if not self._quietly(url, "read", lambda: self._cache.claimed(url), False):
                return self._cached(url)  # the holder finished: cached just now, or it failed
        log.info("manifest_cache.wait_over", manifest_url=url, waited_seconds=self._policy.flight_wait_seconds)
        return None

    def _quietly(self, url: str, what: str, call: Callable[[], _T], fallback: _T) -> _T:
        try:
            return call()
        except StateUnavailable as exc:
            log.warning("manifest_cache.unavailable", manifest_url=url, operation=what, error=str(exc))
            return fallback
