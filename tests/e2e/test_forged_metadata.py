"""Issue 9, item 3: an uploader overwrites the label of their own object, on the real path.

After an AI image is labelled, its uploader copies it onto itself with ``MetadataDirective=REPLACE`` and forged
``aigc-*`` metadata. In an unversioned bucket S3 keeps the ETag, so the copy's event names the identity that was
already published. Before the fix the intake dropped that event as our own echo (and a worker would have answered
``already_labelled``, since it checked only ``aigc-policy``), so the object kept ``aigc-label: captured`` while the
stream said ``ai_generated``. Here moto's S3 sends the notifications to SQS, ``media-ingest intake sqs`` takes them
and a real worker process labels and repairs; the stream must keep exactly one record and the object the label
that record states.

The unit tests at the end pin the intake's echo filter itself (pipeline.process.is_own_echo) over the in-memory
store and sink, the same contract the real ones pass in tests/pipeline/adapters/test_contracts.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.adapters.memory import InMemoryFailureSink, InMemoryLabelSink, InMemoryObjectStore
from pipeline.errors import StorageUnavailable
from pipeline.model import ObjectRef
from pipeline.process import dedupe_key
from tests.support.e2e import intake_echoes, read_records, wait_for, wire_notifications
from tests.support.notifications import batch_counts
from workers.intake import Dispatched, dispatch, echo_filter

POLICY = "2026.12-2"


def aigc(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.startswith("aigc-")}


@pytest.mark.e2e
@pytest.mark.parametrize("skip_echoes", [True, False], ids=["echo-filter-at-intake", "every-copy-to-a-worker"])
def test_an_uploaders_forged_copy_onto_itself_is_repaired_with_one_record(
    s3, sqs, bucket, samples, settings, redis_client, processes, skip_echoes
):
    ai = next(s for s in samples if s.name == "ai-generated.jpg")
    queue_url = wire_notifications(s3, sqs, bucket)
    processes.settings = settings.with_overrides(intake_skip_echoes=skip_echoes)
    processes.worker()
    processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")
    s3.put_object(Bucket=bucket, Key="ai.jpg", Body=ai.data, ContentType="image/jpeg", Metadata={"owner": "alice"})

    def head() -> dict[str, Any]:
        return dict(s3.head_object(Bucket=bucket, Key="ai.jpg"))

    def counts() -> dict[str, int]:
        return batch_counts(redis_client, settings.key_prefix)

    # Labelled, and our write-back's own copy event recognised (dropped at the intake, or already_labelled).
    def recognised() -> int:
        return intake_echoes(processes) if skip_echoes else counts().get("already_labelled", 0)

    wait_for(lambda: head()["Metadata"].get("aigc-label") == "ai_generated", what="the label on the object")
    wait_for(lambda: recognised() >= 1, what="our write-back's copy event to be recognised")
    [record] = read_records(redis_client, settings.label_stream)
    assert (record["label"], record["provenance"]) == ("ai_generated", "trusted")
    labelled = head()
    written = aigc(labelled["Metadata"])
    assert written["aigc-checked"] == record["checked_at"]

    # The attack: a copy onto itself with forged labels, naming the current policy.
    forged = {
        "owner": "mallory",
        "aigc-label": "captured",
        "aigc-provenance": "trusted",
        "aigc-policy": record["policy"],
        "aigc-checked": record["checked_at"],
    }
    s3.copy_object(
        Bucket=bucket,
        Key="ai.jpg",
        CopySource={"Bucket": bucket, "Key": "ai.jpg"},
        MetadataDirective="REPLACE",
        Metadata=forged,
        ContentType="image/jpeg",
    )
    assert head()["ETag"] == labelled["ETag"]  # unversioned: the identity already published

    # The worker repairs it from the published label; the repair's own copy event is recognised in turn, after
    # which no event is left in flight (each write-back fires one copy event and the last one was recognised).
    wait_for(lambda: counts().get("duplicate", 0) >= 1, what="the forged copy to be repaired")
    wait_for(lambda: recognised() >= 2, what="the repair's copy event to be recognised")
    repaired = head()
    assert repaired["Metadata"] == {"owner": "mallory", **written}
    assert repaired["ETag"] == labelled["ETag"]
    assert read_records(redis_client, settings.label_stream) == [record]
    assert (counts().get("labelled"), counts().get("duplicate")) == (1, 1)
    assert counts().get("already_labelled", 0) == (0 if skip_echoes else 2)
    if skip_echoes:
        assert intake_echoes(processes) == 2


# --------------------------------------------------------------------------------------------------
# The intake's echo filter
# --------------------------------------------------------------------------------------------------

WRITTEN = {
    "aigc-label": "ai_generated",
    "aigc-provenance": "trusted",
    "aigc-policy": POLICY,
    "aigc-checked": "2026-11-25T10:41:07+00:00",
}


def copy_event(key: str, etag: str) -> str:
    record = {
        "eventName": "ObjectCreated:Copy",
        "s3": {"bucket": {"name": "uploads"}, "object": {"key": key, "eTag": etag}},
    }
    return json.dumps({"Records": [record]})


def labelled_world(metadata: dict[str, str]) -> tuple[InMemoryLabelSink, InMemoryObjectStore, str]:
    """``uploads/ai.jpg`` published with WRITTEN kept with its guard, and carrying ``metadata`` now."""
    store = InMemoryObjectStore()
    etag = store.put("uploads", "ai.jpg", b"image bytes", metadata=metadata).etag
    sink = InMemoryLabelSink()
    sink.publish({"key": "ai.jpg"}, dedupe_key("uploads", "ai.jpg", None, etag, POLICY), WRITTEN)
    return sink, store, etag


def run(body: str, sink: InMemoryLabelSink, store: Any) -> tuple[Dispatched, list[ObjectRef]]:
    enqueued: list[ObjectRef] = []
    result = dispatch(
        body,
        batch_id="b",
        enqueue=lambda ref, _: enqueued.append(ref),
        failures=InMemoryFailureSink(),
        origin="test",
        is_echo=echo_filter(sink, POLICY, store),
    )
    return result, enqueued


def test_the_copy_event_of_an_object_carrying_what_we_wrote_is_dropped():
    sink, store, etag = labelled_world({"owner": "alice", **WRITTEN})
    assert run(copy_event("ai.jpg", etag), sink, store) == (Dispatched(0, 1), [])


@pytest.mark.parametrize(
    "metadata",
    [
        {**WRITTEN, "aigc-label": "captured"},
        {**WRITTEN, "aigc-note": "human-made"},
        {k: v for k, v in WRITTEN.items() if k != "aigc-label"},
        {"owner": "mallory"},
    ],
    ids=["forged-label", "extra-key", "label-removed", "none"],
)
def test_a_copy_event_whose_object_carries_other_labels_goes_to_a_worker(metadata):
    """Same bucket, key and ETag as the published identity (a copy onto itself keeps them), other aigc-* keys."""
    sink, store, etag = labelled_world(metadata)
    result, enqueued = run(copy_event("ai.jpg", etag), sink, store)
    assert result == Dispatched(1, 0)
    assert [(r.key, r.etag, r.event_name) for r in enqueued] == [("ai.jpg", etag, "ObjectCreated:Copy")]


def test_a_guard_without_metadata_is_no_proof():
    """A guard an earlier release set, or a copy event before the publish: nothing to compare, a worker decides."""
    store = InMemoryObjectStore()
    etag = store.put("uploads", "ai.jpg", b"image bytes", metadata=WRITTEN).etag
    sink = InMemoryLabelSink()
    sink.mark_published(dedupe_key("uploads", "ai.jpg", None, etag, POLICY))
    assert run(copy_event("ai.jpg", etag), sink, store)[0] == Dispatched(1, 0)


class UnreachableStore(InMemoryObjectStore):
    """S3 answering 503 to the intake's HEAD (or the intake lacking s3:GetObject)."""

    def head_object(self, ref: ObjectRef) -> Any:
        raise StorageUnavailable(f"HEAD {ref.uri}: 503")


def test_a_store_fault_sends_the_event_to_a_worker_instead_of_failing_the_round():
    sink, _, etag = labelled_world(WRITTEN)
    assert run(copy_event("ai.jpg", etag), sink, UnreachableStore())[0] == Dispatched(1, 0)


class NoGetStore(InMemoryObjectStore):
    def fetch(self, ref: ObjectRef, dest: Any, *, accept: Any) -> Any:
        raise AssertionError(f"the echo filter read {ref.uri}")

    def head_object(self, ref: ObjectRef) -> Any:
        raise AssertionError(f"the echo filter sent a HEAD for {ref.uri}")


class HeadOnlyStore(InMemoryObjectStore):
    def fetch(self, ref: ObjectRef, dest: Any, *, accept: Any) -> Any:
        raise AssertionError(f"the echo filter sent a GET for {ref.uri}: its headers come with a HEAD")


def test_the_echo_check_reads_the_objects_headers_with_a_head_not_a_get():
    store = HeadOnlyStore()
    etag = store.put("uploads", "ai.jpg", b"image bytes", metadata={"owner": "alice", **WRITTEN}).etag
    sink = InMemoryLabelSink()
    sink.publish({"key": "ai.jpg"}, dedupe_key("uploads", "ai.jpg", None, etag, POLICY), WRITTEN)
    assert run(copy_event("ai.jpg", etag), sink, store) == (Dispatched(0, 1), [])


def test_uploads_and_copies_without_a_guard_cost_no_request():
    sink, _, etag = labelled_world(WRITTEN)
    put = copy_event("ai.jpg", etag).replace("ObjectCreated:Copy", "ObjectCreated:Put")
    assert run(put, sink, NoGetStore())[0] == Dispatched(1, 0)
    assert run(copy_event("other.jpg", etag), sink, NoGetStore())[0] == Dispatched(1, 0)
