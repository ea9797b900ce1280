"""What the manifests' terminationGracePeriodSeconds relies on, with the real processes the containers run: on
SIGTERM (what Kubernetes sends PID 1), a worker finishes the task it is running (Celery's warm shutdown) and exits
0, and an intake finishes its receive and exits 0, each well within its pod's grace period."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from tests.deploy.support import build, one

pytestmark = pytest.mark.e2e


def grace(component: str) -> int:
    deployment = one(build("minio-redis"), "Deployment", f"media-ingest-{component}")
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def records(client, stream):
    return [json.loads(f[b"record"]) for _, f in client.xrange(stream)]


def test_a_worker_stopped_mid_task_finishes_it_then_exits(
    s3, bucket, samples, settings, redis_client, processes, moto_endpoint
):
    from tests.support.faulty_s3 import faulty_s3
    from workers.api import submit

    sample = samples[0]
    keys = ["slow/1", "slow/2", "slow/3"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=sample.data, ContentType=sample.content_type)
    port = free_port()
    # S3 1.5 s away: the task's GET and CopyObject take at least 3 s, so the SIGTERM lands while it runs.
    with faulty_s3(moto_endpoint, every=0, delay=1.5) as proxy:
        processes.settings = settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{proxy['port']}")
        worker = processes.start(
            "worker",
            "--concurrency",
            "1",
            name="worker",
            ready="ready.",
            env={"MEDIA_INGEST_METRICS_PORT": str(port)},
        )
        deadline = time.monotonic() + 30
        while True:  # the readiness probe's path, on the worker itself
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, processes.logs()
                time.sleep(0.2)
        # One pool process: the first task runs, the second is reserved (prefetch 1), the third waits in the queue.
        submit([f"s3://{bucket}/{key}" for key in keys], "b-warm", settings=processes.settings)
        deadline = time.monotonic() + 30
        while proxy["requests"] == 0:  # the task has started: it is talking to S3
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.05)
        assert records(redis_client, settings.label_stream) == []
        stopped = time.monotonic()
        worker.terminate()  # SIGTERM to the main process only, as the kubelet sends it to PID 1
        code = worker.wait(grace("worker"))
        took = time.monotonic() - stopped
    log = processes.logs(tail=None)
    assert code == 0, log
    got = records(redis_client, settings.label_stream)
    assert [r["key"] for r in got] == ["slow/1"], log  # finished, not cancelled
    # The running task was acknowledged; the reserved one went back to the queue beside the one never taken.
    assert redis_client.llen(settings.queue) == 2, log
    print(f"warm shutdown took {took:.1f}s of the pod's {grace('worker')}s grace")


def test_an_intake_stops_within_its_grace_period(settings, key_prefix, processes, redis_client):
    intake = processes.start("intake", "redis", f"{key_prefix}:events", name="intake", ready="intake.started")
    time.sleep(1)  # into its first receive: BLMOVE waits MEDIA_INGEST_SQS_WAIT_SECONDS (20 s) for an event
    stopped = time.monotonic()
    intake.terminate()
    code = intake.wait(grace("intake"))
    took = time.monotonic() - stopped
    assert code == 0, processes.logs()
    assert "intake.stopped" in processes.logs()
    assert took <= settings.sqs_wait_seconds + 5, took
    print(f"intake stopped in {took:.1f}s of the pod's {grace('intake')}s grace")
