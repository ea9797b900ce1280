"""A real worker labels an upload whose manifest store is remote: fetched from a loopback HTTP server through the
Redis cache, retried with backoff while the server answers 503, fetched once for many uploads."""

from __future__ import annotations

import json
import time

from testkit.media import make_jpeg
from testkit.signing import TRAINED_ALGORITHMIC_MEDIA, created, definition, sign_remote
from tests.support.manifest_server import manifest_server
from tests.support.notifications import batch_counts, put_in_front_of_workers


def test_a_worker_fetches_a_remote_manifest_retrying_a_5xx_and_fetching_it_once(
    s3, sqs, bucket, pki, settings, redis_client, processes
):
    manifest = definition("Example Generator", "remote.jpg", [created(TRAINED_ALGORITHMIC_MEDIA)])
    with manifest_server() as server:
        url = server.url("/m/ai")
        asset, server.manifests["ai"] = sign_remote(pki, make_jpeg(seed=5), "image/jpeg", manifest, url)
        server.outage["ai"] = 2  # the first two fetches answer 503: the task retries, as for an S3 fault
        keys = [f"remote/{i}.jpg" for i in range(3)]
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=asset, ContentType="image/jpeg")
        processes.settings = settings.with_overrides(remote_manifest_hosts=server.origin)
        processes.worker("--concurrency", "1")  # one process: no two fetches can race past the cache
        put_in_front_of_workers("submit", processes, s3, sqs, bucket, keys, "b-remote")
        deadline = time.monotonic() + 120
        while batch_counts(redis_client, settings.key_prefix).get("labelled", 0) < len(keys):
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.2)
        requests = list(server.requests)
    assert requests == ["/m/ai"] * 3  # two 503s, then one fetch that the cache serves to the other uploads
    got = [json.loads(fields[b"record"]) for _, fields in redis_client.xrange(settings.label_stream)]
    assert sorted(r["key"] for r in got) == keys
    for record in got:
        assert (record["label"], record["provenance"], record["manifest_url"]) == ("ai_generated", "trusted", url)
    assert redis_client.hlen(f"{settings.key_prefix}:failures") == 0
    worker_log = next(log for _, log in processes.procs if log.name == "worker.log").read_text()
    assert "HTTP 503" in worker_log
