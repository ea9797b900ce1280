"""The intake's dispatch step: one task per created object, bad notifications recorded, our own echoes dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.memory import InMemoryFailureSink, InMemoryLabelSink
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


@pytest.fixture
def sink() -> InMemoryLabelSink:
    sink = InMemoryLabelSink()
    sink.mark_published(dedupe_key("uploads", "labelled.jpg", None, "e1", POLICY))
    return sink


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
        is_echo=echo_filter(sink, POLICY) if filtered else None,
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
    assert result == Dispatched(0, 0)
    [entry] = failures.entries()
    assert (entry["error_class"], entry["key"]) == ("BadEvent", "sqs:m1")


def _never(ref: Any, batch_id: str) -> None:
    raise AssertionError("nothing should be enqueued")
