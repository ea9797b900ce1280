"""Which objects share a worker task (pipeline.grouping)."""

from __future__ import annotations

import pytest

from pipeline.grouping import GroupingRule, group_refs
from pipeline.model import ObjectRef

KB = 1024


def ref(key: str, size: int | None) -> ObjectRef:
    return ObjectRef("b", key, etag=f"e-{key}", size=size)


def keys(payloads: list[tuple[ObjectRef, ...]]) -> list[list[str]]:
    return [[r.key for r in p] for p in payloads]


def test_small_objects_share_tasks_up_to_the_group_size_in_arrival_order():
    refs = [ref(f"s{i}", 100 * KB) for i in range(7)]
    assert keys(group_refs(refs, GroupingRule(max_objects=3))) == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]


def test_large_and_unsized_objects_go_alone_without_holding_small_ones_back():
    rule = GroupingRule(max_objects=4, max_object_bytes=1024 * KB)
    refs = [ref("a", 10), ref("video", 50 * 1024 * KB), ref("b", 1024 * KB), ref("unsized", None), ref("c", 0)]
    assert keys(group_refs(refs, rule)) == [["video"], ["unsized"], ["a", "b", "c"]]


def test_a_group_size_of_one_turns_grouping_off():
    refs = [ref(f"s{i}", 10) for i in range(3)]
    assert keys(group_refs(refs, GroupingRule(max_objects=1))) == [["s0"], ["s1"], ["s2"]]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 25])
def test_every_ref_lands_in_exactly_one_payload(count):
    refs = [ref(f"k{i}", (i * 97 * KB) % (3 * 1024 * KB) if i % 5 else None) for i in range(count)]
    payloads = group_refs(refs, GroupingRule(max_objects=10, max_object_bytes=2 * 1024 * KB))
    flat = [r for p in payloads for r in p]
    assert sorted(flat, key=lambda r: r.key) == sorted(refs, key=lambda r: r.key)
    assert all(1 <= len(p) <= 10 for p in payloads)
    assert all(len(p) == 1 for p in payloads if any(r.size is None or r.size > 2 * 1024 * KB for r in p))
