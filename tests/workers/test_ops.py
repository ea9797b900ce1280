"""Operator actions on a real Redis: replay, purge, backfill, batches, audit."""

from __future__ import annotations

import pytest

from pipeline.failures import FailureFilter
from pipeline.interfaces import FailureEntry
from pipeline.memory import InMemoryObjectStore
from pipeline.redis_backends import RedisBatchCounters, RedisFailureSink
from workers.ops import OperationRefused, Operations


@pytest.fixture
def enqueued():
    return []


@pytest.fixture
def store():
    return InMemoryObjectStore()


@pytest.fixture
def ops(redis_client, key_prefix, enqueued, store):
    return Operations(
        redis=redis_client,
        prefix=key_prefix,
        failures=RedisFailureSink(redis_client, prefix=key_prefix, max_entries=100, max_age=3600),
        batches=RedisBatchCounters(redis_client, prefix=key_prefix),
        enqueue=lambda ref, batch: enqueued.append((ref, batch)),
        store=store,
        who="tester",
    )


def fail(ops, key, error_class="StorageUnavailable", batch="b1", disposition="failed", bucket="bk"):
    ops._failures.record(
        FailureEntry(bucket, key, None, f"etag-{key}", batch, "t1", error_class, "boom", 9, disposition)
    )


def test_dry_run_changes_nothing(ops, enqueued):
    fail(ops, "a")
    fail(ops, "b", "AccessDenied")
    plan = ops.replay(FailureFilter(), reason="", dry_run=True)
    assert (plan.count, plan.dry_run, plan.batch_id) == (2, True, None)
    assert sorted(plan.by_error_class) == [("AccessDenied", 1), ("StorageUnavailable", 1)]
    assert enqueued == [] and len(ops.failures(FailureFilter())) == 2


def test_replay_re_enqueues_exactly_the_selection_as_a_new_batch_and_audits_it(ops, enqueued, redis_client, key_prefix):
    fail(ops, "in/a")
    fail(ops, "in/b", "AccessDenied")
    fail(ops, "out/c")
    fail(ops, "in/gone", "ObjectNotFound", disposition="skipped")
    plan = ops.replay(FailureFilter(error_class="StorageUnavailable", prefix="in/"), reason="S3 outage", dry_run=False)
    assert plan.count == 1 and plan.batch_id.startswith("replay-")
    assert [(r.bucket, r.key, r.etag, b) for r, b in enqueued] == [("bk", "in/a", "etag-in/a", plan.batch_id)]
    assert sorted(e["key"] for e in ops.failures(FailureFilter(disposition=None))) == ["in/b", "in/gone", "out/c"]
    batch = RedisBatchCounters(redis_client, prefix=key_prefix).get(plan.batch_id)
    assert (batch["kind"], batch["parents"], batch["reason"], batch["queued"]) == ("replay", "b1", "S3 outage", "1")
    [audit] = ops.audit_log()
    assert (audit["action"], audit["who"], audit["reason"], audit["count"]) == ("replay", "tester", "S3 outage", 1)


def test_replay_needs_a_reason_and_runs_once_per_scope(ops, redis_client, key_prefix):
    fail(ops, "a")
    with pytest.raises(OperationRefused, match="--reason"):
        ops.replay(FailureFilter(), reason=" ", dry_run=False)
    import hashlib

    scope = FailureFilter().scope()
    redis_client.set(
        f"{key_prefix}:replay-lock:{hashlib.sha256(scope.encode()).hexdigest()[:16]}", '{"who": "alice", "at": 0}'
    )
    with pytest.raises(OperationRefused, match="already running, started by alice"):
        ops.replay(FailureFilter(), reason="again", dry_run=False)


def test_unparseable_notifications_are_listed_but_not_replayed(ops, enqueued):
    fail(ops, "sqs:123", "BadEvent", bucket="-")
    plan = ops.replay(FailureFilter(), reason="x", dry_run=False)
    assert (plan.count, plan.skipped, enqueued) == (0, 1, [])


def test_purge_removes_the_selection_and_audits(ops):
    fail(ops, "a")
    fail(ops, "b", batch="b2")
    plan = ops.purge(FailureFilter(batch="b2"), reason="known bad uploader", dry_run=False)
    assert plan.count == 1
    assert [e["key"] for e in ops.failures(FailureFilter())] == ["a"]
    assert ops.audit_log()[0]["action"] == "purge-failures"


def test_backfill_enqueues_what_needs_labelling(ops, enqueued, store):
    store.put("bk", "p/new.jpg", b"1")
    store.put("bk", "p/old.jpg", b"2", metadata={"aigc-policy": "2025.01-1"})
    store.put("bk", "p/current.jpg", b"3", metadata={"aigc-policy": "2026.11-1"})
    store.put("bk", "q/elsewhere.jpg", b"4")
    assert ops.backfill("bk", "p/", policy_version="2026.11-1", dry_run=True).count == 3
    assert enqueued == []
    plan = ops.backfill("bk", "p/", policy_version="2026.11-1", policy_older_than="2026.11-1")
    assert sorted(r.key for r, _ in enqueued) == ["p/new.jpg", "p/old.jpg"]
    assert (plan.count, plan.skipped) == (2, 1)
    enqueued.clear()
    ops.backfill("bk", "p/", policy_version="2026.11-1", only_unlabelled=True)
    assert [r.key for r, _ in enqueued] == ["p/new.jpg"]


def test_backfill_publishes_what_its_enqueue_grouped_even_when_the_listing_fails(redis_client, key_prefix, store):
    buffered: list[str] = []
    published: list[str] = []

    def flush() -> None:
        published.extend(buffered)
        buffered.clear()

    class BrokenListing(InMemoryObjectStore):
        def list_objects(self, bucket, prefix):
            yield from super().list_objects(bucket, prefix)
            raise RuntimeError("listing failed half-way")

    broken = BrokenListing()
    broken.put("bk", "p/a.jpg", b"1")
    broken.put("bk", "p/b.jpg", b"2")
    ops = Operations(
        redis=redis_client,
        prefix=key_prefix,
        failures=RedisFailureSink(redis_client, prefix=key_prefix, max_entries=100, max_age=3600),
        batches=RedisBatchCounters(redis_client, prefix=key_prefix),
        enqueue=lambda ref, batch: buffered.append(ref.key),
        flush=flush,
        store=broken,
        who="tester",
    )
    with pytest.raises(RuntimeError, match="half-way"):
        ops.backfill("bk", "p/", policy_version="2026.11-1")
    assert (sorted(published), buffered) == (["p/a.jpg", "p/b.jpg"], [])
