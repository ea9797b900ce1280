"""The intakes: one loop over a source's event queue (SQS, MinIO's Redis list, the in-memory fake). A notification
becomes one task per created object, bad ones are recorded, our own echoes dropped; a round is all or nothing."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from pipeline.adapters.memory import (
    InMemoryBatchCounters,
    InMemoryEventQueue,
    InMemoryFailureSink,
    InMemoryLabelSink,
    InMemoryObjectStore,
)
from pipeline.adapters.redis_list import RedisEventList
from pipeline.adapters.sqs import SqsEventQueue
from pipeline.errors import QueueUnavailable, SourceMisconfigured, StateUnavailable
from pipeline.events import BucketAllowList, ParsedEvents, body_digest
from pipeline.grouping import Grouper, GroupingRule
from pipeline.model import ObjectRef
from pipeline.ports import BatchCounters, EventQueue, FailureSink, QueuedEvent
from pipeline.process import dedupe_key
from pipeline.settings import Settings
from tests.support.event_samples import as_expected, needs_events, samples
from tests.support.event_sources import SOURCES, EventSource, event_source
from workers.intake import Dispatched, IntakeConfig, IntakeDependencies, IntakeLoop, Linger, RoundFailed
from workers.intake.batch_ids import BatchWindow
from workers.intake.dispatch import dispatch, echo_filter

POLICY = "2026.12-1"


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


WRITTEN = {"aigc-label": "unknown", "aigc-policy": POLICY}
"""What our write-back put on labelled.jpg, kept with its guard (the echo filter compares the object with it)."""


@pytest.fixture
def sink() -> InMemoryLabelSink:
    sink = InMemoryLabelSink()
    sink.mark_published(dedupe_key("uploads", "labelled.jpg", None, "e1", POLICY), WRITTEN)
    return sink


def labelled_store() -> InMemoryObjectStore:
    store = InMemoryObjectStore()
    store.put("uploads", "labelled.jpg", b"labelled", etag="e1", metadata=WRITTEN)
    return store


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
        is_echo=echo_filter(sink, POLICY, labelled_store()) if filtered else None,
    )
    return result, [f"{r.event_name} {r.key}" for r in enqueued]


def test_the_copy_event_of_a_labelled_version_is_dropped(sink: InMemoryLabelSink) -> None:
    assert run(notification(("ObjectCreated:Copy", "labelled.jpg", "e1")), sink) == (Dispatched(0, 1), [])


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (("ObjectCreated:Put", "labelled.jpg", "e1"), "an upload of the same bytes may carry other metadata"),
        (("ObjectCreated:Copy", "labelled.jpg", "e2"), "other content under the key"),
        (("ObjectCreated:Copy", "other.jpg", "e1"), "a user's copy to another key needs its own record"),
    ],
)
def test_everything_else_reaches_a_worker(sink: InMemoryLabelSink, record: tuple[str, str, str], why: str) -> None:
    assert run(notification(record), sink) == (Dispatched(1, 0), [f"{record[0]} {record[1]}"]), why


def test_without_the_filter_echoes_reach_a_worker(sink: InMemoryLabelSink) -> None:
    body = notification(("ObjectCreated:Copy", "labelled.jpg", "e1"))
    assert run(body, sink, filtered=False) == (Dispatched(1, 0), ["ObjectCreated:Copy labelled.jpg"])


def test_a_mixed_notification_counts_both(sink: InMemoryLabelSink) -> None:
    body = notification(("ObjectCreated:Copy", "labelled.jpg", "e1"), ("ObjectCreated:Put", "new.jpg", "e9"))
    assert run(body, sink) == (Dispatched(1, 1), ["ObjectCreated:Put new.jpg"])


def test_a_bad_notification_is_recorded_not_raised() -> None:
    failures = InMemoryFailureSink()
    result = dispatch("not json", batch_id="b", enqueue=_never, failures=failures, origin="sqs:m1")
    assert result == Dispatched(0, 0, bad=1)
    [entry] = failures.entries()
    assert (entry["error_class"], entry["key"]) == ("BadEvent", "sqs:m1")


def _never(ref: Any, batch_id: str) -> None:
    raise AssertionError("nothing should be enqueued")


# --- The loop, over any source ----------------------------------------------------------------------------------


class Broker:
    """A grouping enqueue whose group publishes can fail, recording what reached the 'broker' (keys per task)."""

    def __init__(self, *, fail_groups: bool = False) -> None:
        self.tasks: list[list[str]] = []
        self.refs: list[ObjectRef] = []
        self.fail_groups = fail_groups
        self.grouper = Grouper(GroupingRule(max_objects=10), publish_one=self._one, publish_group=self._group)

    def _one(self, ref: ObjectRef, batch_id: str | None) -> None:
        self.tasks.append([ref.key])
        self.refs.append(ref)

    def _group(self, refs: Sequence[ObjectRef], batch_id: str | None) -> None:
        if self.fail_groups:
            raise ConnectionError("broker down")
        self.tasks.append([r.key for r in refs])
        self.refs += refs


def sized(key: str, bucket: str = "u") -> str:
    """An upload of a small object (it may share a task)."""
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}}}
    return json.dumps({"Records": [record]})


def intake_on(
    queue: EventQueue,
    broker: Broker,
    *,
    failures: FailureSink | None = None,
    batches: BatchCounters | None = None,
    behind: Callable[[], bool] = lambda: False,
    **config: Any,
) -> IntakeLoop:
    """The loop over ``queue`` with in-memory bookkeeping unless given; ``config`` are :class:`IntakeConfig` fields."""
    deps = IntakeDependencies(
        queue=queue,
        enqueue=broker.grouper,
        failures=failures or InMemoryFailureSink(),
        batches=batches or InMemoryBatchCounters(),
        behind=behind,
    )
    return IntakeLoop(deps, IntakeConfig(**{"wait_seconds": 1, **config}))


def drain(intake: IntakeLoop, done: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll rounds until ``done()`` (observable state), with a deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the intake did not get through the queue"
        intake.poll_once()


def queued(batches: InMemoryBatchCounters) -> list[str]:
    return [batch["queued"] for batch in batches.all().values()]


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest) -> EventSource:
    return event_source(request.param, request)


def test_a_round_of_small_objects_goes_out_as_one_task_before_its_events_are_acknowledged(
    source: EventSource,
) -> None:
    source.push([sized("a"), sized("b"), sized("c")])
    broker, batches = Broker(), InMemoryBatchCounters()
    intake = intake_on(source.queue, broker, batches=batches, wait_seconds=source.wait_seconds)
    with capture_logs() as logs:
        assert intake.poll_once() == 3
    assert broker.tasks == [["a", "b", "c"]]
    assert (source.waiting(), source.in_flight(), queued(batches)) == (0, 0, ["3"])
    [line] = [entry for entry in logs if entry["event"] == "intake.batch"]
    unit = source.queue.unit
    assert set(line) == {
        "event",
        "log_level",
        "batch_id",
        unit,
        "tasks",
        "echoes",
        "bad_events",
        "not_allowed",
        "round_ms",
    }
    assert (line[unit], line["tasks"], line["echoes"], line["bad_events"], line["not_allowed"]) == (3, 3, 0, 0, 0)
    assert line["batch_id"] == next(iter(batches.all()))
    assert line["batch_id"].startswith(f"{source.queue.source}-")


def test_a_round_the_broker_refuses_is_all_or_nothing_for_every_source(source: EventSource) -> None:
    """docs/operations.md: if any task of a round cannot be published, no event of it is acknowledged, what was
    buffered is dropped, and the whole round comes again (SQS after the visibility timeout, the Redis list from its
    processing list before the next round). The same on every source."""
    source.push([sized("a"), sized("b")])
    broker, batches = Broker(fail_groups=True), InMemoryBatchCounters()
    intake = intake_on(source.queue, broker, batches=batches, wait_seconds=source.wait_seconds)
    with capture_logs() as logs, pytest.raises(RoundFailed) as failed:
        intake.poll_once()
    assert isinstance(failed.value.__cause__, ConnectionError)
    assert (broker.tasks, queued(batches), broker.grouper.buffered()) == ([], [], False)
    assert source.waiting() + source.in_flight() == 2, "nothing acknowledged"
    if source.queue.source != "sqs":  # SQS hides them for a second only: they may be back already
        assert source.in_flight() == 2, "they wait in flight (the Redis list's processing list)"
    assert [(e["event"], e["log_level"], e[source.queue.unit]) for e in logs] == [("intake.enqueue_failed", "error", 2)]
    broker.fail_groups = False
    drain(intake, lambda: broker.tasks)
    assert [sorted(task) for task in broker.tasks] == [["a", "b"]], "the failed round's buffer was not sent twice"
    assert (source.waiting(), source.in_flight(), queued(batches)) == (0, 0, ["2"])


def test_a_round_whose_batch_cannot_be_counted_is_not_acknowledged(source: EventSource) -> None:
    """The count is part of the round: a round acknowledged but never counted would leave its batch short."""

    class DownCounters(InMemoryBatchCounters):
        def count(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("Redis down")

    source.push([sized("a")])
    broker = Broker()
    intake = intake_on(source.queue, broker, batches=DownCounters(), wait_seconds=source.wait_seconds)
    with pytest.raises(RoundFailed):
        intake.poll_once()
    assert (broker.tasks, source.waiting() + source.in_flight()) == ([["a"]], 1), "published, not acknowledged"


@needs_events
def test_every_real_notification_through_the_intake(source: EventSource) -> None:
    """../shared/events through the loop on every source: the tasks are the refs expected.jsonl names, each bad
    notification is one BadEvent entry (told apart by its body's digest), each skipped one is logged, and every
    event is acknowledged. The namespace-format hash value is not a list item (its own test below)."""
    delivered = [(s, body) for s in samples() if s.delivery != "redis-hash" for body in s.queued_bodies()]
    source.push([body for _, body in delivered])
    broker, failures, batches = Broker(), InMemoryFailureSink(), InMemoryBatchCounters()
    intake = intake_on(source.queue, broker, failures=failures, batches=batches, wait_seconds=source.wait_seconds)
    with capture_logs() as logs:
        drain(intake, lambda: source.waiting() == source.in_flight() == 0)
        assert intake.poll_once() == 0
    assert sorted(map(_key, map(as_expected, broker.refs))) == sorted(_key(r) for s, _ in delivered for r in s.refs)
    bad = {e["etag"] for e in failures.entries() if e["error_class"] == "BadEvent"}
    assert bad >= {body_digest(body) for s, body in delivered if s.error}
    tolerated = {body_digest(body) for s, body in delivered if s.error_ok}
    assert bad - tolerated == {body_digest(body) for s, body in delivered if s.error}, "no unexpected BadEvent"
    skipped = [e for e in logs if e["event"] == "intake.skipped"]
    expected_skips = sum(1 for s, body in delivered if s.skipped and body_digest(body) not in bad)
    assert len(skipped) == expected_skips
    assert sum(e["tasks"] for e in logs if e["event"] == "intake.batch") == len(broker.refs)
    assert sum(int(n) for n in queued(batches)) == len(broker.refs)


def _key(ref: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(ref[name]) for name in sorted(ref))


# --- Lingering while the workers are behind ---------------------------------------------------------------------


def lingering(queue: EventQueue, broker: Broker, *, behind: bool, seconds: float = 5.0) -> IntakeLoop:
    return intake_on(queue, broker, behind=lambda: behind, linger=Linger(seconds))


def trickling(count: int, per_receive: int) -> InMemoryEventQueue:
    """A queue whose receives hand out at most ``per_receive`` events each."""
    queue = InMemoryEventQueue(max_per_receive=per_receive)
    queue.push(*(sized(f"k{i}") for i in range(count)))
    return queue


def test_while_the_workers_are_behind_a_round_lingers_to_fill_its_groups() -> None:
    queue, broker = trickling(12, per_receive=3), Broker()
    assert lingering(queue, broker, behind=True, seconds=0.2).poll_once() == 12
    assert broker.tasks == [[f"k{i}" for i in range(10)], ["k10", "k11"]], "a full group, then the round's rest"
    assert (queue.acknowledged, queue.in_flight) == ([sized(f"k{i}") for i in range(12)], {}), "all acknowledged"


def test_a_quiet_system_sends_what_one_receive_brought_at_once() -> None:
    queue, broker = trickling(5, per_receive=3), Broker()
    assert lingering(queue, broker, behind=False).poll_once() == 3
    assert (broker.tasks, queue.receives, len(queue.acknowledged)) == ([["k0", "k1", "k2"]], 1, 3)


def test_a_lingering_round_ends_when_its_time_is_up() -> None:
    queue, broker = trickling(2, per_receive=2), Broker()
    assert lingering(queue, broker, behind=True, seconds=0.3).poll_once() == 2
    assert broker.tasks == [["k0", "k1"]]
    assert queue.receives > 2, "it kept asking for more until the linger ran out"


def test_a_lingering_round_the_broker_refuses_acknowledges_nothing() -> None:
    queue, broker = trickling(12, per_receive=3), Broker(fail_groups=True)
    with pytest.raises(RoundFailed):
        lingering(queue, broker, behind=True, seconds=0.2).poll_once()
    assert (broker.tasks, queue.acknowledged, len(queue.in_flight)) == ([], [], 12)
    assert not broker.grouper.buffered()


def test_linger_takes_no_more_than_its_cap() -> None:
    takes: list[int] = []

    def take() -> int:
        takes.append(10)
        return 10

    linger = Linger(5.0, max_events=35)
    assert linger.fill(10, take, threading.Event(), buffered=lambda: True, behind=lambda: True) == 40
    assert len(takes) == 3


def test_a_round_asks_for_no_more_events_than_its_cap() -> None:
    queue, broker = trickling(30, per_receive=4), Broker()
    assert intake_on(queue, broker, behind=lambda: True, linger=Linger(5.0, max_events=9)).poll_once() == 9
    assert (queue.receives, len(queue.ready)) == (3, 21), "4, 4, then the 1 the round had room for"


def test_a_redis_list_round_lingers_for_events_pushed_while_it_waits(redis_client: Any, key_prefix: str) -> None:
    """The round's group fills exactly, so it stops lingering at once (well before the 5 s)."""
    key = f"{key_prefix}:events"
    redis_client.rpush(key, *(sized(f"k{i}") for i in range(4)))
    late = threading.Timer(0.05, lambda: redis_client.rpush(key, *(sized(f"k{i}") for i in range(4, 10))))
    broker = Broker()
    intake = intake_on(RedisEventList(redis_client, key), broker, behind=lambda: True, linger=Linger(5.0))
    late.start()
    assert intake.poll_once() == 10
    late.join()
    assert broker.tasks == [[f"k{i}" for i in range(10)]]
    assert (redis_client.llen(key), redis_client.llen(f"{key}:processing")) == (0, 0)


class FlakyQueue(InMemoryEventQueue):
    """Its second receive fails (SQS throttling, a dropped connection) after taking events (a Redis list's LMOVEs
    part-way), which stay in flight."""

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        events = super().receive(wait_seconds, limit)
        if self.receives == 2:
            raise ConnectionError("source unreachable")
        return events


def test_a_failed_receive_while_lingering_sends_the_round_as_it_is_and_gives_back_what_it_took() -> None:
    queue, broker = FlakyQueue(max_per_receive=3), Broker()
    queue.push(*(sized(f"k{i}") for i in range(5)))
    intake = lingering(queue, broker, behind=True)
    with capture_logs() as logs:
        assert intake.poll_once() == 3
    assert broker.tasks == [["k0", "k1", "k2"]], "not held back for a retry"
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["intake.linger_receive_failed"]
    assert len(queue.acknowledged) == 3 and len(queue.in_flight) == 2, "the failed receive's events wait"
    assert intake.poll_once() == 2, "given back before the next round"
    assert broker.tasks[-1] == ["k3", "k4"]


# --- The intakes' wiring from the settings (workers/composition.py) -----------------------------------------------


def test_the_intakes_linger_waits_only_while_tasks_wait_in_the_broker_queue(
    settings: Settings, redis_client: Any
) -> None:
    from workers.composition import build_intake, intake_config

    assert intake_config(settings.with_overrides(intake_linger_ms=250), "sqs").linger == Linger(0.25)
    deps = build_intake(settings, "redis", f"{settings.key_prefix}:events").dependencies
    assert not deps.behind(), "an empty queue: the workers keep up"
    redis_client.rpush(settings.queue, b"{}")  # a task no worker has taken yet (kombu keeps the queue as a list)
    assert deps.behind()
    deps.enqueue(ObjectRef(bucket="u", key="k", size=5), "b")
    assert deps.enqueue.buffered(), "the grouping enqueue holds a partial group"
    deps.enqueue.discard()


def test_the_intakes_take_their_pacing_allow_list_and_window_from_the_settings(settings: Settings) -> None:
    from workers.composition import intake_config

    changed = settings.with_overrides(
        buckets="a,b", intake_batch_window_seconds=600, intake_batch_ttl_seconds=7200, sqs_wait_seconds=5
    )
    sqs = intake_config(changed, "sqs")
    assert sqs.allowed.buckets == frozenset({"a", "b"})
    assert (sqs.window, sqs.batch_ttl, sqs.wait_seconds, sqs.max_quiet) == (BatchWindow(600), 7200, 5, 45)
    redis = intake_config(settings, "redis")
    assert redis.allowed.allows_any
    assert (redis.wait_seconds, redis.max_quiet) == (5, 60)


@pytest.mark.parametrize(("source_name", "queue_type"), [("sqs", SqsEventQueue), ("redis", RedisEventList)])
def test_build_intake_wires_the_source_queue(settings: Settings, source_name: Any, queue_type: type) -> None:
    from workers.composition import build_intake

    intake = build_intake(settings, source_name, "https://sqs.example/q" if source_name == "sqs" else "events")
    assert isinstance(intake.dependencies.queue, queue_type)
    assert isinstance(intake.dependencies.enqueue, Grouper)


# --- One bad notification never holds back the others (issue 9, item 4) --------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
"""json.loads raises RecursionError on it, which the old parse_notification did not catch."""
INFINITE_SIZE = sized("x").replace('"size": 5', '"size": 1e999')
"""int(float("inf")) raises OverflowError."""


def redis_failures(client: Any, prefix: str) -> Any:
    from pipeline.adapters.redis_store import RedisFailureSink

    return RedisFailureSink(client, prefix=prefix, max_entries=1000, max_age=86_400)


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"source": "redis", **labels}) or 0.0


def test_bad_notifications_in_front_of_good_ones_are_recorded_and_the_good_ones_enqueued(
    redis_client: Any, key_prefix: str
) -> None:
    key = f"{key_prefix}:events"
    redis_client.rpush(key, DEEP, INFINITE_SIZE, sized("a"), "not json", sized("b"))
    broker, batches, failures = Broker(), InMemoryBatchCounters(), redis_failures(redis_client, key_prefix)
    intake = intake_on(RedisEventList(redis_client, key), broker, failures=failures, batches=batches)
    before = metric("media_ingest_intake_bad_events_total"), metric("media_ingest_intake_rounds_total")
    assert intake.poll_once() == 2
    assert (broker.tasks, queued(batches)) == ([["a", "b"]], ["2"])
    assert (redis_client.llen(key), redis_client.llen(f"{key}:processing")) == (0, 0), "all acknowledged"
    after = metric("media_ingest_intake_bad_events_total"), metric("media_ingest_intake_rounds_total")
    assert (after[0] - before[0], after[1] - before[1]) == (3, 1), "three bad events in one round"
    entries = sorted(failures.entries(), key=lambda e: e["message"])
    assert [(e["error_class"], e["bucket"], e["key"], e["disposition"]) for e in entries] == [
        ("BadEvent", "-", f"redis:{key}", "failed")
    ] * 3, "three bad bodies from one list are three entries (the body's digest tells them apart)"
    reasons = [e["message"].split("; body starts")[0] for e in entries]
    assert reasons == [
        "event record 'ObjectCreated:Put': size inf is not a whole number of bytes",
        "notification is not JSON: Expecting value: line 1 column 1 (char 0)",
        "notification nests more than 32 levels deep",
    ]
    assert intake.poll_once() == 0, "nothing left behind to be taken again"


def test_a_parser_bug_is_recorded_as_a_bad_event_not_raised() -> None:
    def broken(body: str | bytes) -> ParsedEvents:
        raise TypeError("a bug")

    failures = InMemoryFailureSink()
    with capture_logs() as logs:
        result = dispatch(sized("a"), batch_id="b", enqueue=_never, failures=failures, origin="sqs:m1", parse=broken)
    assert result == Dispatched(bad=1)
    [entry] = failures.entries()
    assert entry["message"].startswith("the notification parser failed on it (TypeError: a bug); body starts")
    assert [e["event"] for e in logs] == ["intake.parser_error", "intake.bad_event"]


def test_on_sqs_bad_messages_are_recorded_and_deleted_and_their_neighbours_go_through(
    sqs: Any, redis_client: Any, key_prefix: str
) -> None:
    queue_url = sqs.create_queue(QueueName=f"{key_prefix}-bad")["QueueUrl"]
    bodies = [DEEP, sized("a"), INFINITE_SIZE, sized("b"), '{"Records": [{"s3": 7}]}', sized("c")]
    ids = [sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"] for body in bodies]
    broker, failures = Broker(), redis_failures(redis_client, key_prefix)
    intake = intake_on(SqsEventQueue(sqs, queue_url, visibility_timeout=30), broker, failures=failures)
    drain(intake, lambda: sorted(k for task in broker.tasks for k in task) == ["a", "b", "c"])
    bad = {e["key"]: e["message"].split("; body starts")[0] for e in failures.entries()}
    assert bad == {
        f"sqs:{ids[0]}": "notification nests more than 32 levels deep",
        f"sqs:{ids[2]}": "event record 'ObjectCreated:Put': size inf is not a whole number of bytes",
        f"sqs:{ids[4]}": "event record '' has no s3 section",
    }
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    assert [attributes[name] for name in names] == ["0", "0"], "the bad messages were deleted with their rounds"


# --- MinIO's namespace format: a hash, refused at start with one line (issue 10) ----------------------------------

NAMESPACE_VALUE = json.dumps({"Records": [json.loads(sized("myphoto.jpg", bucket="images"))["Records"][0]]})
"""What MinIO's ``namespace`` format HSETs under ``bucket/key`` (a notification of the object's last event)."""


def test_a_namespace_format_hash_is_refused_at_start_with_one_line(redis_client: Any, key_prefix: str) -> None:
    key = f"{key_prefix}:events"
    redis_client.hset(key, "images/myphoto.jpg", NAMESPACE_VALUE)
    intake = intake_on(RedisEventList(redis_client, key), Broker())
    with capture_logs() as logs:
        assert intake.run() == 2
    assert [(e["event"], e["log_level"], e["key"]) for e in logs] == [("intake.refused", "error", key)]
    assert logs[0]["reason"] == (
        f"Redis key {key!r} is a hash (MinIO's namespace format), not the list `intake redis` drains: configure "
        "MinIO's Redis notification target with format=access (MINIO_NOTIFY_REDIS_FORMAT_<ID>=access), then delete "
        "the key"
    )
    assert redis_client.hlen(key) == 1, "the hash is left as it was"


def test_media_ingest_intake_redis_on_a_hash_exits_2_with_that_one_line(
    processes: Any, redis_client: Any, key_prefix: str
) -> None:
    key = f"{key_prefix}:events"
    redis_client.hset(key, "images/myphoto.jpg", NAMESPACE_VALUE)
    intake = processes.start("intake", "redis", key, name="intake")
    assert intake.wait(60) == 2
    [line] = processes.logs(tail=None).splitlines()[1:]  # after the log file's name
    refused = json.loads(line)
    assert (refused["event"], refused["level"], refused["key"]) == ("intake.refused", "error", key)
    assert "is a hash (MinIO's namespace format)" in refused["reason"] and "format=access" in refused["reason"]


@needs_events
def test_the_real_namespace_format_value_hset_as_minio_does_is_refused(redis_client: Any, key_prefix: str) -> None:
    [sample] = [s for s in samples() if s.delivery == "redis-hash"]
    key = f"{key_prefix}:events"
    [ref] = sample.refs
    redis_client.hset(key, f"{ref['bucket']}/{ref['key']}", sample.text())
    with pytest.raises(SourceMisconfigured, match=r"is a hash .* format=access"):
        RedisEventList(redis_client, key).check()


def test_a_key_that_turns_into_a_hash_while_the_intake_runs_stops_it_with_the_same_line(
    redis_client: Any, key_prefix: str
) -> None:
    """No WRONGTYPE every 2 s forever: the receive that meets the hash raises the refusal, and the loop stops."""
    key = f"{key_prefix}:events"
    queue = RedisEventList(redis_client, key)
    queue.check()  # no key yet: fine
    redis_client.hset(key, "images/myphoto.jpg", NAMESPACE_VALUE)
    with pytest.raises(SourceMisconfigured, match=re.escape(f"Redis key {key!r} is a hash")):
        queue.receive(1, 10)
    processing = f"{key}:processing"
    redis_client.delete(key)
    redis_client.set(processing, "x")
    with pytest.raises(SourceMisconfigured, match=re.escape(f"Redis key {processing!r} is a string")):
        queue.check()


@dataclass
class FaultyQueue(InMemoryEventQueue):
    """Every receive fails with ``fault`` and asks the loop to stop, so its retry wait returns at once."""

    fault: Exception = field(default_factory=ConnectionError)
    intake: IntakeLoop | None = None

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        assert self.intake is not None
        self.intake.stopping.set()
        raise self.fault


def test_a_misconfigured_source_found_by_a_round_ends_the_run_with_the_refusal() -> None:
    queue = FaultyQueue(fault=SourceMisconfigured("reconfigured under us"))
    intake = intake_on(queue, Broker())
    queue.intake = intake
    with capture_logs() as logs:
        assert intake.run() == 2
    assert [e["event"] for e in logs][-1] == "intake.refused"
    assert logs[-1]["reason"] == "reconfigured under us"


# --- The run loop: start, stop, retry, readiness -------------------------------------------------------------------


@dataclass
class StoppingQueue(InMemoryEventQueue):
    """Asks the loop to stop on its ``stop_at``-th receive (as SIGTERM would), after handing out its events."""

    intake: IntakeLoop | None = None
    stop_at: int = 1

    def receive(self, wait_seconds: float, limit: int) -> list[QueuedEvent]:
        events = super().receive(wait_seconds, limit)
        if self.receives >= self.stop_at and self.intake is not None:
            self.intake.stopping.set()
        return events


def heartbeat(source: str) -> float | None:
    """``media_ingest_intake_last_poll_timestamp_seconds`` for ``source``, as this process exports it."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("media_ingest_intake_last_poll_timestamp_seconds", {"source": source})


def test_run_logs_its_start_rounds_and_stop_and_is_ready_after_a_round() -> None:
    queue = StoppingQueue(source="sqs", unit="messages")
    queue.push(sized("a"))
    intake = intake_on(queue, Broker(), allowed=BucketAllowList.parse("u"), max_quiet=0.0)
    queue.intake = intake
    started = time.time()
    with capture_logs() as logs:
        assert intake.run() == 0
    assert [e["event"] for e in logs] == ["intake.started", "intake.batch", "intake.stopped"]
    beat = heartbeat(queue.source)
    assert beat is not None and started <= beat <= time.time(), "the round set the intake's heartbeat"
    assert logs[0]["queue"] == "sqs" and logs[1]["messages"] == 1
    assert intake.problem() is not None, "max_quiet 0: not ready the moment after"
    assert intake_on(queue, Broker(), max_quiet=60.0).problem() is None


def test_a_failed_round_is_logged_once_retried_and_leaves_readiness_alone() -> None:
    queue = StoppingQueue()
    queue.push(sized("a"), sized("b"))
    broker = Broker(fail_groups=True)
    intake = intake_on(queue, broker)
    queue.intake = intake
    before = intake.last_poll
    beat = heartbeat(queue.source)
    with capture_logs() as logs:
        assert intake.run() == 0
    assert [e["event"] for e in logs if e["log_level"] != "info"] == ["buckets.any_allowed", "intake.enqueue_failed"]
    assert intake.last_poll == before, "a failed round is not a successful poll"
    assert heartbeat(queue.source) == beat, "nor a heartbeat"
    assert len(queue.in_flight) == 2


@pytest.mark.parametrize(
    ("fault", "event", "retry_in_s"),
    [
        (StateUnavailable("take events from k: Redis unreachable"), "intake.redis_unavailable", 1.0),
        (QueueUnavailable("SQS receive from q: throttled"), "intake.poll_failed", 2.0),
    ],
)
def test_a_fault_outside_a_round_is_logged_and_the_poll_retried(
    fault: Exception, event: str, retry_in_s: float
) -> None:
    queue = FaultyQueue(fault=fault)
    intake = intake_on(queue, Broker(), allowed=BucketAllowList.parse("u"))
    queue.intake = intake
    with capture_logs() as logs:
        assert intake.run() == 0
    assert [(e["event"], e.get("retry_in_s")) for e in logs] == [
        ("intake.started", None),
        (event, retry_in_s),
        ("intake.stopped", None),
    ]


def test_a_worker_never_fetches_an_object_of_a_bucket_not_allowed(
    s3: Any, bucket: str, samples: Any, settings: Settings, processes: Any
) -> None:
    """The worker checks too: tasks also come from submit, replay and backfill. The bucket exists and holds the
    object, so only the allow-list can explain a skip; the object is not labelled and gets no record."""
    import time

    from pipeline.adapters.redis_store import RedisBatchCounters, connect

    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=samples[0].data, ContentType="image/jpeg")
    env = {"MEDIA_INGEST_BUCKETS": f"{bucket}-other,avatars"}
    processes.worker(env=env)
    submit = processes.start("submit", f"s3://{bucket}/photo.jpg", "--batch", "b-denied", name="submit", env=env)
    assert submit.wait(60) == 0
    client = connect(settings.redis_url)
    failures = redis_failures(client, settings.key_prefix)
    deadline = time.monotonic() + 60
    while not failures.entries():
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.1)
    [entry] = failures.entries()
    assert (entry["bucket"], entry["key"], entry["error_class"], entry["disposition"]) == (
        bucket,
        "photo.jpg",
        "BucketNotAllowed",
        "skipped",
    )
    assert f"bucket {bucket!r} is not in MEDIA_INGEST_BUCKETS (avatars, {bucket}-other)" in entry["message"]
    batch = RedisBatchCounters(client, prefix=settings.key_prefix).get("b-denied")
    assert (batch["queued"], batch["skipped"]) == ("1", "1") and "finished_at" in batch
    assert "aigc-label" not in s3.head_object(Bucket=bucket, Key="photo.jpg")["Metadata"]
    assert client.xlen(settings.label_stream) == 0
    assert '"buckets.any_allowed"' not in processes.logs(tail=None)


# --- Intake batches per time window (issue 9, item 6) ---------------------------------------------------------------


def test_a_batch_window_names_its_start_and_bounds() -> None:
    from datetime import UTC, datetime

    from workers.intake import BatchWindow

    at = datetime(2026, 12, 2, 14, 37, 12, tzinfo=UTC).timestamp()
    hourly = BatchWindow(3600)
    assert hourly.batch_id("sqs", at) == "sqs-20261202T1400"
    assert hourly.batch_id("sqs", at + 22 * 60) == "sqs-20261202T1400", "14:59:12 is the same window"
    assert hourly.batch_id("sqs", at + 23 * 60) == "sqs-20261202T1500"
    start = datetime(2026, 12, 2, 14, tzinfo=UTC).timestamp()
    assert hourly.fields("redis", at) == {
        "kind": "intake",
        "source": "redis",
        "window_start": str(int(start)),
        "window_end": str(int(start) + 3600),
    }
    assert BatchWindow(600).batch_id("redis", at) == "redis-20261202T1430"


def test_two_rounds_in_one_window_share_one_batch_kept_for_the_intake_ttl(
    settings: Settings, redis_client: Any, key_prefix: str
) -> None:
    """Through the intake's real counters and config (workers.composition): both rounds' tasks add up in one
    batch hash, whose TTL is the intake's (not 30 days), and which a worker's count (no TTL of its own) does not
    lengthen."""
    from pipeline.adapters.redis_store import RedisBatchCounters
    from workers.composition import batch_counters, intake_config

    ttl = 2 * 3600
    changed = settings.with_overrides(intake_batch_ttl_seconds=ttl)
    config = intake_config(changed, "redis")
    key = f"{key_prefix}:events"
    broker = Broker()
    deps = IntakeDependencies(
        queue=RedisEventList(redis_client, key),
        enqueue=broker.grouper,
        failures=InMemoryFailureSink(),
        batches=batch_counters(changed),
    )
    intake = IntakeLoop(deps, IntakeConfig(wait_seconds=1, window=config.window, batch_ttl=config.batch_ttl))
    redis_client.rpush(key, sized("a"), sized("b"))
    assert intake.poll_once() == 2
    redis_client.rpush(key, sized("c"))
    assert intake.poll_once() == 1
    assert broker.tasks == [["a", "b"], ["c"]], "two rounds"
    counters = RedisBatchCounters(redis_client, prefix=key_prefix)
    [(batch_id, batch)] = counters.all().items()
    assert batch_id.startswith("redis-") and batch["queued"] == "3" and batch["kind"] == "intake"
    assert int(batch["window_end"]) - int(batch["window_start"]) == 3600
    hash_key = f"{key_prefix}:batch:{batch_id}"
    assert ttl - 60 < redis_client.ttl(hash_key) <= ttl
    counters.count(batch_id, "labelled")  # as a worker counts: it keeps the batch's own TTL
    assert ttl - 60 < redis_client.ttl(hash_key) <= ttl
    assert counters.get(batch_id)["labelled"] == "1"


def test_a_window_batch_is_finished_only_while_every_queued_object_has_ended(
    redis_client: Any, key_prefix: str
) -> None:
    from pipeline.adapters.redis_store import RedisBatchCounters

    counters = RedisBatchCounters(redis_client, prefix=key_prefix)
    window = {"kind": "intake", "window_end": "0"}
    counters.count("w", "queued", 2, ttl=3600, fields=window)
    counters.count("w", "labelled", 2)
    assert "finished_at" in counters.get("w")
    counters.count("w", "queued", 1, ttl=3600, fields=window)  # a later round of the same window
    assert "finished_at" not in counters.get("w"), "more work queued: not finished any more"
    counters.count("w", "skipped")
    assert "finished_at" in counters.get("w")
    counters.count("w", "duplicate")  # a redelivery counted again does not move the stamp
    batch = counters.get("w")
    assert (batch["queued"], batch["labelled"], batch["skipped"], batch["ttl"]) == ("3", "2", "1", "3600")


def test_the_batch_listing_reads_a_bounded_index_not_the_keyspace(redis_client: Any, key_prefix: str) -> None:
    from pipeline.adapters.redis_store import RedisBatchCounters

    counters = RedisBatchCounters(redis_client, prefix=key_prefix)
    redis_client.hset(f"{key_prefix}:batch:unindexed", "queued", 1)  # a hash no count or describe indexed
    counters.describe("replay-1", kind="replay", parents="sqs-20261202T1400,b2")
    counters.count("replay-1", "queued")
    assert list(counters.all()) == ["replay-1"], "listed from the index; a SCAN would have found 'unindexed'"
    assert counters.all()["replay-1"]["parents"] == "sqs-20261202T1400,b2"
    index = f"{key_prefix}:batches"
    redis_client.zadd(index, {"expired-long-ago": 1.0})  # older than any batch's retention
    counters = RedisBatchCounters(redis_client, prefix=key_prefix, index_max=3)
    for n in range(5):
        counters.count(f"b{n}", "queued")
    assert [m.decode() for m in redis_client.zrange(index, 0, -1)] == ["b2", "b3", "b4"], "by age, then by count"
    redis_client.delete(f"{key_prefix}:batch:b3")  # expired
    assert list(counters.all()) == ["b2", "b4"]
    assert redis_client.zscore(index, "b3") is None, "an expired batch leaves the index when listed"


def test_media_ingest_batches_lists_an_open_window(settings: Settings, redis_client: Any, key_prefix: str) -> None:
    import os
    import subprocess
    import sys
    import time

    from pipeline.adapters.redis_store import RedisBatchCounters

    counters = RedisBatchCounters(redis_client, prefix=key_prefix)
    end = int(time.time()) + 1800
    counters.count(
        "sqs-open", "queued", 2, ttl=3600, fields={"kind": "intake", "source": "sqs", "window_end": str(end)}
    )
    counters.count("sqs-open", "labelled", 2)
    counters.count("sqs-closed", "queued", 1, ttl=3600, fields={"kind": "intake", "source": "sqs", "window_end": "1"})
    counters.count("sqs-closed", "labelled", 1)
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "batches", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **settings.to_environ()},
    )
    assert result.returncode == 0, result.stderr
    rows = {row["batch_id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert (rows["sqs-open"]["state"], rows["sqs-closed"]["state"]) == ("open", "done")
    assert rows["sqs-open"]["source"] == "sqs" and rows["sqs-open"]["window_end"].endswith("Z")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIA_INGEST_BUCKETS": "uploads,,avatars"}, "MEDIA_INGEST_BUCKETS='uploads,,avatars': an empty bucket name"),
        ({"MEDIA_INGEST_BUCKETS": "s3://uploads"}, "MEDIA_INGEST_BUCKETS='s3://uploads': 's3://uploads' is not a"),
        ({"MEDIA_INGEST_INTAKE_BATCH_WINDOW_SECONDS": "90"}, "INTAKE_BATCH_WINDOW_SECONDS (90) must be a whole number"),
        ({"MEDIA_INGEST_INTAKE_BATCH_WINDOW_SECONDS": "0"}, "INTAKE_BATCH_WINDOW_SECONDS (0) must be a whole number"),
        ({"MEDIA_INGEST_INTAKE_BATCH_TTL_SECONDS": "600"}, "INTAKE_BATCH_TTL_SECONDS (600) must be at least"),
    ],
)
def test_bad_intake_settings_stop_the_process_with_one_line(env: dict[str, str], message: str) -> None:
    from pipeline.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env)


def test_intake_settings_defaults_and_values() -> None:
    from pipeline.settings import load_settings

    defaults = load_settings({})
    assert (defaults.buckets, defaults.intake_batch_window_seconds, defaults.intake_batch_ttl_seconds) == (
        None,
        3600,
        7 * 86_400,
    )
    env = {
        "MEDIA_INGEST_BUCKETS": "uploads, avatars",
        "MEDIA_INGEST_INTAKE_BATCH_WINDOW_SECONDS": "600",
        "MEDIA_INGEST_INTAKE_BATCH_TTL_SECONDS": "86400",
    }
    s = load_settings(env)
    assert (s.buckets, s.intake_batch_window_seconds, s.intake_batch_ttl_seconds) == ("uploads, avatars", 600, 86400)
    assert load_settings(s.to_environ()) == s, "child processes get the same settings"


def test_a_huge_bad_list_item_is_recorded_with_a_short_preview() -> None:
    failures = InMemoryFailureSink()
    body = b"\xff" + b"x" * (64 * 1024 * 1024)  # a Redis list item may be any size; only its start is decoded
    assert dispatch(body, batch_id="b", enqueue=_never, failures=failures, origin="redis:k") == Dispatched(bad=1)
    [entry] = failures.entries()
    assert entry["message"].startswith("notification is 67108865 bytes, more than the 1048576 bytes")
    assert len(entry["message"]) < 400 and entry["etag"].startswith("sha256:")


def test_an_intake_started_before_its_redis_waits_for_it_instead_of_crashing() -> None:
    """Redis still loading (or away) when the intake starts: it says so and retries, then starts as usual."""

    @dataclass
    class RedisComesBack(InMemoryEventQueue):
        loop: Any = None
        checks: int = 0

        def check(self) -> None:
            self.checks += 1
            if self.checks == 1:
                raise StateUnavailable("read the event list: Redis unreachable; check MEDIA_INGEST_REDIS_URL")
            self.loop.stopping.set()  # started: stop before the first poll

    queue = RedisComesBack()
    intake = intake_on(queue, Broker())
    queue.loop = intake
    with capture_logs() as logs:
        assert intake.run() == 0
    events = [e["event"] for e in logs if e["event"].startswith("intake.")]
    assert events == ["intake.redis_unavailable", "intake.started", "intake.stopped"]
    assert queue.checks == 2
