import time
from datetime import UTC, datetime

import pytest

from pipeline.adapters.redis_store import RedisFailureSink
from pipeline.failures import FailureFilter, by_error_class, parse_since, select
from pipeline.ports import FailureEntry

ENTRIES = [
    {"bucket": "b", "key": "x/1", "batch_id": "s1", "error_class": "A", "last_at": 100.0, "disposition": "failed"},
    {"bucket": "b", "key": "y/2", "batch_id": "s2", "error_class": "B", "last_at": 200.0, "disposition": "failed"},
    {"bucket": "c", "key": "x/3", "batch_id": "s1", "error_class": "A", "last_at": 300.0, "disposition": "skipped"},
]


@pytest.mark.parametrize(
    ("selection", "keys"),
    [
        (FailureFilter(), ["x/1", "y/2"]),
        (FailureFilter(disposition=None), ["x/1", "y/2", "x/3"]),
        (FailureFilter(batch="s1"), ["x/1"]),
        (FailureFilter(error_class="B"), ["y/2"]),
        (FailureFilter(since=150.0, disposition=None), ["y/2", "x/3"]),
        (FailureFilter(bucket="b", prefix="x/"), ["x/1"]),
    ],
)
def test_select(selection, keys):
    assert [e["key"] for e in select(ENTRIES, selection)] == keys


def test_group_by_error_class_most_frequent_first():
    assert by_error_class(ENTRIES) == [("A", 2), ("B", 1)]


def test_scope_names_the_selection():
    assert FailureFilter(batch="s1", prefix="x/").scope() == "batch=s1,disposition=failed,prefix=x/"


def test_parse_since():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now.timestamp() - 1800
    assert parse_since("2d", now) == now.timestamp() - 2 * 86400
    assert parse_since("2026-11-25T11:00:00+00:00", now) == now.timestamp() - 3600
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", now)


def _entry(key: str) -> FailureEntry:
    return FailureEntry("bk", key, None, f"etag-{key}", "b1", "t1", "StorageUnavailable", "boom", 9, "failed")


def test_a_worker_whose_clock_runs_ahead_trims_nothing_the_others_recorded(redis_client, key_prefix, monkeypatch):
    """Retention goes by the Redis clock: 31 days ahead on one host is not 31 days of age for the store."""
    sink = RedisFailureSink(redis_client, prefix=key_prefix, max_entries=1000, max_age=30 * 86400)
    sink.record(_entry("a"))
    sink.record(_entry("b"))
    seconds, micros = redis_client.time()
    redis_now = seconds + micros / 1e6
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 86400)  # this worker's clock
    sink.record(_entry("c"))
    monkeypatch.undo()
    entries = {e["key"]: e for e in sink.entries()}
    assert sorted(entries) == ["a", "b", "c"]
    assert abs(entries["c"]["last_at"] - redis_now) < 60  # stamped by the Redis clock, not the skewed one


def test_the_failure_store_still_trims_by_age_and_count(redis_client, key_prefix):
    sink = RedisFailureSink(redis_client, prefix=key_prefix, max_entries=2, max_age=3600)
    for key in ("a", "b", "c"):
        sink.record(_entry(key))
    assert [e["key"] for e in sink.entries()] == ["c", "b"]  # the oldest went first
    index = f"{key_prefix}:failures:index"
    redis_client.zadd(index, {"\0".join(("bk", "b", "null", "etag-b")): 1.0})  # recorded long ago by Redis's clock
    sink.record(_entry("d"))
    assert [e["key"] for e in sink.entries()] == ["d", "c"]
