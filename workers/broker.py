"""The broker connection (Celery on kombu's Redis transport): what keeps a reconnect from stalling or killing a worker.

Two faults of the transport, both seen on a Redis restart under load (``python -m bench.soak_redis_restart``):

* **A read that waits forever.** kombu's default ``socket_timeout`` is None. A broker that stops answering without
  closing the connection (paused, swapping, loading a large AOF on a starved host, a failover behind a NAT) leaves a
  publish, an ack, or the worker's connection-loss cleanup (``restore_unacked`` opens a fresh connection and waits
  for its reply) blocked on a socket read that never returns: the intake stops publishing, the worker stops
  consuming, and no error is logged. :data:`TRANSPORT_OPTIONS` bounds every socket operation, so a stalled
  connection raises kombu's ``TimeoutError``, a connection error, and kombu reconnects.
* **A closed connection's channel raising AttributeError.** After Celery's consumer collected a lost connection
  (kombu's ``Connection.collect`` sets the transport's ``client`` to None), a channel still in use (the consumer's
  final close with unacknowledged messages, an ack run when the event loop closes) builds a new connection pool
  from ``transport.client.hostname`` and raises ``AttributeError: 'NoneType' object has no attribute 'hostname'``.
  Celery does not take an AttributeError for a connection error: it logs ``Unrecoverable error`` and shuts the
  worker down (``Error on stopping Hub`` follows), so a Redis restart could stop a worker for good.
  :func:`install_closed_connection_guard` makes that case raise redis' ``ConnectionError`` instead, which kombu's
  close paths ignore and Celery answers by reconnecting; the unacknowledged messages come back through the
  visibility sweep as after any connection loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kombu
import redis
from kombu.transport import redis as kombu_redis

SOCKET_TIMEOUT = 10.0
"""Seconds one socket read or write on a broker connection may take. A live Redis answers in milliseconds; the
consumer's BRPOP is read by the event loop only when its socket is readable, so this never cuts a long poll."""

TRANSPORT_OPTIONS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    # A timed-out read is not retried on the same connection (redis-py would, up to three times, each as long):
    # the error goes to kombu, which reconnects.
    "retry_on_timeout": False,
    # redis-py pings a connection idle this long before using it; kombu also drops a BRPOP connection whose reply
    # is overdue by more than brpop_timeout + this (a consumer on a half-open socket recovers in about twice this).
    "health_check_interval": 10,
}
"""Broker transport options about the connection itself; :func:`workers.app.celery_config` adds the visibility ones."""

_original_connparams = kombu_redis.Channel._connparams


def _guarded_connparams(self: kombu_redis.Channel, asynchronous: bool = False) -> Any:
    transport = self.connection
    if transport is None or transport.client is None:
        raise redis.exceptions.ConnectionError(
            "the broker connection of this channel was closed (a connection loss); kombu reconnects"
        )
    return _original_connparams(self, asynchronous=asynchronous)  # type: ignore[no-untyped-call]


def install_closed_connection_guard() -> None:
    """Make a channel of a closed broker connection raise ConnectionError, not AttributeError (idempotent)."""
    kombu_redis.Channel._connparams = _guarded_connparams  # type: ignore[method-assign]


def queue_depth(broker_url: str, queue: str) -> Callable[[], int]:
    """How many tasks wait in the broker's queue, for the intake's linger and the ``media_ingest_queue_depth``
    gauge: the length of the list kombu's Redis transport keeps, or a RabbitMQ queue's message count (a passive
    declare; a queue that does not exist yet holds nothing)."""
    if broker_url.startswith(("amqp://", "amqps://")):
        connection = kombu.Connection(broker_url, connect_timeout=5)  # type: ignore[no-untyped-call]  # kombu: untyped

        def amqp_depth() -> int:
            try:
                with connection.channel() as channel:  # type: ignore[no-untyped-call]  # kombu: untyped
                    return int(channel.queue_declare(queue, passive=True).message_count)
            except connection.channel_errors:  # NOT_FOUND: nothing was published to it yet
                return 0

        return amqp_depth
    client = redis.Redis.from_url(broker_url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=5)

    def redis_depth() -> int:
        return int(client.llen(queue))

    return redis_depth
