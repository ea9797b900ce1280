from datetime import UTC, datetime

import pytest

from pipeline.failures import FailureFilter, by_error_class, parse_s3_prefix, parse_since, select

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


def test_parse_s3_prefix():
    assert parse_s3_prefix("s3://bucket/a/b") == ("bucket", "a/b")
    assert parse_s3_prefix("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="s3://bucket"):
        parse_s3_prefix("bucket/a")


def test_parse_since():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now.timestamp() - 1800
    assert parse_since("2d", now) == now.timestamp() - 2 * 86400
    assert parse_since("2026-11-25T11:00:00+00:00", now) == now.timestamp() - 3600
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", now)
