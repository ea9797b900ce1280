"""The remote-manifest cache and its single-flight claim: the same contract on the in-memory fake and real Redis,
and :class:`CachedManifestFetcher` over both (one fetch for a burst of workers, a bounded wait, a cache that is down
never loses a good fetch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis
import structlog

from pipeline.adapters.memory import InMemoryManifestCache
from pipeline.adapters.redis_store.manifests import RedisManifestCache
from pipeline.errors import RemoteManifestRefused, RemoteManifestUnavailable, StateUnavailable
from pipeline.manifest_cache import CachedManifestFetcher
from pipeline.ports import ManifestCache
from pipeline.remote_manifests import FetchPolicy, parse_origins

URL = "https://manifests.example/m/popular"
POLICY = FetchPolicy(allowed=parse_origins("https://manifests.example"), flight_wait_seconds=5.0)


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> ManifestCache:
    if request.param == "memory":
        return InMemoryManifestCache()
    client: redis.Redis = request.getfixturevalue("redis_client")
    return RedisManifestCache(client, prefix=request.getfixturevalue("key_prefix"))


class SlowFetcher:
    """A manifest server stand-in that takes ``seconds`` per fetch and counts the fetches (threads may overlap)."""

    def __init__(self, seconds: float = 0.3, body: bytes = b"store", fail: Exception | None = None) -> None:
        self.seconds, self.body, self.fail = seconds, body, fail
        self.calls = 0
        self._lock = threading.Lock()

    def fetch(self, url: str) -> bytes:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        if self.fail is not None:
            raise self.fail
        return self.body


def run_together(count: int, call: Callable[[], bytes]) -> list[bytes | BaseException]:
    results: list[bytes | BaseException] = []
    start = threading.Barrier(count)

    def one() -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# --- the port's contract --------------------------------------------------------------------------------------


def test_a_put_store_is_got_until_its_ttl(cache: ManifestCache) -> None:
    assert cache.get(URL) is None
    cache.put(URL, b"\x00jumb", 1)
    assert cache.get(URL) == b"\x00jumb"
    assert cache.get(URL + "?other") is None
    time.sleep(1.1)
    assert cache.get(URL) is None


def test_a_claim_is_exclusive_until_released_by_its_token(cache: ManifestCache) -> None:
    token = cache.claim(URL, 10_000)
    assert token is not None and cache.claimed(URL)
    assert cache.claim(URL, 10_000) is None
    cache.release(URL, "not-the-token")
    assert cache.claimed(URL) and cache.claim(URL, 10_000) is None
    cache.release(URL, token)
    assert not cache.claimed(URL)
    again = cache.claim(URL, 10_000)
    assert again is not None and again != token
    cache.release(URL, again)


def test_a_claim_expires(cache: ManifestCache) -> None:
    first = cache.claim(URL, 200)
    assert first is not None
    time.sleep(0.3)
    assert not cache.claimed(URL)
    second = cache.claim(URL, 10_000)
    assert second is not None
    cache.release(URL, first)  # the expired holder's late release leaves the new claim alone
    assert cache.claimed(URL)
    cache.release(URL, second)


# --- single flight over the port ------------------------------------------------------------------------------


def test_a_burst_of_workers_fetches_a_popular_manifest_once(cache: ManifestCache) -> None:
    inner = SlowFetcher(0.3)
    fetcher = CachedManifestFetcher(inner, cache, policy=POLICY, ttl_seconds=60)
    results = run_together(8, lambda: fetcher.fetch(URL))
    assert results == [b"store"] * 8
    assert inner.calls == 1
    assert not cache.claimed(URL)  # released after the fetch
    assert fetcher.fetch(URL) == b"store" and inner.calls == 1


def test_waiters_fetch_themselves_at_once_when_the_holder_fails(cache: ManifestCache) -> None:
    """The holder's fetch fails transiently: its claim is released, the waiters stop waiting and fetch."""
    inner = SlowFetcher(0.3, fail=RemoteManifestUnavailable("HTTP 503"))
    fetcher = CachedManifestFetcher(inner, cache, policy=POLICY, ttl_seconds=60)
    started = time.monotonic()
    results = run_together(3, lambda: fetcher.fetch(URL))
    assert all(isinstance(r, RemoteManifestUnavailable) for r in results)
    assert inner.calls == 3
    assert time.monotonic() - started < POLICY.flight_wait_seconds  # no waiter sat out the whole wait


def test_the_wait_for_a_stuck_holder_is_bounded(cache: ManifestCache) -> None:
    """Another worker holds the claim and never caches: after the wait this worker fetches itself."""
    held = cache.claim(URL, 60_000)
    assert held is not None
    inner = SlowFetcher(0.0)
    policy = FetchPolicy(allowed=POLICY.allowed, flight_wait_seconds=0.5)
    fetcher = CachedManifestFetcher(inner, cache, policy=policy, ttl_seconds=60)
    started = time.monotonic()
    assert fetcher.fetch(URL) == b"store"
    assert 0.5 <= time.monotonic() - started < 3
    assert inner.calls == 1
    assert cache.get(URL) == b"store"  # kept for the next upload
    cache.release(URL, held)


def test_a_refused_url_asks_neither_the_cache_nor_the_server(cache: ManifestCache) -> None:
    cache.put("https://elsewhere.example/m", b"cached before the list changed", 60)
    inner = SlowFetcher(0.0)
    fetcher = CachedManifestFetcher(inner, cache, policy=POLICY, ttl_seconds=60)
    with pytest.raises(RemoteManifestRefused, match="not on the allow-list"):
        fetcher.fetch("https://elsewhere.example/m")
    assert inner.calls == 0 and not cache.claimed("https://elsewhere.example/m")


def test_failures_are_not_cached(cache: ManifestCache) -> None:
    inner = SlowFetcher(0.0, fail=RemoteManifestRefused("HTTP 404"))
    fetcher = CachedManifestFetcher(inner, cache, policy=POLICY, ttl_seconds=60)
    for _ in range(2):
        with pytest.raises(RemoteManifestRefused):
            fetcher.fetch(URL)
    assert inner.calls == 2 and cache.get(URL) is None


# --- a cache that is down -------------------------------------------------------------------------------------


class WriteFails(InMemoryManifestCache):
    def put(self, url: str, body: bytes, ttl_seconds: int) -> None:
        raise StateUnavailable("write the remote manifest cache: Redis unreachable")


@pytest.mark.parametrize(
    "down",
    [
        pytest.param(lambda: WriteFails(), id="write-fails"),
        pytest.param(lambda: InMemoryManifestCache(down=True), id="memory-down"),
        pytest.param(
            lambda: RedisManifestCache(
                redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1), prefix="unreachable"
            ),
            id="redis-unreachable",
        ),
    ],
)
def test_a_cache_that_is_down_never_loses_a_good_fetch(down: Callable[[], ManifestCache]) -> None:
    inner = SlowFetcher(0.0)
    fetcher = CachedManifestFetcher(inner, down(), policy=POLICY, ttl_seconds=60)
    with structlog.testing.capture_logs() as logs:
        assert fetcher.fetch(URL) == b"store"
    assert inner.calls == 1
    unavailable = [e for e in logs if e["event"] == "manifest_cache.unavailable"]
    assert unavailable and all(e["manifest_url"] == URL and e["log_level"] == "warning" for e in unavailable)
    assert "write" in {e["operation"] for e in unavailable}
