"""The composition root builds the remote-manifest fetch from the policy file and the settings."""

from __future__ import annotations

import redis

from pipeline.adapters.redis_store.manifests import CachedManifestFetcher
from pipeline.adapters.remote_manifest import HttpManifestFetcher
from pipeline.remote_manifests import Origin
from pipeline.settings import load_settings
from workers.composition import fetch_policy, manifest_fetcher


def test_the_allow_list_is_the_policy_files_plus_the_setting() -> None:
    settings = load_settings(
        {
            "MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": "http://127.0.0.1:8080, https://cai-manifests.adobe.com",
            "MEDIA_INGEST_REMOTE_MANIFEST_MAX_BYTES": "1024",
            "MEDIA_INGEST_REMOTE_MANIFEST_READ_TIMEOUT": "3",
        },
        check_trust=False,
    )
    policy = fetch_policy(settings)
    assert policy.allowed == (Origin("https", "cai-manifests.adobe.com", 443), Origin("http", "127.0.0.1", 8080))
    assert (policy.enabled, policy.max_bytes, policy.read_timeout) == (True, 1024, 3)


def test_off_builds_no_fetcher_and_a_client_builds_the_cache() -> None:
    assert manifest_fetcher(load_settings({"MEDIA_INGEST_REMOTE_MANIFESTS": "off"})) is None
    settings = load_settings({})
    assert isinstance(manifest_fetcher(settings), HttpManifestFetcher)
    client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # never contacted while building
    assert isinstance(manifest_fetcher(settings, client), CachedManifestFetcher)
