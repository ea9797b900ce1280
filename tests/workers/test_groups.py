"""A group task's objects (workers.groups) over in-memory ports: every object ends on its own, exactly as in a task
of its own; a redelivered or failed group resumes after the objects that ended; a hand-on the broker refuses puts
the group back. Also the Celery glue's two decisions (the soft time limit, the grouping enqueue) on their own."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from prometheus_client import REGISTRY
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from pipeline.adapters.memory import InMemoryGroupProgress
from pipeline.errors import PermanentError, RetryableError, StateUnavailable, StorageUnavailable
from pipeline.model import ObjectRef
from pipeline.settings import Settings
from workers.groups import GroupWork, hand_on_unfinished, label_group


def ref(key: str, size: int | None = 10) -> ObjectRef:
    return ObjectRef("bk", key, etag=f"e-{key}", size=size)


def refs(*keys: str) -> list[ObjectRef]:
    return [ref(k) for k in keys]


class TimeUp(Exception):
    """Stands for Celery's SoftTimeLimitExceeded, which the glue recognises (tested below)."""


@dataclass
class Broker:
    """The task queue: what was handed on, as (kind, keys, batch, retries); ``refuse`` makes every publish fail."""

    sent: list[tuple[str, list[str], str | None, int]] = field(default_factory=list)
    countdowns: list[float | None] = field(default_factory=list)
    refuse: bool = False

    def one(self, ref: ObjectRef, batch_id: str | None, *, countdown: float | None = None, retries: int = 0) -> None:
        if self.refuse:
            raise ConnectionError("broker unreachable")
        self.sent.append(("one", [ref.key], batch_id, retries))
        self.countdowns.append(countdown)

    def group(self, refs: Sequence[ObjectRef], batch_id: str | None) -> None:
        if self.refuse:
            raise ConnectionError("broker unreachable")
        self.sent.append(("group", [r.key for r in refs], batch_id, 0))


@dataclass
class Scripted:
    """The labelling of one object, scripted by key prefix; keeps the keys it was called for, in order, and what
    the group recorded as given up."""

    calls: list[str] = field(default_factory=list)
    recorded: list[tuple[str, str, str]] = field(default_factory=list)

    def label(self, obj: ObjectRef) -> str:
        self.calls.append(obj.key)
        if obj.key.startswith("transient"):
            raise StorageUnavailable(f"GET {obj.uri}: 503 SlowDown")
        if obj.key.startswith("permanent"):
            raise PermanentError(f"GET {obj.uri}: NoSuchBucket")
        if obj.key.startswith("gone"):
            return "skipped"  # the object's own labelling recorded the skip
        if obj.key.startswith("slow"):
            raise TimeUp()
        if obj.key.startswith("bug"):
            raise KeyError("a bug in one object's path")
        return "labelled"

    def record_failure(self, obj: ObjectRef, exc: BaseException) -> None:
        self.recorded.append((obj.key, type(exc).__name__, str(exc)))


def time_up(exc: BaseException) -> PermanentError | None:
    return PermanentError("took longer than the 270s soft limit") if isinstance(exc, TimeUp) else None


@pytest.fixture
def progress() -> InMemoryGroupProgress:
    return InMemoryGroupProgress()


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def work(progress: InMemoryGroupProgress, broker: Broker, scripted: Scripted) -> GroupWork:
    return GroupWork(
        progress=progress,
        queue=broker,
        label=scripted.label,
        record_failure=scripted.record_failure,
        time_up=time_up,
    )


def captured() -> Any:
    """The log lines emitted meanwhile, with the ids bound to them (the object at hand)."""
    return capture_logs(processors=[merge_contextvars])


def handoffs(reason: str) -> float:
    return REGISTRY.get_sample_value("media_ingest_group_handoffs_total", {"reason": reason}) or 0.0


def test_every_object_of_a_group_ends_on_its_own(work, scripted, broker, progress):
    before = handoffs("transient")
    group_id = str(uuid.uuid4())
    with captured() as logs:
        result = label_group(group_id, refs("a", "transient", "permanent", "gone", "bug", "b"), "b", work)
    assert result == {"labelled": 2, "retrying": 1, "failed": 2, "skipped": 1}
    assert scripted.calls == ["a", "transient", "permanent", "gone", "bug", "b"]
    assert broker.sent == [("one", ["transient"], "b", 1)], "retried alone, the group's try counted as its first"
    [countdown] = broker.countdowns
    assert countdown is not None and 0 <= countdown <= 1, "after the single task's first backoff"
    assert handoffs("transient") == before + 1
    assert [(key, error_class) for key, error_class, _ in scripted.recorded] == [
        ("permanent", "PermanentError"),
        ("bug", "KeyError"),
    ]
    [bug] = [entry for entry in logs if entry["event"] == "object.error"]
    assert (bug["log_level"], bug["key"]) == ("error", "bug"), "a bug is logged with the object it hit"
    assert progress.done(group_id) == 0, "a finished group leaves no progress mark behind"


def test_the_soft_time_limit_records_the_object_at_hand_and_hands_the_rest_on(work, scripted, broker):
    before = handoffs("soft_limit")
    result = label_group(str(uuid.uuid4()), refs("a", "slow", "b", "c"), "b", work)
    assert result == {"labelled": 1, "failed": 1, "handed_on": 2}
    assert scripted.calls == ["a", "slow"]
    assert scripted.recorded == [("slow", "PermanentError", "took longer than the 270s soft limit")]
    assert broker.sent == [("group", ["b", "c"], "b", 0)]
    assert handoffs("soft_limit") == before + 2


def test_the_soft_time_limit_on_the_last_object_hands_nothing_on(work, scripted, broker):
    assert label_group(str(uuid.uuid4()), refs("a", "slow"), "b", work) == {"labelled": 1, "failed": 1, "handed_on": 0}
    assert broker.sent == []


def test_a_redelivered_group_resumes_after_the_objects_that_ended(work, scripted, progress):
    group_id = str(uuid.uuid4())
    progress.advance(group_id, 2)  # a worker was killed after two objects of this group had ended
    assert label_group(group_id, refs("a", "b", "c", "d"), "b", work) == {"labelled": 2}
    assert scripted.calls == ["c", "d"], "the first two are neither run nor counted again"


def test_each_object_that_ends_advances_the_mark_before_the_next_starts(work, scripted, progress):
    group_id = str(uuid.uuid4())
    marks: list[int] = []
    label = scripted.label

    def label_and_look(obj: ObjectRef) -> str:
        marks.append(progress.done(group_id))
        return label(obj)

    tracking = GroupWork(progress, work.queue, label_and_look, work.record_failure, work.time_up)
    label_group(group_id, refs("a", "permanent", "b"), "b", tracking)
    assert marks == [0, 1, 2]


def test_a_hand_on_the_broker_refuses_puts_the_group_back_where_it_was(work, scripted, broker, progress):
    broker.refuse = True
    group_id = str(uuid.uuid4())
    with captured() as logs, pytest.raises(StateUnavailable, match="could not hand an object on"):
        label_group(group_id, refs("a", "transient", "b"), "b", work)
    assert scripted.calls == ["a", "transient"]
    assert progress.done(group_id) == 1, "the redelivery resumes at the object whose hand-on failed"
    [requeued] = [entry for entry in logs if entry["event"] == "group.requeued"]
    assert (requeued["error_class"], requeued["key"]) == ("StateUnavailable", "transient")


def test_a_state_store_that_is_down_puts_the_group_back_before_any_object(work, scripted):
    class Down(InMemoryGroupProgress):
        def done(self, group_id: str) -> int:
            raise StateUnavailable("Redis unreachable")

    down = GroupWork(Down(), work.queue, work.label, work.record_failure, work.time_up)
    with pytest.raises(RetryableError):
        label_group(str(uuid.uuid4()), refs("a", "b"), "b", down)
    assert scripted.calls == []


def test_a_group_that_dies_whole_hands_on_only_what_had_not_ended(broker, progress):
    group_id = str(uuid.uuid4())
    progress.advance(group_id, 1)
    with captured() as logs:
        handed = hand_on_unfinished(
            group_id, refs("a", "b", "c"), "b", TimeoutError("hard time limit"), progress=progress, queue=broker
        )
    assert handed == 2
    assert broker.sent == [("one", ["b"], "b", 0), ("one", ["c"], "b", 0)], "each with the full retry budget"
    assert progress.done(group_id) == 0
    [failed] = [entry for entry in logs if entry["event"] == "group.failed"]
    assert (failed["error_class"], failed["handed_on"]) == ("TimeoutError", 2)


def test_a_group_that_dies_while_the_state_store_is_down_hands_everything_on(broker):
    class Down(InMemoryGroupProgress):
        def done(self, group_id: str) -> int:
            raise StateUnavailable("Redis unreachable")

    assert hand_on_unfinished("g", refs("a", "b"), "b", TimeoutError(), progress=Down(), queue=broker) == 2
    assert [keys for _, keys, _, _ in broker.sent] == [["a"], ["b"]], "the guards keep the rerun of `a` harmless"


def test_a_hand_on_that_fails_names_every_object_left_to_submit_by_hand(broker, progress):
    broker.refuse = True
    with captured() as logs, pytest.raises(ConnectionError):
        hand_on_unfinished("g", refs("a", "b"), "b-1", TimeoutError(), progress=progress, queue=broker)
    [critical] = [entry for entry in logs if entry["event"] == "group.hand_on_failed"]
    assert critical["objects"] == ["s3://bk/a", "s3://bk/b"] and critical["batch_id"] == "b-1"


# --- the Celery glue (workers.tasks) ------------------------------------------------------------------------------


def test_the_soft_time_limit_is_recognised_raised_or_already_translated(settings: Settings) -> None:
    from workers.app import configure
    from workers.tasks import _time_up

    configure(settings.with_overrides(task_time_limit=100))
    raised = _time_up(SoftTimeLimitExceeded())
    assert isinstance(raised, PermanentError) and str(raised) == "took longer than the 70s soft limit"
    translated = PermanentError("took longer than the 70s soft limit")
    translated.__cause__ = SoftTimeLimitExceeded()
    assert _time_up(translated) is translated
    assert _time_up(KeyError("a bug")) is None
    assert _time_up(PermanentError("NoSuchBucket")) is None


def queued_tasks(redis_client: Any, queue: str) -> list[tuple[str, list[str]]]:
    """The tasks waiting on the broker's queue (kombu keeps it as a Redis list), oldest first: name and keys."""
    tasks = []
    for raw in reversed(redis_client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        keys = [r["key"] for r in kwargs["refs"]] if "refs" in kwargs else [kwargs["ref"]["key"]]
        tasks.append((message["headers"]["task"], keys))
    return tasks


def test_the_grouping_enqueue_sends_small_objects_as_groups_on_the_settings_queue(settings, redis_client):
    from workers.tasks import grouping_enqueue

    settings = settings.with_overrides(task_group_size=2, task_group_max_bytes=100)
    enqueue = grouping_enqueue(settings)
    enqueue(ref("big", 101), "b")
    enqueue(ref("a"), "b")
    enqueue(ref("c"), "b")
    enqueue(ref("d"), "b")
    enqueue.flush()
    assert queued_tasks(redis_client, settings.queue) == [
        ("media_ingest.label_object", ["big"]),
        ("media_ingest.label_objects", ["a", "c"]),
        ("media_ingest.label_object", ["d"]),
    ]
