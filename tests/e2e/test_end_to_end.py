"""The whole path on real parts: moto S3 -> SQS notifications -> `intake sqs` -> Redis broker -> Celery worker
process -> c2pa -> label stream + object metadata. And MinIO's Redis-list notifications through `intake redis`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.e2e import intake_echoes, read_records, wait_for, wire_notifications

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("skip_echoes", [True, False], ids=["echoes-dropped-at-intake", "echoes-checked-by-worker"])
def test_every_sample_is_labelled_once_through_the_sqs_event_path(
    s3, sqs, bucket, samples, settings, redis_client, broker, processes, skip_echoes
):
    queue_url = wire_notifications(s3, sqs, bucket)
    processes.settings = settings.with_overrides(intake_skip_echoes=skip_echoes, broker_url=broker)
    processes.worker()
    assert ("transport:   amqp://" in processes.logs()) == (broker is not None), "the worker is on the broker asked for"
    processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")
    s3.put_object(
        Bucket=bucket,
        Key="kept/existing-meta.jpg",
        Body=samples[0].data,
        ContentType="image/jpeg",
        CacheControl="max-age=60",
        Metadata={"uploader": "alice"},
    )
    for sample in samples:
        s3.put_object(Bucket=bucket, Key=f"in/{sample.name}", Body=sample.data, ContentType=sample.content_type)
    expected = {f"in/{s.name}": s for s in samples}

    def labelled() -> set[str]:
        return {r["key"] for r in read_records(redis_client, settings.label_stream)}

    wait_for(lambda: set(expected) | {"kept/existing-meta.jpg"} <= labelled(), what="all labels")

    # The write-backs fired ObjectCreated:Copy events; wait until the intake has dropped each as our own echo, or
    # (echo skipping off) passed it to the worker, which recognised it as already labelled. Either way the stream
    # must still hold exactly one record per object.
    def batch_keys() -> Any:
        return list(redis_client.scan_iter(match=f"{settings.key_prefix}:batch:*"))

    def already() -> Any:
        return sum(int(redis_client.hget(k, "already_labelled") or 0) for k in batch_keys())

    recognised = (lambda: intake_echoes(processes)) if skip_echoes else already
    wait_for(lambda: recognised() >= len(expected) + 1, what="write-back copy events to be recognised")
    if skip_echoes:
        assert already() == 0, "an echo reached a worker although the intake could recognise it"
    records = read_records(redis_client, settings.label_stream)
    assert sorted(r["key"] for r in records) == sorted([*expected, "kept/existing-meta.jpg"])
    for record in records:
        if record["key"] not in expected:
            continue
        sample = expected[record["key"]]
        assert (record["label"], record["provenance"]) == (sample.expect_label, sample.expect_provenance), record
        head = s3.head_object(Bucket=bucket, Key=record["key"])
        assert head["Metadata"]["aigc-label"] == sample.expect_label
        assert head["Metadata"]["aigc-provenance"] == sample.expect_provenance
        assert head["Metadata"]["aigc-policy"] == record["policy"]
        assert head["ContentType"] == sample.content_type
        assert record["batch_id"].startswith("sqs-")
        assert record["etag"] == head["ETag"].strip('"')
    kept = s3.head_object(Bucket=bucket, Key="kept/existing-meta.jpg")
    assert kept["Metadata"]["uploader"] == "alice"
    assert kept["Metadata"]["aigc-label"] == "ai_generated"
    assert kept["CacheControl"] == "max-age=60"


def test_duplicate_submissions_publish_one_record_and_a_deleted_object_is_a_recorded_skip(
    s3, bucket, samples, settings, redis_client, processes
):
    s3.put_object(Bucket=bucket, Key="dup.jpg", Body=samples[0].data, ContentType="image/jpeg")
    processes.worker()
    uris = [f"s3://{bucket}/dup.jpg"] * 3 + [f"s3://{bucket}/never-existed.jpg"]
    submit = processes.start("submit", *uris, "--batch", "b-dup", name="submit")
    assert submit.wait(60) == 0

    def counters() -> Any:
        return redis_client.hgetall(f"{settings.key_prefix}:batch:b-dup")

    wait_for(
        lambda: (
            sum(
                int(v)
                for k, v in counters().items()
                if k in (b"labelled", b"already_labelled", b"duplicate", b"skipped")
            )
            >= 4
        ),
        what="batch to finish",
    )
    records = read_records(redis_client, settings.label_stream)
    assert [r["key"] for r in records] == ["dup.jpg"]
    failures = [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]
    assert [(f["key"], f["disposition"], f["error_class"]) for f in failures] == [
        ("never-existed.jpg", "skipped", "ObjectNotFound")
    ]
    assert int(counters()[b"queued"]) == 4


def test_minio_redis_list_notifications_are_drained_without_loss(
    s3, bucket, samples, settings, redis_client, processes
):
    events_key = f"{settings.key_prefix}:minio-events"
    by_name = {s.name: s for s in samples}
    keys = ["a b/camera.jpg", "x/ai-edited.jpg"]
    for key in keys:
        data = by_name[key.rsplit("/", 1)[1]].data
        put = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")
        record = {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "eventName": "s3:ObjectCreated:Put",
            "eventTime": "2026-11-25T10:00:00.000Z",
            "s3": {
                "bucket": {"name": bucket},
                "object": {
                    "key": key.replace(" ", "+").replace("/", "%2F"),
                    "size": len(data),
                    "eTag": put["ETag"].strip('"'),
                    "sequencer": "1",
                },
            },
        }
        redis_client.rpush(events_key, json.dumps([{"Event": [record], "EventTime": record["eventTime"]}]))
    redis_client.rpush(events_key, "not json at all")
    # A previous bridge died holding an event in its processing list: the new one must put it back and handle it.
    redis_client.rpush(f"{events_key}:processing", redis_client.lpop(events_key))
    processes.worker()
    processes.start("intake", "redis", events_key, name="intake", ready="intake.started")
    wait_for(lambda: len(read_records(redis_client, settings.label_stream)) >= 2, what="labels")
    labels = {r["key"]: r["label"] for r in read_records(redis_client, settings.label_stream)}
    assert labels == {"a b/camera.jpg": "captured", "x/ai-edited.jpg": "ai_edited"}
    wait_for(
        lambda: redis_client.llen(events_key) == 0 and redis_client.llen(f"{events_key}:processing") == 0,
        what="lists to drain",
    )
    bad = [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]
    assert [(f["error_class"], f["key"]) for f in bad] == [("BadEvent", f"redis:{events_key}")]


def test_a_permanent_failure_is_recorded_then_replayed_by_the_operator(s3, samples, settings, redis_client, processes):
    bucket = f"{settings.key_prefix}-late"  # does not exist yet: NoSuchBucket is a permanent error
    processes.worker()
    assert processes.start("submit", f"s3://{bucket}/photo.jpg", "--batch", "b-late", name="submit").wait(60) == 0

    def failures() -> Any:
        return [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]

    wait_for(lambda: failures(), what="the failure to be recorded")
    [entry] = failures()
    assert (entry["key"], entry["batch_id"], entry["error_class"], entry["attempts"]) == (
        "photo.jpg",
        "b-late",
        "PermanentError",
        1,
    )
    assert "NoSuchBucket" in entry["message"]

    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=samples[0].data, ContentType="image/jpeg")
    dry = processes.start(
        "replay", "--batch", "b-late", "--reason", "bucket created late", "--dry-run", "--json", name="replay-dry"
    )
    assert dry.wait(60) == 0
    replay = processes.start(
        "replay", "--batch", "b-late", "--reason", "bucket created late", "--yes", "--json", name="replay"
    )
    assert replay.wait(60) == 0
    wait_for(lambda: read_records(redis_client, settings.label_stream), what="the replayed object's label")
    [record] = read_records(redis_client, settings.label_stream)
    assert (record["key"], record["label"]) == ("photo.jpg", "ai_generated")
    assert record["batch_id"].startswith("replay-")
    batch_key = f"{settings.key_prefix}:batch:{record['batch_id']}"
    # the task publishes, then clears the failure and counts the batch: wait for the last step, not the first
    wait_for(lambda: redis_client.hget(batch_key, "labelled"), what="the replay batch to count the object")
    assert failures() == []
    batch = redis_client.hgetall(batch_key)
    assert (batch[b"parents"], batch[b"reason"], batch[b"labelled"]) == (b"b-late", b"bucket created late", b"1")


def test_worker_serves_metrics_health_and_readiness(s3, bucket, samples, settings, redis_client, processes):
    import urllib.request

    from workers.embedded import free_port

    port = free_port()
    s3.put_object(Bucket=bucket, Key="m.jpg", Body=samples[0].data, ContentType="image/jpeg")
    processes.worker("--metrics-port", str(port))
    assert processes.start("submit", f"s3://{bucket}/m.jpg", f"s3://{bucket}/gone.jpg", name="submit").wait(60) == 0

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    expected = [
        'media_ingest_failures_total{disposition="skipped",error_class="ObjectNotFound"} 1.0',
        'media_ingest_objects_total{label="ai_generated",outcome="labelled",provenance="trusted"} 1.0',
    ]
    wait_for(lambda: all(line in get("/metrics")[1] for line in expected), what="metrics from the pool children")
    status, text = get("/metrics")
    assert status == 200
    assert 'media_ingest_stage_seconds_count{stage="read"} 1.0' in text
    assert "media_ingest_label_stream_length 1.0" in text
    assert get("/healthz") == (200, "ok\n")
    assert get("/readyz") == (200, "ready\n")


def test_two_workers_with_their_own_hosts_settings_share_one_batch(
    s3, bucket, samples, settings, redis_client, stack, processes, tmp_path, moto_endpoint
):
    """As two hosts would run them: own node names, spool directories, metrics ports and pools (beta: threads).

    S3 is 50 ms away (a delaying proxy), so neither worker can drain the batch alone before the other takes work."""
    from tests.support.faulty_s3 import faulty_s3
    from workers.embedded import free_port

    keys = [f"two/{i:03d}.jpg" for i in range(40)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=samples[0].data, ContentType="image/jpeg")
    for host in ("alpha", "beta"):
        (tmp_path / host).mkdir()
    proxy = stack.enter_context(faulty_s3(moto_endpoint, every=0, delay=0.05))
    processes.settings = settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{proxy['port']}")
    processes.worker(
        "--hostname",
        "alpha@%h",
        "--concurrency",
        "1",
        name="alpha",
        env={"MEDIA_INGEST_SPOOL_DIR": str(tmp_path / "alpha"), "MEDIA_INGEST_METRICS_PORT": str(free_port())},
    )
    processes.worker(
        "--hostname",
        "beta@%h",
        "--pool",
        "threads",
        name="beta",
        env={"MEDIA_INGEST_SPOOL_DIR": str(tmp_path / "beta"), "MEDIA_INGEST_METRICS_PORT": str(free_port())},
    )
    assert (
        processes.start("submit", *[f"s3://{bucket}/{k}" for k in keys], "--batch", "b-two", name="submit").wait(60)
        == 0
    )
    wait_for(
        lambda: int(redis_client.hget(f"{settings.key_prefix}:batch:b-two", "labelled") or 0) == len(keys),
        what="both workers to finish the batch",
    )
    assert sorted(r["key"] for r in read_records(redis_client, settings.label_stream)) == keys
    logs = {log.stem: log.read_text() for _, log in processes.procs}
    per_worker = {name: logs[name].count('"object.processed"') for name in ("alpha", "beta")}
    assert sum(per_worker.values()) == len(keys)
    assert all(count > 0 for count in per_worker.values()), per_worker


def test_generated_video_is_labelled_through_the_worker(s3, bucket, pki, settings, redis_client, processes):
    """MP4 (ISO BMFF) end to end: AI video, a camera video, and an AI video whose frames were changed after signing."""
    from testkit.media import make_mp4
    from testkit.signing import DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_MEDIA, sign

    def definition(source_type: str) -> dict:
        return {
            "claim_generator_info": [{"name": "Example Video Tool", "version": "1"}],
            "format": "video/mp4",
            "assertions": [
                {
                    "label": "c2pa.actions.v2",
                    "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type}]},
                }
            ],
        }

    ai = sign(pki, make_mp4(), "video/mp4", definition(TRAINED_ALGORITHMIC_MEDIA))
    camera = sign(pki, make_mp4(frames=12), "video/mp4", definition(DIGITAL_CAPTURE))
    mdat = ai.rindex(b"mdat") + 8
    tampered = ai[:mdat] + bytes([ai[mdat] ^ 0xFF]) + ai[mdat + 1 :]
    videos = {"ai.mp4": ai, "camera.mp4": camera, "tampered.mp4": tampered}
    for key, data in videos.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/octet-stream")  # type from bytes
    processes.worker()
    assert processes.start("submit", *[f"s3://{bucket}/{k}" for k in videos], name="submit").wait(60) == 0
    wait_for(lambda: len(read_records(redis_client, settings.label_stream)) == len(videos), what="video labels")
    got = {r["key"]: (r["label"], r["provenance"]) for r in read_records(redis_client, settings.label_stream)}
    assert got == {
        "ai.mp4": ("ai_generated", "trusted"),
        "camera.mp4": ("captured", "trusted"),
        "tampered.mp4": ("ai_generated", "invalid"),
    }


def test_small_objects_of_one_intake_round_share_a_task_and_each_ends_on_its_own(
    s3, sqs, bucket, samples, settings, redis_client, processes
):
    from tests.support.notifications import batch_counts, s3_record, send_notifications

    queue_url = sqs.create_queue(QueueName=f"{bucket}-grouped")["QueueUrl"]
    records = []
    for sample in samples[:3]:
        put = s3.put_object(Bucket=bucket, Key=f"g/{sample.name}", Body=sample.data, ContentType=sample.content_type)
        records.append(s3_record(bucket, f"g/{sample.name}", len(sample.data), put["ETag"].strip('"')))
    records.append(s3_record(bucket, "g/deleted-before-fetch.jpg", 1000, "0" * 32))
    records.append(records[0])  # a duplicate event in the same round
    send_notifications(sqs, queue_url, records)
    processes.worker()
    processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")
    ended = ("labelled", "already_labelled", "duplicate", "skipped")
    wait_for(lambda: sum(batch_counts(redis_client, settings.key_prefix).get(k, 0) for k in ended) >= 5, what="group")
    counts = batch_counts(redis_client, settings.key_prefix)
    assert (counts["queued"], counts["labelled"], counts["skipped"]) == (5, 3, 1)
    assert counts.get("already_labelled", 0) + counts.get("duplicate", 0) == 1
    got = read_records(redis_client, settings.label_stream)
    assert sorted(r["key"] for r in got) == sorted(f"g/{s.name}" for s in samples[:3])
    failures = [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]
    assert [(f["key"], f["disposition"]) for f in failures] == [("g/deleted-before-fetch.jpg", "skipped")]
    worker_log = next(path for _, path in processes.procs if path.name == "worker.log").read_text()
    assert "media_ingest.label_objects[" in worker_log and "media_ingest.label_object[" not in worker_log
    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    processed = [line for line in lines if line.get("event") == "object.processed"]
    assert {line["key"] for line in processed} == {f"g/{s.name}" for s in samples[:3]}
    assert all(line["batch_id"].startswith("sqs-") and line["task_id"] for line in processed)
