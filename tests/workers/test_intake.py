"""The intake's dispatch step: one task per created object, bad notifications recorded, our own echoes dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.memory import InMemoryFailureSink, InMemoryLabelSink
from pipeline.model import ObjectRef
from pipeline.process import dedupe_key
from workers.intake import Dispatched, dispatch, echo_filter

POLICY = "2026.11-1"


def notification(*records: tuple[str, str, str]) -> str:
    """An S3 event notification body with one record per (eventName, key, etag)."""
    return json.dumps(
        {
            "Records": [
                {"eventName": name, "s3": {"bucket": {"name": "uploads"}, "object": {"key": key, "eTag": etag}}}
                for name, key, etag in records
            ]
        }
    )


@pytest.fixture
def sink() -> InMemoryLabelSink:
    sink = InMemoryLabelSink()
    sink.mark_published(dedupe_key("uploads", "labelled.jpg", None, "e1", POLICY))
    return sink


def run(body: str, sink: InMemoryLabelSink, *, filtered: bool = True) -> tuple[Dispatched, list[str]]:
    enqueued: list[ObjectRef] = []

    def enqueue(ref: ObjectRef, batch_id: str) -> None:
        enqueued.append(ref)

    result = dispatch(
        body,
        batch_id="b",
        enqueue=enqueue,
        failures=InMemoryFailureSink(),
        origin="test",
        is_echo=echo_filter(sink, POLICY) if filtered else None,
    )
    return result, [f"{r.event_name} {r.key}" for r in enqueued]


def test_the_copy_event_of_a_labelled_version_is_dropped(sink):
    assert run(notification(("ObjectCreated:Copy", "labelled.jpg", "e1")), sink) == (Dispatched(0, 1), [])


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (("ObjectCreated:Put", "labelled.jpg", "e1"), "an upload of the same bytes may carry other metadata"),
        (("ObjectCreated:Copy", "labelled.jpg", "e2"), "other content under the key"),
        (("ObjectCreated:Copy", "other.jpg", "e1"), "a user's copy to another key needs its own record"),
    ],
)
def test_everything_else_reaches_a_worker(sink, record: tuple[str, str, str], why: str):
    assert run(notification(record), sink) == (Dispatched(1, 0), [f"{record[0]} {record[1]}"]), why


def test_without_the_filter_echoes_reach_a_worker(sink):
    body = notification(("ObjectCreated:Copy", "labelled.jpg", "e1"))
    assert run(body, sink, filtered=False) == (Dispatched(1, 0), ["ObjectCreated:Copy labelled.jpg"])


def test_a_mixed_notification_counts_both(sink):
    body = notification(("ObjectCreated:Copy", "labelled.jpg", "e1"), ("ObjectCreated:Put", "new.jpg", "e9"))
    assert run(body, sink) == (Dispatched(1, 1), ["ObjectCreated:Put new.jpg"])


def test_a_bad_notification_is_recorded_not_raised(sink):
    failures = InMemoryFailureSink()
    result = dispatch("not json", batch_id="b", enqueue=_never, failures=failures, origin="sqs:m1")
    assert result == Dispatched(0, 0)
    [entry] = failures.entries()
    assert (entry["error_class"], entry["key"]) == ("BadEvent", "sqs:m1")


def _never(ref: Any, batch_id: str) -> None:
    raise AssertionError("nothing should be enqueued")


class FakeSqs:
    """receive_message / delete_message_batch of one queue, in memory."""

    def __init__(self, bodies: list[str]) -> None:
        self.messages = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": b} for i, b in enumerate(bodies)]
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": list(self.messages[:10])}

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in Entries]
        return {}


class Broker:
    """A grouping enqueue whose publishes can fail, recording what reached the 'broker'."""

    def __init__(self, *, fail_groups: bool = False) -> None:
        from pipeline.grouping import Grouper, GroupingRule

        self.tasks: list[list[str]] = []
        self.fail_groups = fail_groups
        self.grouper = Grouper(
            GroupingRule(max_objects=10),
            publish_one=lambda r, b: self.tasks.append([r.key]),
            publish_group=self._group,
        )

    def _group(self, refs: Any, batch_id: Any) -> None:
        if self.fail_groups:
            raise ConnectionError("broker down")
        self.tasks.append([r.key for r in refs])


def sized(key: str) -> str:
    return json.dumps(
        {
            "Records": [
                {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "u"}, "object": {"key": key, "size": 5}}}
            ]
        }
    )


def sqs_intake(sqs: FakeSqs, broker: Broker, counted: list[int], linger: Any = None) -> Any:
    from workers.intake import NO_LINGER
    from workers.intake.sqs import SqsIntake

    return SqsIntake(
        sqs,
        "q",
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=InMemoryFailureSink(),
        count_queued=lambda batch, n: counted.append(n),
        linger=linger or NO_LINGER,
    )


def redis_intake(client: Any, key: str, broker: Broker, counted: list[int], linger: Any = None) -> Any:
    from workers.intake import NO_LINGER
    from workers.intake.redis_list import RedisListIntake

    return RedisListIntake(
        client,
        key,
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=InMemoryFailureSink(),
        count_queued=lambda batch, n: counted.append(n),
        block_seconds=1,
        linger=linger or NO_LINGER,
    )


def test_a_round_of_small_objects_goes_out_as_one_task_before_its_messages_are_deleted():
    sqs, broker, counted = FakeSqs([sized("a"), sized("b"), sized("c")]), Broker(), []
    assert sqs_intake(sqs, broker, counted).poll_once() == 3
    assert (broker.tasks, sqs.deleted, counted) == ([["a", "b", "c"]], ["r0", "r1", "r2"], [3])


def test_a_round_the_broker_refuses_deletes_nothing_and_leaves_nothing_buffered():
    sqs, broker, counted = FakeSqs([sized("a"), sized("b")]), Broker(fail_groups=True), []
    intake = sqs_intake(sqs, broker, counted)
    assert intake.poll_once() == 0
    assert (broker.tasks, sqs.deleted, counted) == ([], [], [])
    broker.fail_groups = False
    assert intake.poll_once() == 2  # SQS delivers the same round again
    assert broker.tasks == [["a", "b"]], "the failed round's buffer was discarded, not published twice"
    assert sqs.deleted == ["r0", "r1"]


def test_a_redis_list_round_the_broker_refuses_goes_back_to_the_queue(redis_client, key_prefix):
    key = f"{key_prefix}:events"
    redis_client.rpush(key, sized("a"), sized("b"))
    broker, counted = Broker(fail_groups=True), []
    intake = redis_intake(redis_client, key, broker, counted)
    with pytest.raises(ConnectionError):
        intake.poll_once()
    assert redis_client.llen(f"{key}:processing") == 2, "the events wait in the processing list"
    broker.fail_groups = False
    assert intake.poll_once() == 2
    assert broker.tasks == [["a", "b"]]
    assert (redis_client.llen(key), redis_client.llen(f"{key}:processing"), counted) == (0, 0, [2])


class TricklingSqs(FakeSqs):
    """A queue whose receives hand out at most ``per_receive`` messages each, hiding them (in flight) as SQS does."""

    def __init__(self, bodies: list[str], per_receive: int) -> None:
        super().__init__(bodies)
        self.per_receive = per_receive
        self.receives = 0

    def receive_message(self, *, MaxNumberOfMessages: int = 10, **_: Any) -> dict[str, Any]:
        self.receives += 1
        count = min(self.per_receive, MaxNumberOfMessages)
        handed, self.messages = self.messages[:count], self.messages[count:]
        return {"Messages": handed}


def lingering_intake(sqs: FakeSqs, broker: Broker, *, behind: bool, seconds: float = 5.0) -> Any:
    from workers.intake import Linger

    return sqs_intake(sqs, broker, [], Linger(seconds, buffered=broker.grouper.buffered, behind=lambda: behind))


def test_while_the_workers_are_behind_a_round_lingers_to_fill_its_groups():
    sqs, broker = TricklingSqs([sized(f"k{i}") for i in range(12)], per_receive=3), Broker()
    assert lingering_intake(sqs, broker, behind=True, seconds=0.2).poll_once() == 12
    assert broker.tasks == [[f"k{i}" for i in range(10)], ["k10", "k11"]], "a full group, then the round's rest"
    assert sorted(sqs.deleted) == sorted(f"r{i}" for i in range(12)), "every message of the round acknowledged"


def test_a_quiet_system_sends_what_one_receive_brought_at_once():
    sqs, broker = TricklingSqs([sized(f"k{i}") for i in range(5)], per_receive=3), Broker()
    assert lingering_intake(sqs, broker, behind=False).poll_once() == 3
    assert (broker.tasks, sqs.receives, sqs.deleted) == ([["k0", "k1", "k2"]], 1, ["r0", "r1", "r2"])


def test_a_lingering_round_ends_when_its_time_is_up():
    sqs, broker = TricklingSqs([sized("a"), sized("b")], per_receive=2), Broker()
    assert lingering_intake(sqs, broker, behind=True, seconds=0.05).poll_once() == 2
    assert broker.tasks == [["a", "b"]]
    assert sqs.receives > 2, "it kept asking for more until the linger ran out"


def test_a_lingering_round_the_broker_refuses_deletes_nothing():
    sqs, broker = TricklingSqs([sized(f"k{i}") for i in range(12)], per_receive=3), Broker(fail_groups=True)
    assert lingering_intake(sqs, broker, behind=True, seconds=0.2).poll_once() == 0
    assert (broker.tasks, sqs.deleted) == ([], []), "the round's messages come back after the visibility timeout"
    assert not broker.grouper.buffered()


def test_linger_takes_no_more_than_its_cap():
    import threading

    from workers.intake import Linger

    takes: list[int] = []

    def take() -> int:
        takes.append(10)
        return 10

    linger = Linger(5.0, buffered=lambda: True, behind=lambda: True, max_events=35)
    assert linger.fill(10, take, threading.Event()) == 40
    assert len(takes) == 3


def test_a_redis_list_round_lingers_for_events_pushed_while_it_waits(redis_client, key_prefix):
    """The round's group fills exactly, so it stops lingering at once (well before the 5 s)."""
    import threading

    from workers.intake import Linger

    key = f"{key_prefix}:events"
    redis_client.rpush(key, *(sized(f"k{i}") for i in range(4)))
    late = threading.Timer(0.05, lambda: redis_client.rpush(key, *(sized(f"k{i}") for i in range(4, 10))))
    broker = Broker()
    linger = Linger(5.0, buffered=broker.grouper.buffered, behind=lambda: True)
    intake = redis_intake(redis_client, key, broker, [], linger)
    late.start()
    assert intake.poll_once() == 10
    late.join()
    assert broker.tasks == [[f"k{i}" for i in range(10)]]
    assert (redis_client.llen(key), redis_client.llen(f"{key}:processing")) == (0, 0)


def test_the_intakes_linger_waits_only_while_tasks_wait_in_the_broker_queue(settings, redis_client):
    from workers.cli import _enqueue_and_count

    enqueue, _, _, linger = _enqueue_and_count(settings.with_overrides(intake_linger_ms=250), "sqs")
    assert linger.seconds == 0.25
    assert not linger.behind(), "an empty queue: the workers keep up"
    redis_client.rpush(settings.queue, b"{}")  # a task no worker has taken yet (kombu keeps the queue as a list)
    assert linger.behind()
    enqueue(ObjectRef(bucket="u", key="k", size=5), "b")
    assert linger.buffered(), "the grouping enqueue holds a partial group"
    enqueue.discard()


class FlakySqs(TricklingSqs):
    """Its second receive fails (SQS throttling, a dropped connection)."""

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        if self.receives == 1:
            self.receives += 1
            raise ConnectionError("SQS unreachable")
        return super().receive_message(**kwargs)


def test_a_failed_receive_while_lingering_sends_the_round_as_it_is():
    sqs, broker = FlakySqs([sized(f"k{i}") for i in range(5)], per_receive=3), Broker()
    assert lingering_intake(sqs, broker, behind=True).poll_once() == 3
    assert (broker.tasks, sqs.deleted) == ([["k0", "k1", "k2"]], ["r0", "r1", "r2"]), "not held back for a retry"
