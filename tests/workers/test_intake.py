"""The intake's dispatch step: one task per created object, bad notifications recorded, our own echoes dropped."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipeline.adapters.memory import InMemoryFailureSink, InMemoryLabelSink, InMemoryObjectStore
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
    assert result == Dispatched(0, 0, bad=1)
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
        count_queued=lambda batch, n, fields: counted.append(n),
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
        count_queued=lambda batch, n, fields: counted.append(n),
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


def test_bad_notifications_in_front_of_good_ones_are_recorded_and_the_good_ones_enqueued(redis_client, key_prefix):
    from workers.intake.redis_list import RedisListIntake

    key = f"{key_prefix}:events"
    redis_client.rpush(key, DEEP, INFINITE_SIZE, sized("a"), "not json", sized("b"))
    broker, counted, failures = Broker(), [], redis_failures(redis_client, key_prefix)
    intake = RedisListIntake(
        redis_client,
        key,
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=failures,
        count_queued=lambda batch, n, fields: counted.append(n),
        block_seconds=1,
    )
    before = metric("media_ingest_intake_bad_events_total"), metric("media_ingest_intake_rounds_total")
    assert intake.poll_once() == 2
    assert (broker.tasks, counted) == ([["a", "b"]], [2])
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


def test_a_parser_bug_is_recorded_as_a_bad_event_not_raised(monkeypatch):
    import workers.intake as intake

    def broken(body: Any) -> Any:
        raise TypeError("a bug")

    monkeypatch.setattr(intake, "parse_notification", broken)
    failures = InMemoryFailureSink()
    assert dispatch(sized("a"), batch_id="b", enqueue=_never, failures=failures, origin="sqs:m1") == Dispatched(bad=1)
    [entry] = failures.entries()
    assert entry["message"].startswith("the notification parser failed on it (TypeError: a bug); body starts")


def sqs_intake_on(sqs_client: Any, queue_url: str, broker: Broker, failures: Any, **kwargs: Any) -> Any:
    from workers.intake.sqs import SqsIntake

    return SqsIntake(
        sqs_client,
        queue_url,
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=failures,
        count_queued=kwargs.pop("count_queued", lambda batch, n, fields: None),
        wait_seconds=1,
        visibility_timeout=30,
        **kwargs,
    )


def queue_empty(sqs_client: Any, queue_url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return all(attributes[name] == "0" for name in names)


def drain(intake: Any, done: Any, timeout: float = 30.0) -> None:
    """Poll rounds until ``done()`` (observable state), with a deadline."""
    import time

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the intake did not get through the queue"
        intake.poll_once()


def test_on_sqs_bad_messages_are_recorded_and_deleted_and_their_neighbours_go_through(sqs, redis_client, key_prefix):
    queue_url = sqs.create_queue(QueueName=f"{key_prefix}-bad")["QueueUrl"]
    bodies = [DEEP, sized("a"), INFINITE_SIZE, sized("b"), '{"Records": [{"s3": 7}]}', sized("c")]
    ids = [sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"] for body in bodies]
    broker, failures = Broker(), redis_failures(redis_client, key_prefix)
    intake = sqs_intake_on(sqs, queue_url, broker, failures)
    drain(intake, lambda: sorted(k for task in broker.tasks for k in task) == ["a", "b", "c"])
    bad = {e["key"]: e["message"].split("; body starts")[0] for e in failures.entries()}
    assert bad == {
        f"sqs:{ids[0]}": "notification nests more than 32 levels deep",
        f"sqs:{ids[2]}": "event record 'ObjectCreated:Put': size inf is not a whole number of bytes",
        f"sqs:{ids[4]}": "event record '' has no s3 section",
    }
    assert queue_empty(sqs, queue_url), "the bad messages were deleted with their rounds, not left to redeliver"


# --- The bucket allow-list at the intake (issue 9, item 8) ----------------------------------------------------------


def in_bucket(bucket: str, key: str) -> str:
    return sized(key).replace('"name": "u"', f'"name": "{bucket}"')


def test_the_intake_records_an_object_of_a_bucket_not_allowed_as_a_skip(redis_client, key_prefix):
    from pipeline.events import BucketAllowList
    from workers.intake.redis_list import RedisListIntake

    key = f"{key_prefix}:events"
    redis_client.rpush(key, in_bucket("backups", "secret.jpg"), in_bucket("uploads", "a.jpg"))
    broker, failures = Broker(), redis_failures(redis_client, key_prefix)
    intake = RedisListIntake(
        redis_client,
        key,
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=failures,
        count_queued=lambda batch, n, fields: None,
        block_seconds=1,
        allowed=BucketAllowList.parse("uploads,avatars"),
    )
    skipped = metric("media_ingest_intake_skipped_total", reason="bucket_not_allowed")
    assert intake.poll_once() == 1
    assert broker.tasks == [["a.jpg"]]
    assert metric("media_ingest_intake_skipped_total", reason="bucket_not_allowed") == skipped + 1
    [entry] = failures.entries()
    assert (entry["bucket"], entry["key"], entry["error_class"], entry["disposition"]) == (
        "backups",
        "secret.jpg",
        "BucketNotAllowed",
        "skipped",
    )
    assert entry["message"] == (
        "bucket 'backups' is not in MEDIA_INGEST_BUCKETS (avatars, uploads): not read; add it there to label its "
        "objects"
    )
    assert redis_client.llen(key) == redis_client.llen(f"{key}:processing") == 0


def test_the_intakes_take_the_allow_list_and_the_window_from_the_settings(settings):
    from workers.cli import _intake_scope
    from workers.intake import BatchWindow

    scope = _intake_scope(settings.with_overrides(buckets="a,b", intake_batch_window_seconds=600))
    assert scope["allowed"].buckets == frozenset({"a", "b"})
    assert scope["window"] == BatchWindow(600)
    assert _intake_scope(settings)["allowed"].allows_any


def test_a_worker_never_fetches_an_object_of_a_bucket_not_allowed(s3, bucket, samples, settings, processes):
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


def test_a_batch_window_names_its_start_and_bounds():
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


def test_two_rounds_in_one_window_share_one_batch_kept_for_the_intake_ttl(settings, redis_client, key_prefix):
    """Through the intake's real counter (workers.cli): both rounds' tasks add up in one batch hash, whose TTL is
    the intake's (not 30 days), and which a worker's count (no TTL of its own) does not lengthen."""
    from pipeline.adapters.redis_store import RedisBatchCounters
    from workers.cli import _enqueue_and_count
    from workers.intake.redis_list import RedisListIntake

    ttl = 2 * 3600
    _, failures, count, _ = _enqueue_and_count(settings.with_overrides(intake_batch_ttl_seconds=ttl), "redis")
    key = f"{key_prefix}:events"
    broker = Broker()
    intake = RedisListIntake(
        redis_client,
        key,
        enqueue=broker.grouper,
        flush=broker.grouper.flush,
        discard=broker.grouper.discard,
        failures=failures,
        count_queued=count,
        block_seconds=1,
    )
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


def test_a_window_batch_is_finished_only_while_every_queued_object_has_ended(redis_client, key_prefix):
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


def test_the_batch_listing_reads_a_bounded_index_not_the_keyspace(redis_client, key_prefix, monkeypatch):
    from pipeline.adapters.redis_store import RedisBatchCounters

    counters = RedisBatchCounters(redis_client, prefix=key_prefix)
    redis_client.hset(f"{key_prefix}:batch:unindexed", "queued", 1)  # a hash no count or describe indexed
    counters.describe("replay-1", kind="replay", parents="sqs-20261202T1400,b2")
    counters.count("replay-1", "queued")
    assert list(counters.all()) == ["replay-1"], "listed from the index; a SCAN would have found 'unindexed'"
    assert counters.all()["replay-1"]["parents"] == "sqs-20261202T1400,b2"
    index = f"{key_prefix}:batches"
    redis_client.zadd(index, {"expired-long-ago": 1.0})  # older than any batch's retention
    monkeypatch.setattr(RedisBatchCounters, "INDEX_MAX", 3)
    for n in range(5):
        counters.count(f"b{n}", "queued")
    assert [m.decode() for m in redis_client.zrange(index, 0, -1)] == ["b2", "b3", "b4"], "by age, then by count"
    redis_client.delete(f"{key_prefix}:batch:b3")  # expired
    assert list(counters.all()) == ["b2", "b4"]
    assert redis_client.zscore(index, "b3") is None, "an expired batch leaves the index when listed"


def test_media_ingest_batches_lists_an_open_window(settings, redis_client, key_prefix):
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
def test_bad_intake_settings_stop_the_process_with_one_line(env, message):
    from pipeline.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env)


def test_intake_settings_defaults_and_values():
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


def test_a_huge_bad_list_item_is_recorded_with_a_short_preview():
    failures = InMemoryFailureSink()
    body = b"\xff" + b"x" * (64 * 1024 * 1024)  # a Redis list item may be any size; only its start is decoded
    assert dispatch(body, batch_id="b", enqueue=_never, failures=failures, origin="redis:k") == Dispatched(bad=1)
    [entry] = failures.entries()
    assert entry["message"].startswith("notification is 67108865 bytes, more than the 1048576 bytes")
    assert len(entry["message"]) < 400 and entry["etag"].startswith("sha256:")
