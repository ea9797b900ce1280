"""The naive alternative: one process, one object at a time, plain boto3 + redis + c2pa, no pipeline code.

GET -> temporary file -> ``c2pa.Reader`` -> CopyObject writing the label back as metadata -> XADD a record. No
queue, no child process, no exactly-once guard, no policy beyond a string search, no retries: the least work that
still does the job's I/O, to show what the pipeline's machinery costs and what its parallelism buys.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import boto3

from bench import cluster
from bench.cluster import Servers
from bench.media import SIZE_CLASSES, Planned
from workers.embedded import MOTO_CREDENTIALS

STREAM = "bench:naive"
BUCKET = "bench-naive"
"""A bucket without notifications: the naive loop's uploads and copies must not reach the pipeline's queue."""


def naive_label(doc: str) -> str:
    """Good enough for a baseline: the source type named anywhere in the manifest store."""
    if "trainedAlgorithmicMedia" in doc:
        return "ai_generated"
    if "digitalCapture" in doc:
        return "captured"
    return "no_ai_declared"


def label_one(s3: Any, redis: Any, context: Any, bucket: str, key: str) -> None:
    import c2pa

    response = s3.get_object(Bucket=bucket, Key=key)
    with tempfile.NamedTemporaryFile(prefix="bench-naive-") as spool:
        for chunk in response["Body"].iter_chunks(1024 * 1024):
            spool.write(chunk)
        spool.flush()
        spool.seek(0)
        try:
            with c2pa.Reader(None, spool, None, context) as reader:
                doc = reader.json()
                provenance, label = str(reader.get_validation_state()).lower(), naive_label(doc)
        except c2pa.C2paError.ManifestNotFound:
            provenance, label = "absent", "unknown"
        except c2pa.C2paError:
            provenance, label = "unreadable", "unknown"
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        CopySourceIfMatch=response["ETag"],
        MetadataDirective="REPLACE",
        Metadata={"aigc-label": label, "aigc-provenance": provenance},
        ContentType=response.get("ContentType", "binary/octet-stream"),
    )
    record = {"bucket": bucket, "key": key, "etag": response["ETag"].strip('"'), "label": label}
    redis.xadd(STREAM, {"record": json.dumps(record)})


def run_upload_only(srv: Servers, plan: Sequence[Planned], *, threads: int) -> dict[str, Any]:
    """Upload ``plan`` to the naive bucket as the pipeline's burst does, minus the notifications.

    This is the upload share of the pipeline's "first upload to last record" throughput, and what moto spends on
    PUTs alone; the naive loop then labels these objects.
    """
    from bench.phases import upload_burst

    srv.s3.create_bucket(Bucket=BUCKET)
    before = cluster.cpu_sample(srv, None)
    uploads = upload_burst(srv.s3, plan, threads=threads, bucket=BUCKET)
    cpu = cluster.cpu_sample(srv, None).minus(before)
    seconds = max(u.done for u in uploads.values()) - min(u.started for u in uploads.values())
    return {
        "what": f"PUT the same objects with {threads} threads into a bucket without notifications",
        "objects": len(plan),
        "seconds": round(seconds, 3),
        "objects_per_s": round(len(plan) / seconds, 2),
        "mb_per_s": round(sum(p.media.size for p in plan) / 1e6 / seconds, 2),
        "all_cpu_ms_per_object": round(cpu["parties_total"] * 1000 / len(plan), 2),
        "cpu_s": cpu,
    }


def run_naive(srv: Servers, plan: Sequence[Planned], c2pa_settings: dict[str, Any]) -> dict[str, Any]:
    """Label every object of ``plan`` (already in the naive bucket) sequentially; wall and CPU per size class."""
    import c2pa
    import redis

    session = boto3.session.Session(
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=MOTO_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    s3 = session.client("s3", endpoint_url=srv.settings.s3_endpoint_url)
    client = redis.Redis.from_url(srv.settings.redis_url)
    context = c2pa.Context.from_dict(c2pa_settings)
    label_one(s3, client, context, BUCKET, plan[0].key)  # connections and lazy imports, not measured
    costs: list[tuple[Planned, float, float]] = []
    before = cluster.cpu_sample(srv, None)
    for item in plan:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        label_one(s3, client, context, BUCKET, item.key)
        costs.append((item, time.perf_counter() - wall0, time.process_time() - cpu0))
    shared = cluster.cpu_sample(srv, None).minus(before)
    groups = {"overall": costs} | {
        c: [x for x in costs if x[0].media.size_class == c]
        for c in SIZE_CLASSES
        if any(x[0].media.size_class == c for x in costs)
    }
    return {
        "what": "one process: GET -> temp file -> c2pa.Reader -> CopyObject metadata -> XADD, sequential",
        **{name: _summary(rows) for name, rows in groups.items()},
        "all_cpu_ms_per_object": round(shared["parties_total"] * 1000 / len(plan), 2),
        "cpu_s": shared,
    }


def _summary(rows: Sequence[tuple[Planned, float, float]]) -> dict[str, float]:
    wall = sum(r[1] for r in rows)
    cpu = sum(r[2] for r in rows)
    size = sum(r[0].media.size for r in rows)
    return {
        "objects": len(rows),
        "seconds": round(wall, 3),
        "objects_per_s": round(len(rows) / wall, 2),
        "mb_per_s": round(size / 1e6 / wall, 2),
        "cpu_ms_per_object": round(cpu * 1000 / len(rows), 2),
    }
