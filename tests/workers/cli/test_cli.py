"""`media-ingest` as a user runs it: a separate process, its stdout and exit code."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from pipeline.adapters.redis_store import RedisFailureSink
from pipeline.ports import FailureEntry
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
    record = json.loads(run("inspect", "--json", str(cloud), env={"MEDIA_INGEST_REMOTE_MANIFESTS": "off"}).stdout)
    assert (record["label"], record["provenance"]) == ("unknown", "unreadable")
    assert record["reason"].startswith("remote manifest not fetched (https://cai-manifests.adobe.com/")
    assert record["manifest_url"].startswith("https://cai-manifests.adobe.com/manifests/")


def test_inspect_fetches_a_remote_manifest_from_a_listed_host(pki, trust, tmp_path):
    from testkit.media import make_jpeg
    from testkit.signing import TRAINED_ALGORITHMIC_MEDIA, created, definition, sign_remote
    from tests.support.manifest_server import manifest_server

    with manifest_server() as server:
        url = server.url("/m/ai")
        manifest = definition("Example Generator", "remote.jpg", [created(TRAINED_ALGORITHMIC_MEDIA)])
        asset, server.manifests["ai"] = sign_remote(pki, make_jpeg(seed=3), "image/jpeg", manifest, url)
        path = tmp_path / "remote.jpg"
        path.write_bytes(asset)
        env = {**trust_env(trust), "MEDIA_INGEST_REMOTE_MANIFEST_HOSTS": server.origin}
        fetched = run("inspect", "--json", str(path), env=env)
        off = run("inspect", "--json", str(path), env={**env, "MEDIA_INGEST_REMOTE_MANIFESTS": "off"})
        assert server.requests == ["/m/ai"]
    assert fetched.returncode == 0, fetched.stderr
    record = json.loads(fetched.stdout)
    assert (record["label"], record["provenance"], record["manifest_url"]) == ("ai_generated", "trusted", url)
    assert json.loads(off.stdout)["reason"] == f"remote manifest not fetched ({url})"


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


def test_a_metrics_port_flag_out_of_range_stops_the_worker_as_the_variable_would():
    result = run("worker", "--metrics-port", "70000")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("media-ingest: configuration error: MEDIA_INGEST_METRICS_PORT (70000) must be at most")


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


# --- operator commands: confirmation, default rate, caps, scope locks, exact purges (real processes, real Redis) --


def cli(processes, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A command as cron or a script runs it: no terminal on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=processes.env(),
        stdin=subprocess.DEVNULL,
    )


class Terminal:
    """A command on a pseudo-terminal (stdin and stdout), as an operator's shell runs it."""

    def __init__(self, processes, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=processes.env(),
        )
        os.close(slave)
        self.output = ""

    def _read(self, deadline: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the command exited and closed the terminal
            return False
        self.output += chunk.decode(errors="replace")
        return bool(chunk)

    def read_until(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline and self._read(deadline), f"no {text!r} in {self.output!r}"
        return self.output

    def answer(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline):
            pass
        code = self.proc.wait(timeout)
        os.close(self.master)
        self.stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        return code


def failure_sink(redis_client, settings):
    return RedisFailureSink(redis_client, prefix=settings.key_prefix, max_entries=1000, max_age=86400)


def fail(sink, bucket: str, key: str) -> None:
    sink.record(FailureEntry(bucket, key, None, f"etag-{key}", "b0", "t0", "StorageUnavailable", "boom", 9, "failed"))


def keys(sink) -> list[str]:
    return sorted(e["key"] for e in sink.entries())


def test_replay_and_backfill_refuse_to_run_unasked_without_a_terminal(processes, redis_client, settings, s3, bucket):
    sink = failure_sink(redis_client, settings)
    fail(sink, bucket, "p/1")
    s3.put_object(Bucket=bucket, Key="p/a.jpg", Body=b"x")
    for command in (["replay", "--reason", "outage"], ["backfill", f"s3://{bucket}/p"]):
        result = cli(processes, *command)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert f"{command[0]} changes state" in line and "pass --yes" in line and "--dry-run" in line
    assert keys(sink) == ["p/1"] and redis_client.llen(settings.queue) == 0  # nothing happened
    replay = json.loads(cli(processes, "replay", "--reason", "outage", "--dry-run", "--json").stdout)
    assert (replay["count"], replay["rate"], replay["dry_run"]) == (1, 50.0, True)
    backfill = json.loads(cli(processes, "backfill", f"s3://{bucket}/p", "--dry-run", "--json").stdout)
    assert (backfill["count"], backfill["rate"], backfill["limit"]) == (1, 50.0, 10_000)
    done = cli(processes, "replay", "--reason", "outage", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 1 and keys(sink) == [] and redis_client.llen(settings.queue) == 1


def test_replay_on_a_terminal_shows_the_plan_and_asks(processes, redis_client, settings):
    sink = failure_sink(redis_client, settings)
    fail(sink, "bk", "p/1")
    fail(sink, "bk", "p/2")
    declined = Terminal(processes, "replay", "--reason", "outage")
    plan = declined.read_until("[y/N]")
    assert "replay: would act on 2 object(s)" in plan and "rate: 50 objects/s" in plan and "scope: every bucket" in plan
    declined.answer("n")
    assert declined.finish() == 1, declined.stderr
    assert "nothing replayed" in declined.output and keys(sink) == ["p/1", "p/2"]
    accepted = Terminal(processes, "replay", "--reason", "outage", "--rate", "0")
    assert "rate: unlimited (--rate 0)" in accepted.read_until("[y/N]")
    accepted.answer("y")
    assert accepted.finish() == 0, accepted.stderr
    assert "replay: did act on 2 object(s) as batch replay-" in accepted.output and keys(sink) == []
    assert redis_client.llen(settings.queue) == 2


def test_purge_deletes_exactly_what_it_showed_when_a_failure_arrives_during_the_prompt(
    processes, redis_client, settings
):
    sink = failure_sink(redis_client, settings)
    fail(sink, "bk", "a")
    fail(sink, "bk", "b")
    purge = Terminal(processes, "purge-failures", "--reason", "known bad uploader")
    assert "purge-failures: would act on 2 object(s)" in purge.read_until("[y/N]")
    fail(sink, "bk", "arrived-during-the-prompt")
    purge.answer("y")
    assert purge.finish() == 0, purge.stderr
    assert keys(sink) == ["arrived-during-the-prompt"]


def test_an_overlapping_backfill_is_refused_while_a_replay_runs_and_a_disjoint_one_is_not(
    processes, redis_client, settings, bucket
):
    sink = failure_sink(redis_client, settings)
    for i in range(20):
        fail(sink, bucket, f"p/x/{i:02d}")
    fail(sink, bucket, "q/1")
    locks = f"{settings.key_prefix}:ops-locks"
    slow = processes.start(
        "replay", "--prefix", f"s3://{bucket}/p", "--reason", "slow", "--yes", "--rate", "2", name="replay-slow"
    )
    deadline = time.monotonic() + 60
    while not redis_client.hlen(locks):  # the slow replay holds s3://bucket/p
        assert slow.poll() is None and time.monotonic() < deadline, processes.logs()
        time.sleep(0.05)
    overlapping = cli(processes, "backfill", f"s3://{bucket}/p/x", "--yes")
    assert overlapping.returncode == 2
    assert f"a replay of s3://{bucket}/p is running" in overlapping.stderr
    assert f"overlaps s3://{bucket}/p/x" in overlapping.stderr
    disjoint = cli(processes, "replay", "--prefix", f"s3://{bucket}/q", "--reason", "other", "--yes", "--json")
    assert disjoint.returncode == 0, disjoint.stderr
    assert json.loads(disjoint.stdout)["count"] == 1
    slow.send_signal(signal.SIGINT)  # the operator presses Ctrl-C: it stops and frees its scope
    assert slow.wait(30) == 130
    assert redis_client.hlen(locks) == 0
    assert 0 < len(keys(sink)) < 20  # stopped part-way; the rest is still in the failure store


def test_backfill_enqueues_at_most_max_objects(processes, redis_client, settings, s3, bucket):
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"p/{i}.jpg", Body=b"x")
    result = cli(processes, "backfill", f"s3://{bucket}/p", "--yes", "--max", "2", "--rate", "0", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["count"], plan["capped"], plan["limit"]) == (2, True, 2)
    assert redis_client.hget(f"{settings.key_prefix}:batch:{plan['batch_id']}", "queued") == b"2"
