"""label_object against moto's S3 over HTTP: behaviour that depends on S3 itself, not on our fakes."""

from __future__ import annotations

import pytest

from pipeline.adapters.credentials.reader import C2paCredentialReader
from pipeline.adapters.memory import InMemoryLabelSink
from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
from pipeline.errors import MetadataNotWritable
from pipeline.model import ObjectRef
from pipeline.policy import load_policy
from pipeline.process import Services, is_own_echo, label_object
from pipeline.settings import DEFAULT_POLICY


@pytest.fixture
def services(moto_endpoint, trust):
    return Services(
        store=S3ObjectStore(make_s3_client(moto_endpoint)),
        reader=C2paCredentialReader(trust),
        sink=InMemoryLabelSink(),
        policy=load_policy(DEFAULT_POLICY),
        max_object_bytes=100 * 1024 * 1024,
    )


def upload_multipart(s3, bucket: str, key: str, data: bytes) -> str:
    part_size = 5 * 1024 * 1024
    padded = data + b"\0" * (part_size + 10 - len(data))  # two parts; JPEG readers ignore trailing bytes
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="image/jpeg")
    parts = []
    for number, start in enumerate(range(0, len(padded), part_size), start=1):
        part = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=padded[start : start + part_size],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return str(done["ETag"]).strip('"')


@pytest.mark.parametrize("versioned", [False, True])
def test_write_back_copy_event_of_a_multipart_upload_is_not_labelled_again(s3, bucket, samples, services, versioned):
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    etag = upload_multipart(s3, bucket, "big.jpg", samples[0].data)
    assert etag.endswith("-2")
    first = label_object(ObjectRef(bucket, "big.jpg", etag=etag), services)
    assert first.record is not None and (first.status, first.record.label) == ("labelled", "ai_generated")
    head = s3.head_object(Bucket=bucket, Key="big.jpg")
    # The ObjectCreated:Copy event our write-back fired names the object as it is now.
    copy_event = ObjectRef(bucket, "big.jpg", etag=head["ETag"].strip('"'), version_id=head.get("VersionId"))
    second = label_object(copy_event, services)
    assert second.status == "already_labelled"
    assert len(services.sink.records) == 1


def test_a_users_copy_to_another_key_gets_its_own_record(s3, bucket, samples, services):
    s3.put_object(Bucket=bucket, Key="orig.jpg", Body=samples[0].data)
    label_object(ObjectRef(bucket, "orig.jpg"), services)
    s3.copy_object(Bucket=bucket, Key="copy.jpg", CopySource={"Bucket": bucket, "Key": "orig.jpg"})
    outcome = label_object(ObjectRef(bucket, "copy.jpg"), services)
    assert outcome.status == "labelled"
    assert [r["key"] for r in services.sink.records] == ["orig.jpg", "copy.jpg"]


FORGED = {"aigc-label": "captured", "aigc-provenance": "trusted", "aigc-policy": "2026.12-1", "aigc-checked": "x"}


def copy_onto_itself(s3, bucket: str, key: str, metadata: dict[str, str]) -> ObjectRef:
    """What the uploader of issue 9 did: a server-side copy onto itself with MetadataDirective=REPLACE. Returns the
    ObjectCreated:Copy event S3 sends for it."""
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata=metadata,
        ContentType="image/jpeg",
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    return ObjectRef(bucket, key, head.get("VersionId"), head["ETag"].strip('"'), event_name="ObjectCreated:Copy")


@pytest.mark.parametrize("multipart", [False, True], ids=["single-part", "multipart"])
def test_a_forged_copy_onto_itself_keeps_the_etag_and_is_repaired_once(s3, bucket, samples, services, multipart):
    data = samples[0].data
    if multipart:
        etag = upload_multipart(s3, bucket, "ai.jpg", data)
    else:
        etag = str(s3.put_object(Bucket=bucket, Key="ai.jpg", Body=data, Metadata={"owner": "alice"})["ETag"])
    first = label_object(ObjectRef(bucket, "ai.jpg", etag=etag.strip('"')), services)
    assert first.record is not None and (first.status, first.record.label) == ("labelled", "ai_generated")
    ours = s3.head_object(Bucket=bucket, Key="ai.jpg")
    ours_event = ObjectRef(bucket, "ai.jpg", etag=ours["ETag"].strip('"'), event_name="ObjectCreated:Copy")
    assert is_own_echo(ours_event, services.sink, services.store, services.policy.version)

    forged_event = copy_onto_itself(s3, bucket, "ai.jpg", {"owner": "mallory", **FORGED})

    assert forged_event.etag == ours_event.etag  # S3 keeps the ETag: the identity is the one already published
    assert not is_own_echo(forged_event, services.sink, services.store, services.policy.version)
    repaired = label_object(forged_event, services)
    assert (repaired.status, repaired.metadata_written) == ("duplicate", True)
    after = s3.head_object(Bucket=bucket, Key="ai.jpg")
    assert after["Metadata"] == {"owner": "mallory", **{k: v for k, v in ours["Metadata"].items() if k != "owner"}}
    assert after["Metadata"]["aigc-label"] == "ai_generated"
    assert len(services.sink.records) == 1
    assert is_own_echo(forged_event, services.sink, services.store, services.policy.version)


def test_user_metadata_s3_would_refuse_fails_before_publishing(s3, bucket, samples, services):
    """moto does not enforce S3's 2 KB; AWS would refuse the copy (MetadataTooLarge) after the record was out."""
    s3.put_object(Bucket=bucket, Key="meta.jpg", Body=samples[0].data, Metadata={"notes": "n" * 1950})
    with pytest.raises(MetadataNotWritable, match=f"^s3://{bucket}/meta.jpg: its user metadata would be"):
        label_object(ObjectRef(bucket, "meta.jpg"), services)
    assert services.sink.records == []
    assert "aigc-label" not in s3.head_object(Bucket=bucket, Key="meta.jpg")["Metadata"]
