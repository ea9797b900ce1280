"""The composition root builds the remote-manifest fetch from the policy file and the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from pipeline.adapters.redis_store.manifests import CachedManifestFetcher
from pipeline.adapters.remote_manifest import HttpManifestFetcher
from pipeline.policy import Policy, load_policy
from pipeline.remote_manifests import Origin
from pipeline.settings import load_settings
from workers.composition import fetch_policy, manifest_fetcher, worker_runtime


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
    assert (policy.max_bytes, policy.read_timeout) == (1024, 3)


def test_off_builds_no_fetcher_and_a_client_builds_the_cache() -> None:
    assert manifest_fetcher(load_settings({"MEDIA_INGEST_REMOTE_MANIFESTS": "off"})) is None
    settings = load_settings({})
    assert isinstance(manifest_fetcher(settings), HttpManifestFetcher)
    client = redis.Redis.from_url("redis://127.0.0.1:1/0")  # never contacted while building
    assert isinstance(manifest_fetcher(settings, client), CachedManifestFetcher)


def test_a_worker_runtime_loads_the_policy_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels and the manifest allow-list come from one load of the policy file."""
    from workers import composition

    loads: list[Path] = []

    def counting(path: Path) -> Policy:
        loads.append(path)
        return load_policy(path)

    monkeypatch.setattr(composition, "load_policy", counting)
    settings = load_settings({"MEDIA_INGEST_REDIS_URL": "redis://127.0.0.1:1/0"}, check_trust=False)
    runtime = composition.worker_runtime(settings)  # builds clients; contacts nothing
    try:
        assert loads == [settings.policy_file]
        assert runtime.services.policy.remote_manifest_hosts == load_policy(settings.policy_file).remote_manifest_hosts
    finally:
        runtime.services.reader.close()  # type: ignore[attr-defined]


def test_off_is_decided_in_one_place_and_the_reader_fetches_nothing() -> None:
    """``REMOTE_MANIFESTS=off``: the worker's reader has no fetcher (FetchPolicy has no switch of its own)."""
    import dataclasses

    from pipeline.remote_manifests import FetchPolicy

    assert "enabled" not in {f.name for f in dataclasses.fields(FetchPolicy)}
    settings = load_settings(
        {"MEDIA_INGEST_REMOTE_MANIFESTS": "off", "MEDIA_INGEST_REDIS_URL": "redis://127.0.0.1:1/0"}, check_trust=False
    )
    runtime = worker_runtime(settings)
    try:
        assert runtime.services.reader._manifests is None  # type: ignore[attr-defined]
    finally:
        runtime.services.reader.close()  # type: ignore[attr-defined]
