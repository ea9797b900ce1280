"""The benchmark's py-spy breakdown sorts each sampled stack by its most specific frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile import categorise, classify

CELERY = ["Celery.worker_main (celery/app/base.py:643)", "trace_task (celery/app/trace.py:453)"]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        (
            [*CELERY, "write_metadata (pipeline/adapters/s3.py:150)", "_emit (botocore/hooks.py:205)"],
            "S3 CopyObject (boto3)",
        ),
        (
            [*CELERY, "fetch (pipeline/adapters/s3.py:120)", "read (urllib3/response.py:1)"],
            "S3 GET + spool to disk (boto3)",
        ),
        ([*CELERY, "info (structlog/_native.py:1)"], "logging"),
        (
            [*CELERY, "drain_events (kombu/transport/redis.py:1)", "execute_command (redis/client.py:1)"],
            "redis-py (broker traffic)",
        ),
        ([*CELERY, "on_message (celery/worker/consumer/consumer.py:1)"], "Celery + kombu (task loop, messages, acks)"),
        (
            [
                "_child_main (pipeline/adapters/credentials/isolated.py:1)",
                "read (pipeline/adapters/credentials/reader.py:1)",
            ],
            "C2PA read (reader child)",
        ),
        (["<module> (somewhere.py:1)"], "other (interpreter, imports, stdlib)"),
    ],
)
def test_a_stack_goes_to_its_most_specific_category(frames, expected):
    assert classify(frames) == expected


def test_shares_are_weighted_by_sample_counts(tmp_path: Path):
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(
        ";".join([*CELERY, "fetch (pipeline/adapters/s3.py:120)"])
        + " 3\n"
        + ";".join([*CELERY, "info (structlog/_native.py:1)"])
        + " 1\n"
        + "garbage line\n"
    )
    assert categorise(collapsed) == {"S3 GET + spool to disk (boto3)": 75.0, "logging": 25.0}
