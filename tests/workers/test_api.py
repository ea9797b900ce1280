"""workers/api.py, in this process: ``submit`` puts one task per object on the settings' broker queue under one
batch, and counts it there, as ``media-ingest submit`` does."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from pipeline.adapters.redis_store import RedisBatchCounters
from pipeline.model import ObjectRef
from pipeline.settings import Settings
from workers.api import submit


def tasks_on(redis_client: Any, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """The tasks waiting on the broker queue, oldest first: (task name, keyword arguments). kombu's Redis transport
    keeps the queue as a list of JSON envelopes whose body is base64 JSON ``[args, kwargs, embed]``."""
    messages = [json.loads(raw) for raw in reversed(redis_client.lrange(queue, 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1]) for m in messages]


def test_submit_enqueues_each_object_under_one_counted_batch(settings: Settings, redis_client: Any) -> None:
    batch = submit(["s3://uploads/u/42/photo.jpg", ObjectRef("uploads", "a b.png", etag="e1")], settings=settings)
    assert re.fullmatch(r"submit-\d{8}T\d{6}-[0-9a-f]{6}", batch)
    assert tasks_on(redis_client, settings.queue) == [
        ("media_ingest.label_object", {"ref": {"bucket": "uploads", "key": "u/42/photo.jpg"}, "batch_id": batch}),
        (
            "media_ingest.label_object",
            {"ref": {"bucket": "uploads", "key": "a b.png", "etag": "e1"}, "batch_id": batch},
        ),
    ]
    counters = RedisBatchCounters(redis_client, prefix=settings.key_prefix).get(batch)
    assert (counters["kind"], counters["queued"]) == ("submit", "2")


def test_submit_keeps_the_batch_id_it_is_given(settings: Settings, redis_client: Any) -> None:
    assert submit(["s3://uploads/x.jpg"], "upload-session-42", settings=settings) == "upload-session-42"
    [(_, kwargs)] = tasks_on(redis_client, settings.queue)
    assert kwargs["batch_id"] == "upload-session-42"


@pytest.mark.parametrize("uri", ["uploads/x.jpg", "s3://uploads", "s3://uploads/prefix/", "s3:///x.jpg"])
def test_a_uri_that_names_no_object_is_refused_before_anything_is_enqueued(
    settings: Settings, redis_client: Any, uri: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{uri!r} is not s3://bucket/key")):
        submit(["s3://uploads/fine.jpg", uri], "b-refused", settings=settings)
    assert redis_client.llen(settings.queue) == 0
    assert RedisBatchCounters(redis_client, prefix=settings.key_prefix).get("b-refused") == {}


def test_without_settings_submit_reads_the_environment(
    settings: Settings, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform backend calls ``submit(uris)`` with ``MEDIA_INGEST_*`` in its environment, like any process."""
    for name, value in settings.to_environ().items():
        monkeypatch.setenv(name, value)
    batch = submit(["s3://uploads/env.jpg"])
    assert tasks_on(redis_client, settings.queue) == [
        ("media_ingest.label_object", {"ref": {"bucket": "uploads", "key": "env.jpg"}, "batch_id": batch})
    ]
