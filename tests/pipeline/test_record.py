"""The label record and the metadata written back (pipeline.record)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from pipeline.credentials.manifest import parse_store
from pipeline.interfaces import CredentialReport
from pipeline.policy import Decision
from pipeline.record import (
    SCHEMA,
    LabelRecord,
    build_record,
    merged_metadata,
    metadata_for,
)

NOW = datetime(2026, 11, 25, 10, 41, 7, 654321, tzinfo=UTC)
ETAG = "9b2cf535f27731c974343645a3985328"
POLICY = "2026.11-1"

# The fields README.md documents for a label-stream record: consumers parse these names (add, never rename).
CONTRACT_FIELDS = {
    "schema",
    "bucket",
    "key",
    "version_id",
    "etag",
    "size",
    "content_type",
    "label",
    "provenance",
    "explanation",
    "digital_source_types",
    "signer",
    "generator",
    "failures",
    "reason",
    "policy",
    "checked_at",
    "event_time",
    "duration_ms",
    "batch_id",
    "source",
}

AI_STORE = parse_store(
    {
        "active_manifest": "urn:uuid:a",
        "manifests": {"urn:uuid:a": {"assertions": [], "signature_info": {"issuer": "media-ingest test"}}},
        "validation_state": "Trusted",
    }
)
AI_DECISION = Decision(
    "ai_generated",
    "Signed by media-ingest test (trusted): created with generative AI.",
    digital_source_types=("compositeSynthetic", "trainedAlgorithmicMedia"),
    signer="media-ingest test",
    generator="Example Image Model",
    failures=("signingCredential.ocsp.skipped",),
)


def record(**overrides) -> LabelRecord:
    arguments = {
        "report": CredentialReport("trusted", store=AI_STORE),
        "decision": AI_DECISION,
        "policy_version": POLICY,
        "duration_ms": 11.61234,
        "bucket": "uploads",
        "key": "u/42/photo.jpg",
        "version_id": None,
        "etag": ETAG,
        "size": 6613,
        "content_type": "image/jpeg",
        "event_time": "2026-11-25T10:41:06.512Z",
        "batch_id": "sqs-20261125T104106-3f9a1c",
        "now": NOW,
        **overrides,
    }
    return build_record(**arguments)


def test_build_record_fields():
    data = record().to_dict()
    assert {name: data[name] for name in CONTRACT_FIELDS} == {
        "schema": "media-ingest.label/1",
        "bucket": "uploads",
        "key": "u/42/photo.jpg",
        "version_id": None,
        "etag": ETAG,
        "size": 6613,
        "content_type": "image/jpeg",
        "label": "ai_generated",
        "provenance": "trusted",
        "explanation": "Signed by media-ingest test (trusted): created with generative AI.",
        "digital_source_types": ["compositeSynthetic", "trainedAlgorithmicMedia"],
        "signer": "media-ingest test",
        "generator": "Example Image Model",
        "failures": ["signingCredential.ocsp.skipped"],
        "reason": None,
        "policy": "2026.11-1",
        "checked_at": "2026-11-25T10:41:07+00:00",
        "event_time": "2026-11-25T10:41:06.512Z",
        "duration_ms": 11.612,
        "batch_id": "sqs-20261125T104106-3f9a1c",
        "source": None,
    }


def test_record_keeps_every_contract_field():
    # "add, never rename": new fields may appear, none of the documented ones may go.
    assert SCHEMA == "media-ingest.label/1"
    assert CONTRACT_FIELDS - set(record().to_dict()) == set()
    assert CONTRACT_FIELDS - set(LabelRecord.__dataclass_fields__) == set()


def test_record_is_json_safe():
    data = record().to_dict()
    assert json.loads(json.dumps(data)) == data


def test_unreadable_record_carries_the_reason():
    r = record(
        report=CredentialReport("unreadable", reason="empty object (0 bytes)"),
        decision=Decision("unknown", "No usable Content Credentials (empty object (0 bytes)): could not be read."),
        size=0,
    )
    data = r.to_dict()
    assert (data["label"], data["provenance"], data["reason"]) == ("unknown", "unreadable", "empty object (0 bytes)")
    assert (data["signer"], data["generator"], data["digital_source_types"], data["failures"]) == (None, None, [], [])


def test_local_inspect_record_has_source_and_no_object():
    data = record(bucket=None, key=None, etag=None, size=None, content_type=None, source="/tmp/a.jpg").to_dict()
    assert (data["bucket"], data["key"], data["source"]) == (None, None, "/tmp/a.jpg")


def test_checked_at_is_utc_now_to_the_second_by_default():
    before = datetime.now(UTC).replace(microsecond=0)
    checked = datetime.fromisoformat(record(now=None).checked_at)
    after = datetime.now(UTC)
    assert checked.utcoffset() == timedelta(0)
    assert before <= checked <= after


def test_checked_at_keeps_the_given_offset():
    cet = timezone(timedelta(hours=1))
    assert record(now=datetime(2026, 11, 25, 11, 41, 7, tzinfo=cet)).checked_at == "2026-11-25T11:41:07+01:00"


# --------------------------------------------------------------------------------------------------
# Metadata written back onto the object
# --------------------------------------------------------------------------------------------------


def test_metadata_for():
    assert metadata_for(record()) == {
        "aigc-label": "ai_generated",
        "aigc-provenance": "trusted",
        "aigc-policy": "2026.11-1",
        "aigc-checked": "2026-11-25T10:41:07+00:00",
    }


def test_metadata_is_ascii_and_under_the_s3_limit_even_for_long_values():
    long = record(
        bucket="b" * 63,
        key="k/" * 500,
        etag="d41d8cd98f00b204e9800998ecf8427e-10000",
        policy_version="2026.11-1+" + "x" * 40,
    )
    metadata = metadata_for(long)
    # S3 counts the UTF-8 bytes of every user-metadata key and value; counting the x-amz-meta- prefix is stricter.
    size = sum(len(f"x-amz-meta-{k}".encode()) + len(v.encode()) for k, v in metadata.items())
    assert size < 2048
    assert all(k.isascii() and v.isascii() for k, v in metadata.items())
    assert all(k == k.lower() for k in metadata)


def test_merged_metadata_keeps_user_metadata_and_replaces_ours():
    existing = {
        "owner": "alice",
        "camera": "x100v",
        "aigc-label": "captured",
        "aigc-policy": "2025.01-1",
        "aigc-ref": "00000000000000000000",
        "aigc-obsolete": "from an older version",
    }
    labels = metadata_for(record())
    assert merged_metadata(existing, labels) == {"owner": "alice", "camera": "x100v", **labels}
    assert existing["aigc-label"] == "captured"  # the input is not modified


def test_merged_metadata_onto_nothing():
    labels = metadata_for(record())
    assert merged_metadata({}, labels) == labels
