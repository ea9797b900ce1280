"""The label record and the metadata written back (pipeline.record)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest

from pipeline.credentials.manifest import parse_store
from pipeline.errors import MetadataNotWritable
from pipeline.policy import Decision
from pipeline.ports import CredentialReport
from pipeline.record import (
    MAX_ITEMS,
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    SCHEMA,
    USER_METADATA_LIMIT,
    LabelRecord,
    build_record,
    encode_record,
    labels_on,
    merged_metadata,
    metadata_for,
    metadata_to_write,
    metadata_value,
    user_metadata_bytes,
)

NOW = datetime(2026, 11, 25, 10, 41, 7, 654321, tzinfo=UTC)
ETAG = "9b2cf535f27731c974343645a3985328"
POLICY = "2026.12-1"

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
    "truncated",
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
        "policy": "2026.12-1",
        "checked_at": "2026-11-25T10:41:07+00:00",
        "event_time": "2026-11-25T10:41:06.512Z",
        "duration_ms": 11.612,
        "batch_id": "sqs-20261125T104106-3f9a1c",
        "source": None,
        "truncated": [],
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
# Caps: whatever a manifest says, a record is bounded
# --------------------------------------------------------------------------------------------------

HUGE_GENERATOR = "G" * 400_000
HUGE_TYPES = tuple(f"http://example.com/digitalsourcetype/{i}" for i in range(1001))


def hostile_record(**overrides) -> LabelRecord:
    """What the signed 0.97 MB JPEG of issue 9 made the reader report: a 400,000-character generator and 1,001
    source types (its explanation names the generator, as the policy's does)."""
    decision = Decision(
        "ai_generated",
        f"Signed by media-ingest test (trusted): created with generative AI ({HUGE_GENERATOR}).",
        digital_source_types=HUGE_TYPES,
        signer="media-ingest test",
        generator=HUGE_GENERATOR,
        failures=tuple(f"claim.hashMismatch.{i}" for i in range(500)),
    )
    return record(decision=decision, **overrides)


def test_a_hostile_manifest_gives_a_bounded_record_that_says_what_was_cut():
    data = hostile_record().to_dict()
    assert len(encode_record(data)) <= MAX_RECORD_BYTES
    assert data["truncated"] == ["digital_source_types", "explanation", "failures", "generator"]
    assert data["generator"].startswith("GGGG") and data["generator"].endswith("\u2026")
    assert len(data["generator"]) <= MAX_TEXT_CHARS
    assert data["explanation"].startswith("Signed by media-ingest test (trusted): created with generative AI (GGG")
    # Lists keep their first entries, in order; the decision's label and the object's identity are untouched.
    assert 0 < len(data["digital_source_types"]) <= MAX_ITEMS["digital_source_types"]
    assert data["digital_source_types"] == list(HUGE_TYPES[: len(data["digital_source_types"])])
    assert 0 < len(data["failures"]) <= MAX_ITEMS["failures"]
    assert (data["label"], data["provenance"], data["signer"]) == ("ai_generated", "trusted", "media-ingest test")
    assert (data["bucket"], data["key"], data["etag"], data["policy"]) == ("uploads", "u/42/photo.jpg", ETAG, POLICY)


def test_each_field_is_capped_on_its_own_first():
    """Just over one cap: only that field is cut, to exactly its cap, and the rest keeps everything."""
    decision = Decision(
        "ai_generated",
        "Signed.",
        digital_source_types=tuple(f"t{i}" for i in range(MAX_ITEMS["digital_source_types"] + 1)),
        generator="g" * (MAX_TEXT_CHARS + 1),
    )
    data = record(decision=decision).to_dict()
    assert data["truncated"] == ["digital_source_types", "generator"]
    assert data["generator"] == "g" * (MAX_TEXT_CHARS - 1) + "\u2026"
    assert data["digital_source_types"] == [f"t{i}" for i in range(MAX_ITEMS["digital_source_types"])]
    assert data["explanation"] == "Signed."


def test_values_at_the_caps_are_kept_whole():
    decision = Decision(
        "ai_generated",
        "Signed.",
        digital_source_types=tuple(f"t{i}" for i in range(MAX_ITEMS["digital_source_types"])),
        generator="g" * MAX_TEXT_CHARS,
    )
    data = record(decision=decision).to_dict()
    assert data["truncated"] == []
    assert len(data["generator"]) == MAX_TEXT_CHARS
    assert len(data["digital_source_types"]) == MAX_ITEMS["digital_source_types"]


def test_many_manifests_cap_the_signals():
    manifests: dict[str, dict[str, list[object]]] = {f"urn:uuid:{i}": {"assertions": []} for i in range(200)}
    store = parse_store({"active_manifest": "urn:uuid:0", "manifests": manifests, "validation_state": "Valid"})
    data = record(report=CredentialReport("valid", store=store)).to_dict()
    assert data["truncated"] == ["signals"]
    assert len(data["signals"]) == MAX_ITEMS["signals"]


def test_the_object_key_is_shrunk_last():
    """A record too large after the per-field caps shrinks the descriptive fields, not the object's identity."""
    key = "k/" * 512  # 1024 characters: the longest key S3 allows
    data = hostile_record(key=key, content_type="x" * 5000).to_dict()
    assert data["key"] == key
    assert "key" not in data["truncated"] and "content_type" in data["truncated"]
    assert len(encode_record(data)) <= MAX_RECORD_BYTES


def _text(rng: random.Random, longest: int) -> str:
    alphabet = ["a", "\u00e9", "\u2026", "\U0001f600", "\x00", '"', "\\", "\n", "/"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


@pytest.mark.parametrize("seed", range(40))
def test_any_input_gives_a_record_within_the_cap(seed):
    """Text JSON escapes to 6 or 12 bytes a character (control characters, astral code points), in every field."""
    rng = random.Random(seed)
    decision = Decision(
        "unknown",
        _text(rng, 20_000),
        digital_source_types=tuple(_text(rng, 3000) for _ in range(rng.randint(0, 300))),
        signer=_text(rng, 5000),
        generator=_text(rng, 5000),
        failures=tuple(_text(rng, 2000) for _ in range(rng.randint(0, 300))),
    )
    data = record(
        decision=decision,
        report=CredentialReport("unreadable", reason=_text(rng, 5000)),
        bucket=_text(rng, 2000),
        key=_text(rng, 5000),
        version_id=_text(rng, 2000),
        content_type=_text(rng, 5000),
        event_time=_text(rng, 2000),
        batch_id=_text(rng, 2000),
        source=_text(rng, 5000),
    ).to_dict()
    assert len(encode_record(data)) <= MAX_RECORD_BYTES
    assert json.loads(encode_record(data)) == data
    assert data["truncated"] == sorted(data["truncated"])
    assert all(len(v) <= MAX_TEXT_CHARS for v in data.values() if isinstance(v, str))


# --------------------------------------------------------------------------------------------------
# Metadata written back onto the object
# --------------------------------------------------------------------------------------------------


def test_metadata_for():
    assert metadata_for(record()) == {
        "aigc-label": "ai_generated",
        "aigc-provenance": "trusted",
        "aigc-policy": "2026.12-1",
        "aigc-checked": "2026-11-25T10:41:07+00:00",
        "aigc-locked": "false",
    }


@pytest.mark.parametrize(
    ("label", "source", "provenance", "locked"),
    [
        ("ai_generated", "c2pa", "trusted", True),
        ("ai_edited", "c2pa", "valid", True),
        ("ai_generated", "c2pa-generator", "trusted", True),
        ("ai_generated", "c2pa", "invalid", False),  # a broken signed AI claim labels AI but is appealable
        ("ai_generated", "iptc-xmp", "absent", False),
        ("ai_generated", "png-text", "absent", False),
        ("ai_edited", "fingerprint", "absent", False),
        ("ai_generated", "override", "trusted", False),
        ("captured", "c2pa", "trusted", False),
        ("no_ai_declared", None, "trusted", False),
        ("unknown", None, "absent", False),
    ],
)
def test_locked_is_ai_declared_by_valid_or_trusted_credentials(label, source, provenance, locked):
    decision = Decision(label, "x", label_source=source)
    built = record(decision=decision, report=CredentialReport(provenance, store=AI_STORE))
    assert built.locked is locked
    assert metadata_for(built)["aigc-locked"] == ("true" if locked else "false")
    assert "aigc-override" not in metadata_for(built)


def test_metadata_is_ascii_and_under_the_s3_limit_even_for_long_values():
    long = record(
        bucket="b" * 63,
        key="k/" * 500,
        etag="d41d8cd98f00b204e9800998ecf8427e-10000",
        policy_version="2026.12-1+" + "x" * 40,
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


def test_metadata_values_are_ascii_and_read_back_exactly():
    """A policy version with non-ASCII text, spaces and a percent sign is percent-encoded (UTF-8); unquote gives it
    back. Spaces are encoded too: HTTP may trim them at the ends of a header value."""
    version = " 2026.11-\u00e9t\u00e9 50% "
    labels = metadata_for(record(policy_version=version))
    assert labels["aigc-policy"] == "%202026.11-%C3%A9t%C3%A9%2050%25%20"
    assert unquote(labels["aigc-policy"]) == version
    assert all(v.isascii() and v.isprintable() and " " not in v for v in labels.values())
    assert metadata_value("ai_generated") == "ai_generated"
    assert metadata_value("2026-11-25T10:41:07+00:00") == "2026-11-25T10:41:07+00:00"


def test_labels_on_is_our_keys_only():
    assert labels_on({"owner": "alice", "aigc-label": "captured", "aigc-extra": "x"}) == {
        "aigc-label": "captured",
        "aigc-extra": "x",
    }


def _own_metadata(total: int) -> dict[str, str]:
    """User metadata of the object itself that, with our labels, comes to ``total`` bytes as S3's limit counts."""
    labels = user_metadata_bytes(metadata_for(record()))
    key = "x-amz-meta-note"
    return {"note": "n" * (total - labels - len(key))}


def test_metadata_up_to_the_s3_limit_is_written():
    existing = _own_metadata(USER_METADATA_LIMIT)
    merged = metadata_to_write(existing, metadata_for(record()), uri="s3://uploads/a.jpg")
    assert merged == {**existing, **metadata_for(record())}
    assert user_metadata_bytes(merged) == USER_METADATA_LIMIT


def test_metadata_above_the_s3_limit_is_refused_naming_the_object_and_the_fix():
    with pytest.raises(MetadataNotWritable) as caught:
        metadata_to_write(_own_metadata(USER_METADATA_LIMIT + 1), metadata_for(record()), uri="s3://uploads/a.jpg")
    message = str(caught.value)
    assert message.startswith("s3://uploads/a.jpg: its user metadata would be 2049 bytes with the aigc-* labels")
    assert "above S3's 2048-byte limit" in message
    assert "media-ingest replay --error MetadataNotWritable" in message


def test_metadata_counts_without_the_aigc_keys_it_replaces():
    """The uploader's own aigc-* keys are dropped, so they do not count against the limit."""
    existing = {**_own_metadata(USER_METADATA_LIMIT), "aigc-label": "x" * 3000}
    assert user_metadata_bytes(metadata_to_write(existing, metadata_for(record()), uri="s3://u/a")) == 2048


def test_non_ascii_user_metadata_is_refused():
    """S3 returns non-ASCII values RFC 2047-encoded; a store that returns them raw leaves nothing botocore sends."""
    with pytest.raises(MetadataNotWritable, match=r"s3://uploads/a.jpg: its user metadata x-amz-meta-owner = 'Ren"):
        metadata_to_write({"owner": "Ren\u00e9e"}, metadata_for(record()), uri="s3://uploads/a.jpg")
