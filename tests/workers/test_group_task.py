"""The group task (media_ingest.label_objects) on the real Redis state: every object ends on its own, exactly as in
a task of its own; a redelivered or failed group resumes after the objects that ended; and the intake's enqueue
feeds it. ``label_object`` is scripted by key, everything around it (guards, counters, failures) is real."""

from __future__ import annotations

import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import ObjectNotFound, PermanentError, StorageUnavailable
from pipeline.model import ObjectRef
from pipeline.process import Outcome
from workers import tasks
from workers.composition import build_runtime


def ref(key: str, size: int | None = 10) -> ObjectRef:
    return ObjectRef("bk", key, etag=f"e-{key}", size=size)


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, list[str], str | None, int]] = []
    monkeypatch.setattr(
        tasks, "enqueue", lambda r, batch_id, retries=0, **_: sent.append(("one", [r.key], batch_id, retries))
    )
    monkeypatch.setattr(
        tasks, "enqueue_group", lambda refs, batch_id: sent.append(("group", [r.key for r in refs], batch_id, 0))
    )
    return sent


@pytest.fixture
def rt(settings, redis_client, monkeypatch):
    runtime = build_runtime(settings)
    monkeypatch.setattr(tasks, "runtime", lambda: runtime)
    return runtime


@pytest.fixture
def labelled(monkeypatch):
    """Script ``label_object`` by key prefix; returns the keys it was called for, in order."""
    calls: list[str] = []

    def label_object(obj, services, *, batch_id=None):
        calls.append(obj.key)
        if obj.key.startswith("transient"):
            raise StorageUnavailable(f"GET {obj.uri}: 503 SlowDown")
        if obj.key.startswith("permanent"):
            raise PermanentError(f"GET {obj.uri}: NoSuchBucket")
        if obj.key.startswith("gone"):
            raise ObjectNotFound(f"GET {obj.uri}: NoSuchKey")
        if obj.key.startswith("slow"):
            raise SoftTimeLimitExceeded()  # as Celery raises it in the running code
        if obj.key.startswith("bug"):
            raise KeyError("a bug in one object's path")
        return Outcome("labelled")

    monkeypatch.setattr(tasks, "label_object", label_object)
    return calls


def run(*keys: str, task_id: str | None = None, batch_id: str = "b") -> object:
    refs = [ref(k).to_message() for k in keys]
    return tasks.label_objects_task.apply(kwargs={"refs": refs, "batch_id": batch_id}, task_id=task_id)


def failures(rt) -> list[tuple[str, str, str, int]]:
    return sorted((f["key"], f["error_class"], f["disposition"], f["attempts"]) for f in rt.failures.entries())


def handoffs(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("media_ingest_group_handoffs_total", {"reason": reason}) or 0.0


def test_every_object_of_a_group_ends_on_its_own(rt, labelled, published):
    before = handoffs("transient")
    result = run("a", "transient", "permanent", "gone", "bug", "b")
    assert handoffs("transient") == before + 1
    assert result.get() == {"labelled": 2, "retrying": 1, "failed": 2, "skipped": 1}
    assert published == [("one", ["transient"], "b", 1)], "retried alone, the group's try counted as its first"
    assert failures(rt) == [
        ("bug", "KeyError", "failed", 1),
        ("gone", "ObjectNotFound", "skipped", 1),
        ("permanent", "PermanentError", "failed", 1),
    ]
    counts = rt.batches.get("b")
    assert (counts["labelled"], counts["failed"], counts["skipped"]) == ("2", "2", "1")
    assert rt.groups.done(result.id) == 0, "a finished group leaves no progress mark behind"


def test_the_soft_time_limit_records_the_object_at_hand_and_hands_the_rest_on(rt, labelled, published):
    before = handoffs("soft_limit")
    result = run("a", "slow", "b", "c")
    assert handoffs("soft_limit") == before + 2
    assert result.get() == {"labelled": 1, "failed": 1, "handed_on": 2}
    assert labelled == ["a", "slow"]
    assert failures(rt) == [("slow", "PermanentError", "failed", 1)]
    assert published == [("group", ["b", "c"], "b", 0)]


def test_a_redelivered_group_resumes_after_the_objects_that_ended(rt, labelled, published):
    task_id = str(uuid.uuid4())
    rt.groups.advance(task_id, 2)  # a worker was killed after two objects of this group had ended
    result = run("a", "b", "c", "d", task_id=task_id)
    assert labelled == ["c", "d"]
    assert result.get() == {"labelled": 2}
    assert rt.batches.get("b")["labelled"] == "2", "the first two are not counted again"


def test_a_group_that_dies_whole_hands_on_only_what_had_not_ended(rt, published):
    task_id = str(uuid.uuid4())
    rt.groups.advance(task_id, 1)
    refs = [ref(k).to_message() for k in ("a", "b", "c")]
    tasks.label_objects_task.on_failure(
        TimeoutError("hard time limit"), task_id, (), {"refs": refs, "batch_id": "b"}, None
    )
    assert published == [("one", ["b"], "b", 0), ("one", ["c"], "b", 0)]
    assert rt.groups.done(task_id) == 0


def test_a_hand_on_the_broker_refuses_puts_the_group_back_on_the_queue(rt, labelled, monkeypatch):
    def broker_down(*_, **__):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks, "enqueue", broker_down)
    monkeypatch.setattr(tasks, "REQUEUE_PAUSE_SECONDS", 0.0)
    task_id = str(uuid.uuid4())
    result = run("a", "transient", "b", task_id=task_id)
    assert result.state == "REJECTED"
    assert labelled == ["a", "transient"]
    assert rt.groups.done(task_id) == 1, "the redelivery resumes at the object whose hand-on failed"


def test_the_intake_enqueue_groups_into_label_objects_and_sends_the_rest_alone(published):
    enqueue = tasks.grouping_enqueue()
    enqueue(ref("big", tasks.settings.task_group_max_bytes + 1), "b")
    enqueue(ref("a"), "b")
    enqueue(ref("c"), "b")
    enqueue.flush()
    assert published == [("one", ["big"], "b", 0), ("group", ["a", "c"], "b", 0)]
