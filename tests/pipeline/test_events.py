"""Upload notifications -> object references (pipeline.events), over payloads shaped like the real ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.errors import BadEvent
from pipeline.events import ParsedEvents, parse_notification
from pipeline.model import ObjectRef
from tests.support.event_samples import REF_FIELDS, Sample, as_expected, needs_events, payload_files, samples


def s3_record(
    key: str = "uploads/photo.jpg",
    *,
    event_name: str = "ObjectCreated:Put",
    bucket: str = "media-uploads",
    etag: str = "9b2cf535f27731c974343645a3985328",
    size: int = 6613,
    version_id: str | None = None,
    source: str = "aws:s3",
) -> dict[str, Any]:
    """One record as S3 (eventSource aws:s3) or MinIO (minio:s3, s3:-prefixed eventName) writes it."""
    obj: dict[str, Any] = {"key": key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": source,
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-25T10:41:06.512Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.15"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "aigc-labelling",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def sqs_body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def sns_envelope(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:media-uploads",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-11-25T10:41:06.600Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fi==",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=example",
        }
    )


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-11-25T10:30:00.000Z",
    "Bucket": "media-uploads",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def eventbridge(detail_type: str = "Object Created", *, key: str = "uploads/photo.jpg", **extra: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-25T10:41:06Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:s3:::media-uploads"],
        "detail": {
            "version": "0",
            "bucket": {"name": "media-uploads"},
            "object": {
                "key": key,
                "size": 6613,
                "etag": "9b2cf535f27731c974343645a3985328",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
            **extra,
        },
    }


PHOTO = ObjectRef(
    bucket="media-uploads",
    key="uploads/photo.jpg",
    version_id=None,
    etag="9b2cf535f27731c974343645a3985328",
    size=6613,
    event_name="ObjectCreated:Put",
    event_time="2026-11-25T10:41:06.512Z",
    sequencer="0055AED6DCD90281E5",
)


def test_s3_notification_as_sqs_body() -> None:
    assert parse_notification(sqs_body(s3_record())) == ParsedEvents(refs=(PHOTO,), skipped=())


@pytest.mark.parametrize("as_type", [str, bytes, json.loads], ids=["str", "bytes", "decoded"])
def test_body_may_be_text_bytes_or_already_decoded(as_type: Any) -> None:
    body = sqs_body(s3_record())
    parsed = parse_notification(body.encode() if as_type is bytes else as_type(body))
    assert parsed.refs == (PHOTO,)


def test_several_records_keep_their_order() -> None:
    body = sqs_body(s3_record("a.jpg"), s3_record("b.jpg"), s3_record("c.jpg"))
    assert [ref.key for ref in parse_notification(body).refs] == ["a.jpg", "b.jpg", "c.jpg"]


def test_sns_wrapped_s3_notification() -> None:
    parsed = parse_notification(sns_envelope(sqs_body(s3_record())))
    assert parsed == ParsedEvents(refs=(PHOTO,), skipped=())


def test_s3_test_event_is_skipped_with_reason() -> None:
    assert parse_notification(json.dumps(TEST_EVENT)) == ParsedEvents(
        refs=(), skipped=("s3:TestEvent for bucket 'media-uploads'",)
    )


def test_s3_test_event_inside_sns_is_skipped_too() -> None:
    parsed = parse_notification(sns_envelope(json.dumps(TEST_EVENT)))
    assert parsed == ParsedEvents(refs=(), skipped=("s3:TestEvent for bucket 'media-uploads'",))


def test_eventbridge_object_created() -> None:
    assert parse_notification(json.dumps(eventbridge())) == ParsedEvents(
        refs=(
            ObjectRef(
                bucket="media-uploads",
                key="uploads/photo.jpg",
                version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                etag="9b2cf535f27731c974343645a3985328",
                size=6613,
                event_name="ObjectCreated:PutObject",
                event_time="2026-11-25T10:41:06Z",
                sequencer="00617F08299329D189",
            ),
        ),
        skipped=(),
    )


def test_eventbridge_object_deleted_is_skipped_with_reason() -> None:
    parsed = parse_notification(json.dumps(eventbridge("Object Deleted", **{"deletion-type": "Permanently Deleted"})))
    assert parsed == ParsedEvents(refs=(), skipped=("Object Deleted for s3://media-uploads/uploads/photo.jpg",))


def test_minio_redis_access_format() -> None:
    record = s3_record("uploads%2Fphoto.jpg", event_name="s3:ObjectCreated:Put", source="minio:s3")
    body = json.dumps([{"Event": [record], "EventTime": "2026-11-25T10:41:06.512Z"}])
    parsed = parse_notification(body)
    assert parsed == ParsedEvents(refs=(PHOTO,), skipped=())


def test_minio_access_format_with_several_entries() -> None:
    body = json.dumps(
        [
            {"Event": [s3_record("a.jpg", event_name="s3:ObjectCreated:Put")], "EventTime": "2026-11-25T10:41:06Z"},
            {"Event": [s3_record("b.jpg", event_name="s3:ObjectRemoved:Delete")], "EventTime": "2026-11-25T10:41:07Z"},
        ]
    )
    parsed = parse_notification(body)
    assert [ref.key for ref in parsed.refs] == ["a.jpg"]
    assert parsed.skipped == ("s3:ObjectRemoved:Delete for s3://media-uploads/b.jpg",)


def test_minio_webhook_body() -> None:
    body = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": "media-uploads/uploads/photo.jpg",
        "Records": [s3_record("uploads%2Fphoto.jpg", event_name="s3:ObjectCreated:Put", source="minio:s3")],
    }
    assert parse_notification(body).refs == (PHOTO,)


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("a+b%2Fc.jpg", "a b/c.jpg"),
        ("red+flower.jpg", "red flower.jpg"),
        ("c%2B%2B.png", "c++.png"),
        ("photos/2026/%C3%A9t%C3%A9+%281%29.jpg", "photos/2026/été (1).jpg"),
        ("dt%3D2026-11-25/_SUCCESS", "dt=2026-11-25/_SUCCESS"),
    ],
)
def test_keys_are_url_decoded(encoded: str, key: str) -> None:
    (ref,) = parse_notification(sqs_body(s3_record(encoded))).refs
    assert ref.key == key


@pytest.mark.parametrize(
    "event_name",
    ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"],
)
def test_every_object_created_kind_names_work(event_name: str) -> None:
    (ref,) = parse_notification(sqs_body(s3_record(event_name=event_name))).refs
    assert ref.event_name == event_name


def test_minio_s3_prefix_is_dropped_from_event_name() -> None:
    (ref,) = parse_notification(sqs_body(s3_record(event_name="s3:ObjectCreated:Copy"))).refs
    assert ref.event_name == "ObjectCreated:Copy"


@pytest.mark.parametrize(
    "event_name",
    ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "ObjectRestore:Completed", "ObjectTagging:Put"],
)
def test_other_events_are_skipped_with_reason(event_name: str) -> None:
    parsed = parse_notification(sqs_body(s3_record("old+photo.jpg", event_name=event_name)))
    assert parsed == ParsedEvents(refs=(), skipped=(f"{event_name} for s3://media-uploads/old photo.jpg",))


def test_mixed_batch_keeps_work_and_reports_the_rest() -> None:
    body = sqs_body(s3_record("new.jpg"), s3_record("gone.jpg", event_name="ObjectRemoved:Delete"))
    parsed = parse_notification(body)
    assert [ref.key for ref in parsed.refs] == ["new.jpg"]
    assert parsed.skipped == ("ObjectRemoved:Delete for s3://media-uploads/gone.jpg",)


@pytest.mark.parametrize(
    ("etag", "expected"),
    [
        ('"9b2cf535f27731c974343645a3985328"', "9b2cf535f27731c974343645a3985328"),
        ("9b2cf535f27731c974343645a3985328", "9b2cf535f27731c974343645a3985328"),
        ('"d41d8cd98f00b204e9800998ecf8427e-3"', "d41d8cd98f00b204e9800998ecf8427e-3"),
        ("", None),
    ],
)
def test_etag_quotes_are_stripped(etag: str, expected: Any) -> None:
    (ref,) = parse_notification(sqs_body(s3_record(etag=etag))).refs
    assert ref.etag == expected


@pytest.mark.parametrize(
    ("version_id", "expected"),
    [
        ("null", None),
        ("", None),
        (None, None),
        ("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
    ],
)
def test_version_id_null_means_unversioned(version_id: Any, expected: Any) -> None:
    (ref,) = parse_notification(sqs_body(s3_record(version_id=version_id))).refs
    assert ref.version_id == expected


def test_size_that_is_not_a_number_becomes_none() -> None:
    record = s3_record()
    record["s3"]["object"]["size"] = "unknown"
    (ref,) = parse_notification(sqs_body(record)).refs
    assert ref.size is None


def test_ref_survives_a_task_message_round_trip() -> None:
    (ref,) = parse_notification(sqs_body(s3_record(version_id="v7"))).refs
    assert ObjectRef.from_message(json.loads(json.dumps(ref.to_message()))) == ref


def test_empty_records_list_names_no_work() -> None:
    assert parse_notification('{"Records": []}') == ParsedEvents()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "notification is not JSON"),
        ("{not json", "notification is not JSON"),
        (b"\xff\xfe", "notification is not UTF-8 text"),
        ("42", "notification is a JSON number, expected an object"),
        ('"Records"', "notification is a JSON string, expected an object"),
        ("null", "notification is a JSON null, expected an object"),
        ("{}", "not an S3/MinIO event notification"),
        ('{"Records": {"s3": {}}}', "not an S3/MinIO event notification"),
        ('{"source": "aws.s3", "detail-type": "Object Created"}', "not an S3/MinIO event notification"),
        ('{"Records": ["ObjectCreated:Put"]}', "event record is not an object"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "event record 'ObjectCreated:Put' has no s3 section"),
        ('{"Type": "Notification", "Message": "{oops"}', "SNS message is not JSON"),
        ("[[[[[]]]]]", "nests envelopes more than three deep"),
    ],
)
def test_malformed_notifications_raise_bad_event(body: Any, message: str) -> None:
    with pytest.raises(BadEvent, match=message):
        parse_notification(body)


@pytest.mark.parametrize("missing", ["bucket", "key"])
def test_record_without_bucket_or_key_is_bad(missing: str) -> None:
    record = s3_record()
    if missing == "bucket":
        del record["s3"]["bucket"]["name"]
    else:
        del record["s3"]["object"]["key"]
    with pytest.raises(BadEvent, match="lacks bucket name or object key"):
        parse_notification(sqs_body(record))


def test_eventbridge_without_key_is_bad() -> None:
    doc = eventbridge()
    del doc["detail"]["object"]["key"]
    with pytest.raises(BadEvent, match="EventBridge S3 event lacks bucket name or object key"):
        parse_notification(doc)


def test_bad_event_is_permanent() -> None:
    from pipeline.errors import PermanentError

    with pytest.raises(PermanentError):
        parse_notification("{}")


def test_parsing_does_not_modify_a_decoded_body() -> None:
    doc = json.loads(sqs_body(s3_record("a+b.jpg")))
    before = copy.deepcopy(doc)
    parse_notification(doc)
    assert doc == before


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r["s3"].update(bucket="media-uploads"),
        lambda r: r["s3"].update(object=["uploads/photo.jpg"]),
    ],
    ids=["bucket-is-a-string", "object-is-a-list"],
)
def test_record_sections_of_the_wrong_type_raise_bad_event(mangle: Callable[[dict[str, Any]], Any]) -> None:
    record = s3_record()
    mangle(record)
    with pytest.raises(BadEvent):
        parse_notification(sqs_body(record))


# --- Every parse error is a BadEvent with a reason (issue 9, item 4) -------------------------------------------------
#
# The intake records a BadEvent and goes on; any other exception would leave the message at the head of its Redis
# list (or in its SQS round) for good. So the parser is bounded before it parses, and each field the pipeline uses
# must have the type the stores write.


def _with(field: str, value_json: str, record: dict[str, Any] | None = None) -> str:
    """A one-record S3 notification whose ``s3.object`` (or top-level record) ``field`` is the raw JSON text."""
    record = record or s3_record()
    holder = record if field in ("eventName", "eventTime") else record["s3"]["object"]
    if field == "bucket.name":
        holder, field = record["s3"]["bucket"], "name"
    holder[field] = "@@VALUE@@"
    return sqs_body(record).replace('"@@VALUE@@"', value_json)


DEEP = 100_000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # nesting: json.loads would raise RecursionError (not a ValueError) at this depth
        ("[" * DEEP + "]" * DEEP, "notification nests more than 32 levels deep"),
        ('{"a":' * DEEP + "1" + "}" * DEEP, "notification nests more than 32 levels deep"),
        (_with("userMetadata", "[" * DEEP + "]" * DEEP), "notification nests more than 32 levels deep"),
        (sns_envelope("[" * 40 + "]" * 40), "SNS message nests more than 32 levels deep"),
        # numbers: int(inf) raised OverflowError
        (_with("size", "1e999"), "size inf is not a whole number of bytes"),
        (_with("size", "-1e999"), "size -inf is not a whole number of bytes"),
        (_with("size", "12.5"), "size 12.5 is not a whole number of bytes"),
        (_with("size", "-3"), "size -3 is negative"),
        (_with("size", "NaN"), "notification uses NaN, which is not JSON"),
        (_with("size", "Infinity"), "notification uses Infinity, which is not JSON"),
        (_with("size", "1" + "0" * 5000), "notification is not JSON: Exceeds the limit"),
        # size of the body
        ("x" * (1024 * 1024 + 1), "notification is 1048577 characters, more than the 1048576 bytes"),
        (b"x" * (1024 * 1024 + 1), "notification is 1048577 bytes, more than the 1048576 bytes"),
        ('"' + "é" * (600 * 1024) + '"', "notification is 1228802 bytes, more than the 1048576 bytes"),
        (sqs_body(s3_record()) + " " * (1024 * 1024), "more than the 1048576 bytes a notification may have"),
        # encodings
        (sqs_body(s3_record()).encode()[:-3] + b"\xff]}", "notification is not UTF-8 text (invalid start byte at"),
        ("\ufeff" + sqs_body(s3_record()), "notification is not JSON: Unexpected UTF-8 BOM"),
        (sqs_body(s3_record()) + "\ud800", "notification is not valid Unicode text (surrogates not allowed"),
        (_with("key", '"photo\\ud800.jpg"'), "object key is not valid Unicode"),
        (_with("key", '"photo%FF.jpg"'), "object key 'photo%FF.jpg' is not UTF-8 once URL-decoded"),
        (_with("bucket.name", '"b\\udfff"'), "bucket name is not valid Unicode"),
        # wrong types, where the old parser made a garbage reference with str()
        (_with("key", '{"a": 1}'), "object key is a JSON object, expected a string"),
        (_with("key", "42"), "object key is a JSON number, expected a string"),
        (_with("bucket.name", "7"), "bucket name is a JSON number, expected a string"),
        (_with("bucket.name", '["media"]'), "bucket name is a JSON array, expected a string"),
        (_with("eventName", '["ObjectCreated:Put"]'), "eventName is a JSON array, expected a string"),
        (_with("eTag", '{"md5": "x"}'), "eTag is a JSON object, expected a string"),
        (_with("versionId", "3"), "versionId is a JSON number, expected a string"),
        (_with("sequencer", "true"), "sequencer is a JSON boolean, expected a string"),
        (_with("eventTime", "1764067266"), "eventTime is a JSON number, expected a string"),
        (_with("size", "[6613]"), "size is a JSON array, expected a number"),
        (_with("size", "true"), "size is a JSON boolean, expected a number"),
        (_with("key", '""'), "lacks bucket name or object key"),
        (_with("key", json.dumps("k" * 1025)), "object key is 1025 bytes, more than S3's 1024"),
        (_with("bucket.name", json.dumps("b" * 256)), "bucket name is 256 characters, more than any bucket's 255"),
    ],
    ids=[
        "deep-array",
        "deep-object",
        "deep-metadata",
        "deep-sns-message",
        "size-1e999",
        "size-minus-1e999",
        "size-fraction",
        "size-negative",
        "nan",
        "infinity",
        "size-5000-digits",
        "huge-text",
        "huge-bytes",
        "huge-in-utf8",
        "padded-record",
        "bytes-not-utf8",
        "utf8-bom",
        "lone-surrogate-in-text",
        "escaped-surrogate-key",
        "key-not-utf8-decoded",
        "surrogate-bucket",
        "key-object",
        "key-number",
        "bucket-number",
        "bucket-array",
        "event-name-array",
        "etag-object",
        "version-number",
        "sequencer-boolean",
        "event-time-number",
        "size-array",
        "size-boolean",
        "key-empty",
        "key-too-long",
        "bucket-too-long",
    ],
)
def test_every_parse_error_is_a_bad_event_with_its_reason(body: Any, reason: str) -> None:
    with pytest.raises(BadEvent) as raised:
        parse_notification(body)
    assert reason in str(raised.value)


def test_eventbridge_fields_of_the_wrong_type_are_bad_events() -> None:
    cases: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
        (lambda d: d.update({"detail-type": 3}), "detail-type is a JSON number, expected a string"),
        (lambda d: d["detail"].update(reason=["PutObject"]), "reason is a JSON array, expected a string"),
        (lambda d: d["detail"]["object"].update(size=float("inf")), "size inf is not a whole number"),
        (lambda d: d["detail"]["object"].update({"version-id": 1}), "version-id is a JSON number"),
        (lambda d: d["detail"]["bucket"].update(name={"n": 1}), "bucket name is a JSON object"),
    ]
    for mangle, reason in cases:
        doc = eventbridge()
        mangle(doc)
        with pytest.raises(BadEvent, match=reason):
            parse_notification(doc)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    key = "[{" * 500 + ".jpg"
    (ref,) = parse_notification(sqs_body(s3_record(key.replace("[", "%5B").replace("{", "%7B")))).refs
    assert ref.key == key
    body = sqs_body(s3_record("a.jpg")).replace('"eventVersion"', '"note": "' + "[" * 200 + '\\" ]]", "eventVersion"')
    assert [r.key for r in parse_notification(body).refs] == ["a.jpg"]


def test_a_notification_nested_to_the_limit_still_parses() -> None:
    record = s3_record()
    record["s3"]["object"]["userMetadata"] = json.loads("[" * 26 + "]" * 26)  # 32 levels with the envelope
    assert parse_notification(sqs_body(record)).refs == (PHOTO,)


def test_a_body_of_exactly_the_size_limit_is_parsed() -> None:
    body = sqs_body(s3_record())
    body = body[:-1] + ', "pad": "' + "x" * (1024 * 1024 - len(body) - 11) + '"}'
    assert len(body.encode()) == 1024 * 1024
    assert parse_notification(body).refs == (PHOTO,)


def test_integral_sizes_of_other_shapes_are_accepted() -> None:
    for value, size in [("6613.0", 6613), ('"6613"', 6613), ("0", 0), ('"unknown"', None), ("null", None)]:
        (ref,) = parse_notification(_with("size", value)).refs
        assert ref.size == size, value


# Every leaf of real-shaped notifications replaced by every kind of hostile JSON value: the parser either returns or
# raises BadEvent, nothing else (a RecursionError, OverflowError, TypeError or UnicodeError would stall an intake).
HOSTILE = ["null", "true", "0", "-1", "1e999", "-1e999", "1.5", '""', '"null"', "[]", "{}", '[{"a": []}]',
           '"%FF%FE"', '"\\ud800"', json.dumps("k" * 2000), "[" * 40 + "]" * 40, "1" + "0" * 400]  # fmt: skip


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [path] + [p for k, v in doc.items() for p in _leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [path] + [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))]
    return [path]


def _replaced(doc: Any, path: tuple[Any, ...], value_json: str) -> str:
    doc = copy.deepcopy(doc)
    if not path:
        return value_json
    holder = doc
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = "@@VALUE@@"
    return json.dumps(doc).replace('"@@VALUE@@"', value_json)


@pytest.mark.parametrize(
    "doc",
    [
        json.loads(sqs_body(s3_record(version_id="v1"))),
        eventbridge(),
        TEST_EVENT,
        [{"Event": [s3_record(event_name="s3:ObjectCreated:Put", source="minio:s3")], "EventTime": "t"}],
        json.loads(sns_envelope(sqs_body(s3_record()))),
    ],
    ids=["s3", "eventbridge", "test-event", "minio-access", "sns"],
)
def test_no_hostile_value_anywhere_raises_anything_but_bad_event(doc: Any) -> None:
    outcomes = {"parsed": 0, "bad": 0}
    for path in _leaves(doc):
        for value in HOSTILE:
            try:
                parse_notification(_replaced(doc, path, value))
                outcomes["parsed"] += 1
            except BadEvent as exc:
                assert str(exc), (path, value)
                outcomes["bad"] += 1
    assert outcomes["parsed"] and outcomes["bad"]


# --- The bucket allow-list (MEDIA_INGEST_BUCKETS, issue 9, item 8) --------------------------------------------------


def test_bucket_allow_list() -> None:
    from pipeline.events import BucketAllowList

    anything = BucketAllowList.parse(None)
    assert anything.allows_any and anything.allows("whatever") and BucketAllowList.parse(" ") == anything
    listed = BucketAllowList.parse(" media-uploads, avatars ")
    assert listed.buckets == frozenset({"media-uploads", "avatars"})
    assert listed.allows("avatars") and not listed.allows("Avatars") and not listed.allows("backups")
    assert listed.refusal("backups") == (
        "bucket 'backups' is not in MEDIA_INGEST_BUCKETS (avatars, media-uploads): not read; add it there to label "
        "its objects"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a,,b", "an empty bucket name between commas"),
        ("a,", "an empty bucket name between commas"),
        ("my bucket", "'my bucket' is not a bucket name"),
        ("s3://media", "'s3://media' is not a bucket name"),
        ("b" * 256, "is not a bucket name"),
    ],
)
def test_a_malformed_allow_list_is_refused(value: str, reason: str) -> None:
    from pipeline.events import BucketAllowList

    with pytest.raises(ValueError, match=reason):
        BucketAllowList.parse(value)


# --- Real notifications written by others (../shared/events, with its expected.jsonl) -----------------------------


@needs_events
def test_every_payload_in_the_folder_has_an_expectation_and_every_expectation_a_payload() -> None:
    assert {sample.file for sample in samples()} == payload_files()
    assert len(samples()) == len(payload_files()), "one expectation per payload"


@needs_events
@pytest.mark.parametrize("sample", samples(), ids=lambda sample: sample.file.removesuffix(".json"))
def test_a_real_notification_parses_as_expected(sample: Sample) -> None:
    """What expected.jsonl says each body yields: its refs (bucket, key URL-decoded, size, ETag without quotes,
    version id, sequencer, event name), a skip with a reason (test events, deletions, lifecycle, restores), or a
    ``BadEvent`` (not an upload notification). A Lambda envelope is not a notification itself; its records' bodies,
    what SQS carried, are."""
    assert all(set(ref) == set(REF_FIELDS) for ref in sample.refs), "expected.jsonl names fields the test ignores"
    if sample.whole_is_error:
        with pytest.raises(BadEvent):
            parse_notification(sample.text())
    refs: list[ObjectRef] = []
    for body in sample.queued_bodies():
        try:
            parsed = parse_notification(body)
        except BadEvent:
            assert sample.error or sample.error_ok, f"rejected, but expected.jsonl says: {sample.note}"
            continue
        assert not sample.error, f"accepted, but expected.jsonl says: {sample.note}"
        assert bool(parsed.skipped) == sample.skipped, sample.note
        assert all(parsed.skipped), "a skip says why"
        refs += parsed.refs
    assert [as_expected(ref) for ref in refs] == list(sample.refs), sample.note
