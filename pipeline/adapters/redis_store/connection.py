"""The Redis client every adapter here shares, and the translation of its faults into the project's errors: a
connection, timeout or loading fault, a full Redis or a read-only replica all become :class:`StateUnavailable`, the
retryable class, so nothing above the adapters sees a ``redis`` exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.exceptions
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from pipeline.errors import StateUnavailable


def connect(url: str) -> redis.Redis:
    """A client that retries a dropped connection a few times with backoff before raising."""
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
    """The Redis server's clock (``TIME``) as Unix time: the one clock every host sharing this Redis agrees on.

    Times that decide what is kept or redelivered (failure-store retention, lock expiry, audit entries) come from
    it, never this host's: a host whose clock runs ahead must not trim or take over what others hold."""
    with translated("read the Redis clock"):
        seconds, micros = client.time()
    return seconds + micros / 1_000_000


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
