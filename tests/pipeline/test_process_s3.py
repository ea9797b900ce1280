"""label_object against moto's S3 over HTTP: behaviour that depends on S3 itself, not on our fakes."""

from __future__ import annotations

import pytest

from pipeline.credentials.reader import C2paCredentialReader
from pipeline.memory import InMemoryLabelSink
from pipeline.model import ObjectRef
from pipeline.policy import load_policy
from pipeline.process import Services, label_object
from pipeline.settings import DEFAULT_POLICY
from pipeline.storage.s3 import S3ObjectStore, make_s3_client


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
    assert (first.status, first.record.label) == ("labelled", "ai_generated")
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
