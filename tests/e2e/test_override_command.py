"""`media-ingest override` on the real path (issue 13 §4): moto's S3 over HTTP, real Redis, a real Celery worker
process labelling first; the command publishes the override's record and rewrites the metadata; a backfill through
the worker and a policy upgrade keep it; `--revoke` republishes the pipeline's own judgement; a locked label needs
`--force`; every action is in the audit log."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from pipeline.adapters.redis_store import RedisBatchCounters
from pipeline.settings import DEFAULT_POLICY
from tests.support.e2e import read_records, wait_for

pytestmark = pytest.mark.e2e


def cli(processes: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=processes.env(**(env or {})),
    )


def metadata(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return dict(s3.head_object(Bucket=bucket, Key=key)["Metadata"])


def finished(redis_client: Any, settings: Any, batch_id: str) -> bool:
    return bool(RedisBatchCounters(redis_client, prefix=settings.key_prefix).get(batch_id).get("finished_at"))


def test_override_survives_backfill_and_policy_upgrade_and_revoke_restores(
    s3, bucket, samples, settings, redis_client, processes, tmp_path
):
    by_name = {s.name: s for s in samples}
    appealable, locked = by_name["ai-xmp-only.jpg"], by_name["ai-edited.jpg"]  # unsigned XMP claim; trusted claim
    for sample in (appealable, locked):
        s3.put_object(Bucket=bucket, Key=sample.name, Body=sample.data, ContentType=sample.content_type)
    processes.worker()
    uris = [f"s3://{bucket}/{s.name}" for s in (appealable, locked)]
    assert processes.start("submit", *uris, "--batch", "b-first", name="submit").wait(60) == 0
    wait_for(lambda: len(read_records(redis_client, settings.label_stream)) == 2, what="the first two labels")
    first = {r["key"]: r for r in read_records(redis_client, settings.label_stream)}
    assert (first[appealable.name]["label"], first[appealable.name]["locked"]) == ("ai_generated", False)
    assert (first[locked.name]["label"], first[locked.name]["locked"]) == ("ai_edited", True)
    assert metadata(s3, bucket, locked.name)["aigc-locked"] == "true"

    # --dry-run: the plan, nothing published or written
    dry = cli(
        processes, "override", uris[0], "--label", "no_ai_declared", "--reason", "appeal 17", "--dry-run", "--json"
    )
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert {k: plan[k] for k in ("action", "label", "current_label", "locked", "dry_run", "record")} == {
        "action": "override",
        "label": "no_ai_declared",
        "current_label": "ai_generated",
        "locked": False,
        "dry_run": True,
        "record": None,
    }
    assert len(read_records(redis_client, settings.label_stream)) == 2
    assert metadata(s3, bucket, appealable.name)["aigc-label"] == "ai_generated"

    # refusals: one line, exit 2, nothing published
    missing = cli(processes, "override", f"s3://{bucket}/gone.jpg", "--label", "unknown", "--reason", "x", "--yes")
    assert missing.returncode == 2 and "gone.jpg: ObjectNotFound" in missing.stderr, missing.stderr
    no_label = cli(processes, "override", uris[0], "--reason", "x", "--yes")
    assert no_label.returncode == 2 and "needs --label" in no_label.stderr, no_label.stderr
    unasked = cli(processes, "override", uris[0], "--label", "unknown", "--reason", "x")
    assert unasked.returncode == 2 and "pass --yes" in unasked.stderr, unasked.stderr
    assert len(read_records(redis_client, settings.label_stream)) == 2

    # the override: a record of its own, the metadata rewritten
    done = cli(processes, "override", uris[0], "--label", "no_ai_declared", "--reason", "appeal 17", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["dry_run"]) == ("labelled", False)
    records = read_records(redis_client, settings.label_stream)
    assert len(records) == 3 and records[-1] == result["record"]
    assert {k: records[-1][k] for k in ("key", "label", "label_source", "previous_label", "override_reason")} == {
        "key": appealable.name,
        "label": "no_ai_declared",
        "label_source": "override",
        "previous_label": "ai_generated",
        "override_reason": "appeal 17",
    }
    on_object = metadata(s3, bucket, appealable.name)
    assert (on_object["aigc-label"], on_object["aigc-override"], on_object["aigc-locked"]) == (
        "no_ai_declared",
        "set",
        "false",
    )

    # a locked label: refused without --force, nothing published; with --force it is overridden
    refused = cli(processes, "override", uris[1], "--label", "no_ai_declared", "--reason", "appeal 18", "--yes")
    assert refused.returncode == 2 and "--force" in refused.stderr, refused.stderr
    assert len(read_records(redis_client, settings.label_stream)) == 3
    assert metadata(s3, bucket, locked.name)["aigc-label"] == "ai_edited"
    forced = cli(
        processes, "override", uris[1], "--label", "no_ai_declared", "--reason", "appeal 18", "--force", "--yes"
    )
    assert forced.returncode == 0, forced.stderr
    assert metadata(s3, bucket, locked.name)["aigc-label"] == "no_ai_declared"
    assert len(read_records(redis_client, settings.label_stream)) == 4

    # a backfill through the worker under the same policy: both overrides are current, nothing is relabelled
    back = cli(processes, "backfill", f"s3://{bucket}/", "--yes", "--rate", "0", "--json")
    assert back.returncode == 0, back.stderr
    batch = json.loads(back.stdout)["batch_id"]
    wait_for(lambda: finished(redis_client, settings, batch), what="the backfill")
    counters = RedisBatchCounters(redis_client, prefix=settings.key_prefix).get(batch)
    assert (counters["queued"], counters.get("already_labelled")) == ("2", "2")
    assert len(read_records(redis_client, settings.label_stream)) == 4

    # a policy upgrade: a worker on the new version relabels, and the overrides stay
    upgraded = tmp_path / "policy.toml"
    upgraded.write_text(DEFAULT_POLICY.read_text().replace('version = "2026.12-2"', 'version = "2099.01-1"'))
    env = {"MEDIA_INGEST_POLICY_FILE": str(upgraded)}
    processes.stop()
    processes.worker(name="worker-upgraded", env=env)
    back = cli(processes, "backfill", f"s3://{bucket}/", "--yes", "--rate", "0", "--json", env=env)
    assert back.returncode == 0, back.stderr
    wait_for(lambda: len(read_records(redis_client, settings.label_stream)) == 6, what="the relabelling")
    relabelled = read_records(redis_client, settings.label_stream)[-2:]
    assert {(r["key"], r["label"], r["label_source"], r["policy"]) for r in relabelled} == {
        (appealable.name, "no_ai_declared", "override", "2099.01-1"),
        (locked.name, "no_ai_declared", "override", "2099.01-1"),
    }
    assert metadata(s3, bucket, appealable.name)["aigc-policy"] == "2099.01-1"

    # --revoke: the pipeline's own judgement republished, the metadata restored
    revoked = cli(
        processes, "override", uris[0], "--revoke", "--reason", "appeal 17 withdrawn", "--yes", "--json", env=env
    )
    assert revoked.returncode == 0, revoked.stderr
    record = json.loads(revoked.stdout)["record"]
    assert {k: record[k] for k in ("label", "label_source", "override", "previous_label", "locked", "policy")} == {
        "label": "ai_generated",
        "label_source": "iptc-xmp",
        "override": "revoked",
        "previous_label": "no_ai_declared",
        "locked": False,
        "policy": "2099.01-1",
    }
    on_object = metadata(s3, bucket, appealable.name)
    assert on_object["aigc-label"] == "ai_generated" and "aigc-override" not in on_object
    again = cli(processes, "override", uris[0], "--revoke", "--reason", "twice", "--yes", env=env)
    assert again.returncode == 2 and "no override to revoke" in again.stderr

    # the listing: what is in force (the revoked one only with --all), filtered by prefix
    def listed(*extra: str) -> list[tuple[str, str, str | None]]:
        result = cli(processes, "overrides", "--json", *extra)
        assert result.returncode == 0, result.stderr
        return [(e["uri"], e["kind"], e["label"]) for e in map(json.loads, result.stdout.splitlines())]

    assert listed() == [(uris[1], "set", "no_ai_declared")]
    assert listed("--all") == [(uris[0], "revoked", None), (uris[1], "set", "no_ai_declared")]
    assert listed("--prefix", f"s3://{bucket}/ai-xmp", "--all") == [(uris[0], "revoked", None)]
    table = cli(processes, "overrides").stdout.splitlines()
    assert table[0].split()[:4] == ["AT", "WHO", "KIND", "LABEL"] and "appeal 18" in table[1]

    audit = [json.loads(line) for line in cli(processes, "audit", "--json").stdout.splitlines()]
    overrides = [(e["action"], e["uri"], e["label"], e["force"]) for e in audit if e["action"].startswith("override")]
    assert overrides == [
        ("override --revoke", uris[0], "ai_generated", False),
        ("override", uris[1], "no_ai_declared", True),
        ("override", uris[0], "no_ai_declared", False),
    ]
