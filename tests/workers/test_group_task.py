"""The group task (media_ingest.label_objects): each object ends on its own; and the intake's enqueue feeds it."""

from __future__ import annotations

import pytest

from pipeline.model import ObjectRef
from workers import tasks


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, list[str], str | None]] = []
    monkeypatch.setattr(tasks, "enqueue", lambda ref, batch_id, **_: sent.append(("one", [ref.key], batch_id)))
    monkeypatch.setattr(
        tasks, "enqueue_group", lambda refs, batch_id: sent.append(("group", [r.key for r in refs], batch_id))
    )
    return sent


def ref(key: str, size: int | None = 10) -> ObjectRef:
    return ObjectRef("b", key, etag="e", size=size)


def test_the_intake_enqueue_groups_into_label_objects_and_sends_the_rest_alone(published):
    enqueue = tasks.grouping_enqueue()
    enqueue(ref("big", tasks.settings.task_group_max_bytes + 1), "b")
    enqueue(ref("a"), "b")
    enqueue(ref("c"), "b")
    enqueue.flush()
    assert published == [("one", ["big"], "b"), ("group", ["a", "c"], "b")]


@pytest.fixture
def group_run(monkeypatch, published):
    """Run ``label_objects_task`` in this process with each object's outcome scripted by its key."""
    from celery.exceptions import SoftTimeLimitExceeded

    from pipeline.errors import PermanentError, StorageUnavailable

    recorded: list[tuple[str, str]] = []

    def label_one(request, obj, batch_id):
        if obj.key.startswith("transient"):
            raise StorageUnavailable(f"GET {obj.uri}: 503 SlowDown")
        if obj.key.startswith("permanent"):
            raise PermanentError(f"GET {obj.uri}: NoSuchBucket")
        if obj.key.startswith("slow"):
            try:
                raise SoftTimeLimitExceeded()
            except SoftTimeLimitExceeded as exc:
                raise PermanentError("took longer than the soft limit") from exc
        if obj.key.startswith("bug"):
            raise KeyError("a bug in one object's path")
        return "labelled"

    monkeypatch.setattr(tasks, "_label_one", label_one)
    monkeypatch.setattr(
        tasks,
        "_record_failure",
        lambda ref, batch_id, task_id, exc, attempts, **_: recorded.append((ref.key, type(exc).__name__)),
    )

    def run(*keys: str) -> dict[str, int]:
        refs = [ref(k).to_message() for k in keys]
        return tasks.label_objects_task.apply(kwargs={"refs": refs, "batch_id": "b"}).get()

    return run, recorded


def test_a_group_ends_every_object_on_its_own(group_run, published):
    run, recorded = group_run
    statuses = run("a", "transient", "permanent", "bug", "b")
    assert statuses == {"labelled": 2, "retrying": 1, "failed": 2}
    assert published == [("one", ["transient"], "b")], "the transient fault is retried as a task of its own"
    assert recorded == [("permanent", "PermanentError"), ("bug", "KeyError")]


def test_the_soft_time_limit_records_the_object_at_hand_and_hands_the_rest_on(group_run, published):
    run, recorded = group_run
    statuses = run("a", "slow", "b", "c")
    assert statuses == {"labelled": 1, "failed": 1, "handed_on": 2}
    assert recorded == [("slow", "PermanentError")]
    assert published == [("group", ["b", "c"], "b")]


def test_a_group_that_dies_whole_hands_every_object_on_as_its_own_task(published):
    refs = [ref(k).to_message() for k in ("a", "b")]
    tasks.label_objects_task.on_failure(
        TimeoutError("hard time limit"), "task-1", (), {"refs": refs, "batch_id": "b"}, None
    )
    assert published == [("one", ["a"], "b"), ("one", ["b"], "b")]
