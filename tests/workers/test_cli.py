"""`media-ingest` as a user runs it: a separate process, its stdout and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CORPUS


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def sample_dir(samples, tmp_path_factory):
    directory = tmp_path_factory.mktemp("samples")
    for sample in samples:
        (directory / sample.name).write_bytes(sample.data)
    (directory / "random.jpg").write_bytes(os.urandom(4096))
    return directory


def trust_env(trust) -> dict[str, str]:
    return {
        "MEDIA_INGEST_TRUST_ANCHORS": str(trust.anchors),
        "MEDIA_INGEST_TRUST_ALLOWED": str(trust.allowed),
        "MEDIA_INGEST_TRUST_CONFIG": str(trust.config),
    }


def test_inspect_json_prints_one_record_per_file_with_the_expected_label(samples, sample_dir, trust):
    paths = [str(sample_dir / s.name) for s in samples] + [str(sample_dir / "random.jpg")]
    result = run("inspect", "--json", *paths, env=trust_env(trust))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == paths
    got = {r["source"].rsplit("/", 1)[1]: (r["label"], r["provenance"]) for r in records}
    assert got == {
        **{s.name: (s.expect_label, s.expect_provenance) for s in samples},
        "random.jpg": ("unknown", "unreadable"),
    }
    ai = next(r for r in records if r["source"].endswith("/ai-generated.jpg"))
    assert ai["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert ai["explanation"].startswith("Signed by ") and "(trusted): created with generative AI" in ai["explanation"]
    assert ai["policy"] and ai["schema"] == "media-ingest.label/1"


def test_inspect_table_is_readable(samples, sample_dir, trust):
    result = run("inspect", str(sample_dir / "camera.jpg"), env=trust_env(trust))
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["SOURCE", "LABEL", "PROVENANCE", "EXPLANATION"]
    assert row.split()[1:3] == ["captured", "trusted"]


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus not present")
def test_a_remote_only_manifest_is_unreadable_with_its_reason():
    cloud = CORPUS / "files" / "contentauth__c2pa-c" / "tests" / "fixtures" / "cloud.jpg"
    record = json.loads(run("inspect", "--json", str(cloud)).stdout)
    assert (record["label"], record["provenance"]) == ("unknown", "unreadable")
    assert record["reason"].startswith("remote manifest not fetched (https://")


def test_a_missing_file_names_the_file_and_exits_non_zero(tmp_path):
    result = run("inspect", "--json", str(tmp_path / "nope.jpg"))
    assert result.returncode == 1
    assert "nope.jpg" in result.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MEDIA_INGEST_REDIS_ULR": "redis://x"}, "unknown setting MEDIA_INGEST_REDIS_ULR"),
        ({"MEDIA_INGEST_TASK_TIME_LIMIT": "ten"}, "MEDIA_INGEST_TASK_TIME_LIMIT='ten'"),
        (
            {"MEDIA_INGEST_TRUST_ANCHORS": "/nonexistent.pem"},
            "MEDIA_INGEST_TRUST_ANCHORS='/nonexistent.pem': no such file",
        ),
    ],
)
@pytest.mark.parametrize("command", [["inspect", "x.jpg"], ["worker"]])
def test_bad_settings_stop_every_command_at_start_with_one_line(env, needle, command):
    result = run(*command, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


@pytest.mark.e2e
def test_demo_labels_every_sample_through_embedded_servers():
    """The README's first command, as a new user runs it: no Redis or S3 configured, everything embedded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_INGEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "demo", "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "embedded Valkey at redis://127.0.0.1:" in out and "moto server at http://127.0.0.1:" in out
    rows = {
        line.split()[0]: line.split()[1:4]
        for line in out.splitlines()
        if line.endswith(tuple("0123456789")) and len(line.split()) >= 6
    }
    assert rows["ai-generated.jpg"] == ["ai_generated", "trusted", "ok"]
    assert rows["camera.jpg"] == ["captured", "trusted", "ok"]
    assert rows["ai-xmp-only.jpg"] == ["ai_generated", "absent", "ok"]
    assert "skipped   s3://media-ingest-demo/uploads/deleted-before-fetch.jpg: ObjectNotFound" in out
    assert "15/15 objects labelled" in out
