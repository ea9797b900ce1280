"""The intake's grouping enqueue: what it publishes, and that nothing stays buffered after a flush."""

from __future__ import annotations

import pytest

from pipeline.grouping import GroupingRule
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


def test_full_groups_go_at_once_the_rest_on_flush_per_batch(published):
    enqueue = tasks.GroupingEnqueue(GroupingRule(max_objects=2, max_object_bytes=100))
    enqueue(ref("a"), "b1")
    enqueue(ref("big", 1000), "b1")
    enqueue(ref("b"), "b1")
    enqueue(ref("c"), "b2")
    assert published == [("one", ["big"], "b1"), ("group", ["a", "b"], "b1")]
    enqueue.flush()
    assert published[2:] == [("group", ["c"], "b2")]
    enqueue.flush()
    assert len(published) == 3, "a second flush publishes nothing again"


def test_a_group_size_of_one_publishes_every_object_alone_immediately(published):
    enqueue = tasks.GroupingEnqueue(GroupingRule(max_objects=1))
    enqueue(ref("a"), "b")
    enqueue(ref("b"), "b")
    assert published == [("one", ["a"], "b"), ("one", ["b"], "b")]
