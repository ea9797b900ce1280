"""The EventQueue contract (pipeline/ports.py), the same tests over SQS on moto's server, MinIO's Redis list on the
test Redis, and the in-memory fake: events in flight until acknowledged, given back by ``recover`` (SQS: by itself,
after the visibility timeout)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline.adapters.memory import InMemoryEventQueue
from pipeline.adapters.redis_list import RedisEventList
from pipeline.adapters.sqs import SqsEventQueue
from pipeline.errors import QueueUnavailable, SourceMisconfigured, StateUnavailable
from tests.support.event_sources import SOURCES, EventSource, event_source


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest) -> EventSource:
    """SQS messages hidden for a second after a receive: they come back soon."""
    return event_source(request.param, request)


@pytest.fixture(params=SOURCES)
def held(request: pytest.FixtureRequest) -> EventSource:
    """SQS messages hidden for a minute after a receive: in flight for the whole test, however slow the machine."""
    return event_source(request.param, request, visibility_timeout=60)


def bodies(n: int) -> list[str]:
    return [f'{{"n": {i}}}' for i in range(n)]


def test_an_empty_queue_gives_nothing(source: EventSource) -> None:
    source.queue.check()
    assert source.queue.receive(0, 10) == []


def test_received_events_are_in_flight_until_acknowledged(held: EventSource) -> None:
    source = held
    source.push(bodies(3))
    first = source.queue.receive(source.wait_seconds, 2)
    assert [e.body if isinstance(e.body, str) else e.body.decode() for e in first] == bodies(2)
    assert all(e.origin.startswith(f"{source.queue.source}:") for e in first)
    assert (source.waiting(), source.in_flight()) == (1, 2)
    rest = source.queue.receive(source.wait_seconds, 10)
    assert len(rest) == 1, "an event in flight is not handed out twice"
    source.queue.acknowledge(first)
    assert (source.waiting(), source.in_flight()) == (0, 1)
    source.queue.acknowledge(rest)
    assert (source.waiting(), source.in_flight()) == (0, 0)


def test_what_was_never_acknowledged_comes_back(source: EventSource) -> None:
    source.push(bodies(2))
    taken = source.queue.receive(source.wait_seconds, 10)
    assert len(taken) == 2
    given_back = source.queue.recover()
    deadline = time.monotonic() + 30
    again: list[Any] = []
    while len(again) < 2:  # SQS: after the visibility timeout; the others at once
        assert time.monotonic() < deadline, "the events did not come back"
        again += source.queue.receive(source.wait_seconds, 10)
    assert sorted(str(e.body) for e in again) == sorted(str(e.body) for e in taken)
    assert given_back == (0 if source.queue.source == "sqs" else 2)
    source.queue.acknowledge(again)
    assert (source.waiting(), source.in_flight()) == (0, 0)


def test_a_receive_takes_at_most_its_limit_and_the_source_maximum(held: EventSource) -> None:
    source = held
    source.push(bodies(12))
    assert len(source.queue.receive(source.wait_seconds, 3)) == 3
    most = {"sqs": 10, "redis": 100, "memory": 10}[source.queue.source]
    assert len(source.queue.receive(source.wait_seconds, 100)) == min(9, most)


def test_each_queue_names_itself_for_the_logs() -> None:
    assert SqsEventQueue(None, "https://sqs.example/q").describe() == {"queue_url": "https://sqs.example/q"}
    assert (SqsEventQueue.source, SqsEventQueue.unit) == ("sqs", "messages")
    assert RedisEventList(None, "minio:events").describe() == {"key": "minio:events"}  # type: ignore[arg-type]
    assert (RedisEventList.source, RedisEventList.unit) == ("redis", "events")


def test_a_misconfigured_fake_refuses_like_the_redis_list() -> None:
    queue = InMemoryEventQueue(refusal="not a list")
    with pytest.raises(SourceMisconfigured, match="not a list"):
        queue.check()
    with pytest.raises(SourceMisconfigured):
        queue.receive(0, 10)


def test_unreachable_sources_raise_the_projects_errors(key_prefix: str) -> None:
    import boto3
    import redis
    from botocore.config import Config

    dead_redis = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(StateUnavailable, match="Redis unreachable"):
        RedisEventList(dead_redis, f"{key_prefix}:events").receive(0, 10)
    config = Config(retries={"max_attempts": 1}, connect_timeout=0.5)
    dead_sqs = boto3.session.Session().client("sqs", endpoint_url="http://127.0.0.1:1", config=config)
    with pytest.raises(QueueUnavailable, match="SQS receive from"):
        SqsEventQueue(dead_sqs, "http://127.0.0.1:1/q").receive(0, 10)
