"""The event queues an intake drains, each with the view from outside a test needs (how many events wait, how
many are in flight): SQS on moto's server, MinIO's Redis list on the test Redis, and the in-memory fake. Tests
parametrised over :data:`SOURCES` run one scenario against every source."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline.adapters.memory import InMemoryEventQueue
from pipeline.adapters.redis_list import RedisEventList
from pipeline.adapters.sqs import SqsEventQueue
from pipeline.ports import EventQueue

SOURCES = ("sqs", "redis", "memory")

SQS_VISIBILITY_SECONDS = 1
"""Short, so that a test sees a message whose round failed come back without waiting a minute: a test that counts
SQS messages in flight must allow for them coming back (or ask for a longer ``visibility_timeout``)."""


@dataclass(frozen=True)
class EventSource:
    queue: EventQueue
    push: Callable[[Sequence[str]], None]
    """Add notifications as the storage would (SQS SendMessage, MinIO's RPUSH)."""
    waiting: Callable[[], int]
    """Events no receive has taken."""
    in_flight: Callable[[], int]
    """Events received and neither acknowledged nor given back (SQS: not visible; Redis: the processing list)."""
    wait_seconds: float
    """How long a round's first receive waits (SQS's long poll is in whole seconds)."""


def event_source(
    kind: str, request: pytest.FixtureRequest, *, visibility_timeout: int = SQS_VISIBILITY_SECONDS
) -> EventSource:
    """The source ``kind`` (one of :data:`SOURCES`), empty, with the test's own queue or key; an SQS receive hides
    its messages for ``visibility_timeout`` seconds."""
    if kind == "memory":
        fake = InMemoryEventQueue()
        return EventSource(
            fake, lambda bodies: fake.push(*bodies), lambda: len(fake.ready), lambda: len(fake.in_flight), 0
        )
    prefix: str = request.getfixturevalue("key_prefix")
    if kind == "redis":
        client = request.getfixturevalue("redis_client")
        key = f"{prefix}:events"
        return EventSource(
            RedisEventList(client, key),
            lambda bodies: client.rpush(key, *bodies),
            lambda: int(client.llen(key)),
            lambda: int(client.llen(f"{key}:processing")),
            1,
        )
    assert kind == "sqs", kind
    sqs = request.getfixturevalue("sqs")
    url: str = sqs.create_queue(QueueName=f"{prefix}-events")["QueueUrl"]
    request.addfinalizer(lambda: sqs.delete_queue(QueueUrl=url))
    return EventSource(
        SqsEventQueue(sqs, url, visibility_timeout=visibility_timeout),
        lambda bodies: _send(sqs, url, bodies),
        lambda: _attribute(sqs, url, "ApproximateNumberOfMessages"),
        lambda: _attribute(sqs, url, "ApproximateNumberOfMessagesNotVisible"),
        1,
    )


def _send(sqs: Any, url: str, bodies: Sequence[str]) -> None:
    for first in range(0, len(bodies), 10):
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[first : first + 10])]
        result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not result.get("Failed"), result["Failed"]


def _attribute(sqs: Any, url: str, name: str) -> int:
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name])
