"""Keep the broker's visibility lease on every message this worker holds, so a short visibility timeout is safe,
and keep every lease deadline on one clock: the Redis server's.

Celery's Redis transport (kombu) redelivers a message whose delivery is older than ``visibility_timeout`` and not
yet acknowledged: each delivery is a member of the ``unacked_index`` sorted set scored with its delivery time (and
its body is kept in the ``unacked`` hash), and every worker's restore sweep moves the members scored before "now
minus the visibility timeout" back to the queue. A long timeout makes a crashed worker's tasks wait that long; a
short one runs long tasks twice. :class:`LeaseKeeper`, a thread in the worker's main process, re-scores every
delivery the worker still holds (running, prefetched, or waiting for a retry's countdown) every
``visibility_timeout / 4`` seconds. A worker that is SIGKILLed stops renewing, and its messages come back within
one visibility timeout plus kombu's restore sweep.

Out of the box kombu takes both "delivery time" and "now" from the local clock of whichever host runs the code, so
hosts whose clocks disagree break the lease: a host whose clock runs ahead by more than the timeout sweeps every
other host's running tasks back to the queue, and one whose clock runs behind renews to scores the others already
see as expired. So every score and every sweep here uses the Redis server's clock: the keeper re-scores with
``TIME`` inside the same script (:data:`_RENEW`), and :func:`install_redis_clock` makes kombu's transport read a
:class:`RedisClock` (Redis ``TIME``, advanced by this host's monotonic clock between syncs) instead of
``time.time``. Skew between hosts then moves no deadline.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
import structlog
from celery.worker import state

log = structlog.get_logger("media_ingest.lease")

UNACKED_INDEX = "unacked_index"  # kombu's default ``unacked_index_key``

# Re-score the deliveries still in the index (XX: an acknowledged one is not brought back) with the server's time.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) end
return #ARGV
"""


def held_delivery_tags() -> set[str]:
    """Delivery tags of every message this worker process has received and not acknowledged."""
    for _ in range(3):
        try:
            requests: list[Any] = [
                *state.requests.values(),
                *state.reserved_requests,
                *state.active_requests,
                *state.scheduled_requests,
            ]
            break
        except RuntimeError:  # a set changed size while we copied it; try again
            continue
    else:
        return set()
    tags = set()
    for request in requests:
        message = getattr(request, "message", None)
        tag = getattr(message, "delivery_tag", None)
        if tag:
            tags.add(str(tag))
    return tags


class RedisClock:
    """The Redis server's clock as Unix time, without a round trip per reading: ``TIME`` at each :meth:`sync`,
    advanced by this host's monotonic clock in between (which a wrong or stepped wall clock does not move).
    Before the first successful sync it reads the local clock."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._base: tuple[float, float] | None = None

    def sync(self) -> float:
        """Read ``TIME`` (halfway through the round trip); returns the server time. Raises RedisError."""
        before = time.monotonic()
        seconds, micros = self._client.time()
        after = time.monotonic()
        server = seconds + micros / 1_000_000
        self._base = (server, (before + after) / 2)
        return server

    def close(self) -> None:
        self._client.close()

    def now(self) -> float:
        base = self._base
        if base is None:
            return time.time()
        return base[0] + (time.monotonic() - base[1])


def install_redis_clock(client: redis.Redis) -> RedisClock:
    """Make kombu's Redis transport score deliveries and sweep for expired ones by the Redis server's clock.

    kombu's transport reads the module-level name ``time`` (``from time import time``) in ``QoS.append`` (the
    delivery's score) and ``QoS.restore_visible`` (the sweep's "now"); this replaces it, for this process, with a
    :class:`RedisClock` that the :class:`LeaseKeeper` given it keeps in sync. Call it in the worker's main process
    before the consumer starts (Celery's ``worker_init``), so even the first sweep goes by the Redis clock.
    ``client``: the clock's own (:func:`workers.composition.lease_connection`), closed by :meth:`RedisClock.close`.
    """
    import kombu.transport.redis as transport

    clock = RedisClock(client)
    try:
        skew = clock.sync() - time.time()
        if abs(skew) > 1:
            log.warning("lease.clock_skew", seconds_behind_redis=round(skew, 3))
    except redis.exceptions.RedisError as exc:
        log.warning("lease.clock_unsynced", reason=str(exc), using="the local clock until the first renewal")
    if not callable(getattr(transport, "time", None)):
        raise RuntimeError(
            "kombu.transport.redis has no module-level time(): this kombu is not the one workers/lease.py was "
            "written for; check the lease against its QoS.append and restore_visible"
        )
    transport.time = clock.now
    return clock


class LeaseKeeper(threading.Thread):
    """The renewal thread; ``client`` is its own (:func:`workers.composition.lease_connection`), closed by
    :meth:`close`."""

    def __init__(
        self,
        client: redis.Redis,
        visibility_timeout: int,
        *,
        clock: RedisClock | None = None,
        index_key: str = UNACKED_INDEX,
    ) -> None:
        super().__init__(name="media-ingest-lease", daemon=True)
        self._client = client
        self._renew = self._client.register_script(_RENEW)
        self._clock = clock
        self._index = index_key
        self.interval = max(1.0, visibility_timeout / 4)
        self.stopping = threading.Event()

    def renew(self) -> int:
        """Re-score every delivery this worker holds with the Redis server's time; returns how many it holds."""
        if self._clock is not None:
            self._clock.sync()
        tags = held_delivery_tags()
        if tags:
            self._renew(keys=[self._index], args=sorted(tags))
        return len(tags)

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.renew()
            except redis.exceptions.RedisError as exc:
                log.warning("lease.renew_failed", reason=str(exc), retry_in_s=self.interval)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        """Close the keeper's Redis connection (after :meth:`stop`, or for a keeper never started)."""
        self._client.close()
