"""The Celery configuration each broker gets (workers/app.py)."""

from __future__ import annotations

from pipeline.settings import Settings
from workers.app import AMQP_DELIVERY_LIMIT, celery_config


def test_a_redis_broker_keeps_the_visibility_lease_and_bounded_sockets():
    config = celery_config(Settings(visibility_timeout=20))
    assert config["broker_url"] == "redis://localhost:6379/0"
    options = config["broker_transport_options"]
    assert (options["visibility_timeout"], options["socket_timeout"], options["retry_on_timeout"]) == (20, 10.0, False)
    assert "task_queues" not in config


def test_rabbitmq_gets_a_durable_quorum_queue_with_a_delivery_limit_and_publisher_confirms():
    config = celery_config(Settings(broker_url="amqp://guest:guest@mq:5672/media", queue="labels"))
    assert config["broker_url"] == "amqp://guest:guest@mq:5672/media"
    (queue,) = config["task_queues"]
    assert (queue.name, queue.routing_key, queue.durable, queue.exchange.name) == ("labels", "labels", True, "labels")
    assert queue.queue_arguments == {"x-queue-type": "quorum", "x-delivery-limit": AMQP_DELIVERY_LIMIT}
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert (config["task_acks_late"], config["task_reject_on_worker_lost"]) == (True, True)
    assert config["worker_detect_quorum_queues"] is True
