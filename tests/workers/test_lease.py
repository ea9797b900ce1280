"""Lease deadlines by the Redis server's clock, on a real Redis with kombu's own Redis transport.

kombu scores each delivery in its unacked index and sweeps expired ones back to the queue by a clock; these tests
give one "host" a wall clock far from the others' and check that no deadline moves with it.
"""

from __future__ import annotations

import time
import uuid

import kombu
import kombu.transport.redis as transport
import pytest
from celery.worker import state

from pipeline.settings import Settings
from workers.composition import lease_connection
from workers.lease import UNACKED_INDEX, LeaseKeeper, install_redis_clock


def lease_client(redis_url: str):
    """The client a worker's lease keeper and Redis clock get from the composition root."""
    return lease_connection(Settings(redis_url=redis_url))


def redis_now(client) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


class _Message:
    def __init__(self, tag):
        self.delivery_tag = tag


class _Request:
    def __init__(self, tag):
        self.message = _Message(tag)


def test_the_lease_keeper_renews_by_the_redis_clock_when_its_own_runs_behind(
    redis_url, redis_client, key_prefix, monkeypatch
):
    index = f"{key_prefix}:unacked_index"
    held = f"tag-{uuid.uuid4()}"
    redis_client.zadd(index, {held: 1.0})
    state.requests["lease-test"] = _Request(held)
    keeper = LeaseKeeper(lease_client(redis_url), 60, index_key=index)
    try:
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() - 3600)  # this host's clock, an hour behind
        assert keeper.renew() == 1
        monkeypatch.undo()
    finally:
        del state.requests["lease-test"]
        keeper.close()
    # An hour-old score would be swept back to the queue by every other worker at once.
    assert abs(redis_client.zscore(index, held) - redis_now(redis_client)) < 5


@pytest.fixture
def channel(redis_url, key_prefix):
    """kombu's Redis transport with its unacked keys under the test's prefix (other tests' deliveries are safe)."""
    connection = kombu.Connection(
        redis_url,
        transport_options={
            "visibility_timeout": 30,
            "unacked_key": f"{key_prefix}:unacked",
            "unacked_index_key": f"{key_prefix}:unacked_index",
            "unacked_mutex_key": f"{key_prefix}:unacked_mutex",
        },
    )
    yield connection.default_channel
    connection.close()


def test_a_host_whose_clock_runs_ahead_does_not_sweep_back_a_task_another_worker_runs(
    redis_url, redis_client, key_prefix, channel, monkeypatch
):
    queue = f"{key_prefix}:queue"
    monkeypatch.setattr(transport, "time", transport.time)  # restored after the test
    clocks = [install_redis_clock(lease_client(redis_url))]  # host A, clock right: its worker takes the task, runs it
    producer = kombu.Connection(redis_url)
    simple = producer.SimpleQueue(queue)
    try:
        simple.put({"task": "label"})
        message = channel.basic_get(queue, no_ack=False)
        assert message is not None
        index = f"{key_prefix}:unacked_index"
        assert redis_client.zcard(index) == 1
        # Host B's wall clock runs 10 minutes ahead (far more than the 30 s timeout); its worker starts and sweeps.
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 600)
        monkeypatch.setattr(transport, "time", lambda: real() + 600)
        clocks.append(install_redis_clock(lease_client(redis_url)))  # what B's worker_init does
        channel.qos.restore_visible(num=10, interval=1)
        monkeypatch.undo()
        assert redis_client.zcard(index) == 1, "a running task was swept back to the queue"
        assert redis_client.llen(queue) == 0
        # The sweep itself works: past the timeout by the Redis clock, the delivery does come back.
        redis_client.zadd(index, {message.delivery_tag: redis_now(redis_client) - 31}, xx=True)
        channel.qos.restore_visible(num=10, interval=1)
        assert redis_client.llen(queue) == 1 and redis_client.zcard(index) == 0
    finally:
        simple.close()
        producer.close()
        for clock in clocks:
            clock.close()
        redis_client.delete(f"_kombu.binding.{queue}")


def test_the_lease_keeper_renews_exactly_the_deliveries_this_worker_holds(redis_url, redis_client):
    held, other = f"tag-{uuid.uuid4()}", f"tag-{uuid.uuid4()}"
    redis_client.zadd(UNACKED_INDEX, {held: 1.0, other: 1.0})
    request = _Request(held)
    state.requests["task-1"] = request
    try:
        assert LeaseKeeper(lease_connection(Settings(redis_url=redis_url)), 60).renew() == 1
        assert redis_client.zscore(UNACKED_INDEX, held) > time.time() - 5  # renewed: not redelivered
        assert redis_client.zscore(UNACKED_INDEX, other) == 1.0  # another worker's: left to expire
        redis_client.zrem(UNACKED_INDEX, held)
        LeaseKeeper(lease_connection(Settings(redis_url=redis_url)), 60).renew()
        assert redis_client.zscore(UNACKED_INDEX, held) is None  # XX: an acked delivery is not brought back
    finally:
        del state.requests["task-1"]
        redis_client.zrem(UNACKED_INDEX, held, other)
