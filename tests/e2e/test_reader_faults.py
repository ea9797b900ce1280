"""Faults of the reader on real worker processes: a fault of ours is retried or recorded, never published as a label."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.spool import SPOOL_PREFIX, SPOOL_SUFFIX
from tests.support.e2e import read_records, wait_for

pytestmark = pytest.mark.e2e


def test_a_reader_that_cannot_start_publishes_nothing_and_the_object_is_replayed_once_fixed(
    s3: Any, bucket: str, samples: list[Any], settings: Any, redis_client: Any, processes: Any, tmp_path: Path
) -> None:
    """The finding: a truncated trust bundle made every reader child exit at start, and valid camera photos were
    published as unknown/unreadable for good. Now the object is retried, then recorded as a failure, and a replay
    after the trust files are repaired labels it."""
    anchors = tmp_path / "anchors.pem"
    good = settings.trust_anchors.read_bytes()
    anchors.write_bytes(good)
    camera = next(s for s in samples if s.name == "camera.jpg")
    s3.put_object(Bucket=bucket, Key="camera.jpg", Body=camera.data, ContentType="image/jpeg")
    processes.settings = settings.with_overrides(trust_anchors=anchors, task_max_retries=2)
    processes.worker()  # the start-up check passed on the good file; the reader children start with the first task
    anchors.write_bytes(good[: len(good) // 2])  # then a broken refresh cuts it in half

    submit = processes.start(
        "submit",
        f"s3://{bucket}/camera.jpg",
        "--batch",
        "b-trust",
        name="submit",
        env={"MEDIA_INGEST_TRUST_ANCHORS": str(settings.trust_anchors)},  # its own start-up check would refuse
    )
    assert submit.wait(60) == 0

    def failures() -> Any:
        return [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]

    wait_for(lambda: failures(), timeout=90, what="the failure to be recorded")
    [entry] = failures()
    assert (entry["key"], entry["error_class"], entry["attempts"]) == ("camera.jpg", "ReaderUnavailable", 3)
    assert "cannot start" in entry["message"]
    assert read_records(redis_client, settings.label_stream) == []
    assert "aigc-label" not in s3.head_object(Bucket=bucket, Key="camera.jpg")["Metadata"]

    anchors.write_bytes(good)
    replay = processes.start("replay", "--batch", "b-trust", "--reason", "trust fixed", "--yes", name="replay")
    assert replay.wait(60) == 0
    wait_for(lambda: read_records(redis_client, settings.label_stream), what="the replayed object's label")
    [record] = read_records(redis_client, settings.label_stream)
    assert (record["key"], record["label"], record["provenance"]) == ("camera.jpg", "captured", "trusted")


def test_a_worker_sweeps_spool_files_that_killed_processes_left_behind(
    s3: Any, bucket: str, samples: list[Any], settings: Any, redis_client: Any, processes: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    stale = spool / f"{SPOOL_PREFIX}killed{SPOOL_SUFFIX}"
    fresh = spool / f"{SPOOL_PREFIX}in-use{SPOOL_SUFFIX}"
    other = spool / "someone-elses.obj"
    for path in (stale, fresh, other):
        path.write_bytes(b"x" * 1000)
    long_ago = time.time() - settings.task_time_limit - 120
    os.utime(stale, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    processes.settings = settings.with_overrides(spool_dir=spool)
    processes.worker()
    wait_for(lambda: not stale.exists(), what="the stale spool file to be swept")
    assert fresh.exists() and other.exists()
