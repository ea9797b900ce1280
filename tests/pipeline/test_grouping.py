"""Which objects share a worker task, and that the grouping enqueue loses none (pipeline.grouping)."""

from __future__ import annotations

import pytest

from pipeline.grouping import Grouper, GroupingRule
from pipeline.model import ObjectRef

KB = 1024


def ref(key: str, size: int | None = 10) -> ObjectRef:
    return ObjectRef("b", key, etag=f"e-{key}", size=size)


@pytest.fixture
def sent():
    return []


def grouper(sent, rule: GroupingRule) -> Grouper:
    return Grouper(
        rule,
        publish_one=lambda r, batch: sent.append(("one", [r.key], batch)),
        publish_group=lambda refs, batch: sent.append(("group", [r.key for r in refs], batch)),
    )


def test_small_objects_share_tasks_up_to_the_group_size_in_arrival_order(sent):
    enqueue = grouper(sent, GroupingRule(max_objects=3))
    for i in range(7):
        enqueue(ref(f"s{i}", 100 * KB), "b1")
    assert sent == [("group", ["s0", "s1", "s2"], "b1"), ("group", ["s3", "s4", "s5"], "b1")]
    enqueue.flush()
    assert sent[2:] == [("one", ["s6"], "b1")], "a group of one goes as a single object"


def test_large_and_unsized_objects_go_at_once_without_holding_small_ones_back(sent):
    enqueue = grouper(sent, GroupingRule(max_objects=4, max_object_bytes=1024 * KB))
    for r in (ref("a"), ref("video", 50 * 1024 * KB), ref("b", 1024 * KB), ref("unsized", None), ref("c", 0)):
        enqueue(r, "b1")
    assert sent == [("one", ["video"], "b1"), ("one", ["unsized"], "b1")]
    enqueue.flush()
    assert sent[2:] == [("group", ["a", "b", "c"], "b1")]


def test_groups_never_mix_batches_and_a_second_flush_sends_nothing(sent):
    enqueue = grouper(sent, GroupingRule(max_objects=10))
    enqueue(ref("a"), "b1")
    enqueue(ref("b"), "b2")
    enqueue(ref("c"), "b1")
    enqueue.flush()
    enqueue.flush()
    assert sent == [("group", ["a", "c"], "b1"), ("one", ["b"], "b2")]


def test_a_group_size_of_one_turns_grouping_off(sent):
    enqueue = grouper(sent, GroupingRule(max_objects=1))
    enqueue(ref("a"), "b")
    enqueue(ref("b"), "b")
    assert sent == [("one", ["a"], "b"), ("one", ["b"], "b")]


def test_a_group_whose_publish_failed_is_sent_by_the_next_flush():
    attempts: list[list[str]] = []

    def publish_group(refs, batch):
        attempts.append([r.key for r in refs])
        if len(attempts) == 1:
            raise ConnectionError("broker down")

    enqueue = Grouper(GroupingRule(max_objects=10), publish_one=lambda r, b: None, publish_group=publish_group)
    enqueue(ref("a"), "b")
    enqueue(ref("b"), "b")
    with pytest.raises(ConnectionError):
        enqueue.flush()
    enqueue.flush()
    assert attempts == [["a", "b"], ["a", "b"]]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 25])
def test_every_ref_is_published_exactly_once(sent, count):
    enqueue = grouper(sent, GroupingRule(max_objects=10, max_object_bytes=2 * 1024 * KB))
    refs = [ref(f"k{i}", (i * 97 * KB) % (3 * 1024 * KB) if i % 5 else None) for i in range(count)]
    for r in refs:
        enqueue(r, "b")
    enqueue.flush()
    assert sorted(k for _, keys, _ in sent for k in keys) == sorted(r.key for r in refs)
    assert all(1 <= len(keys) <= 10 for _, keys, _ in sent)
