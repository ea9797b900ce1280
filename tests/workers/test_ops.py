"""Operator actions on a real Redis: replay, purge, backfill, batches, audit. (The scope locks' own rules are
contract tests: tests/pipeline/adapters/test_contracts.py.)"""

from __future__ import annotations

import pytest

from pipeline.adapters.memory import InMemoryObjectStore
from pipeline.adapters.redis_store import (
    Keys,
    RedisAuditLog,
    RedisBatchCounters,
    RedisFailureSink,
    RedisScopeLocks,
)
from pipeline.failures import FailureFilter
from pipeline.ports import FailureEntry, LockScope
from workers.ops import DEFAULT_RATE, OperationRefused, Operations, OperatorState, check_rate, replay_scope


@pytest.fixture
def enqueued():
    return []


@pytest.fixture
def store():
    return InMemoryObjectStore()


@pytest.fixture
def state(redis_client, key_prefix):
    """The Redis adapters the composition root gives the operator commands (workers.composition.operator_state)."""
    return OperatorState(
        failures=RedisFailureSink(redis_client, prefix=key_prefix, max_entries=100, max_age=3600),
        batches=RedisBatchCounters(redis_client, prefix=key_prefix),
        audit=RedisAuditLog(redis_client, prefix=key_prefix),
        locks=RedisScopeLocks(redis_client, prefix=key_prefix),
    )


@pytest.fixture
def ops(state, enqueued, store):
    return Operations(state, enqueue=lambda ref, batch: enqueued.append((ref, batch)), store=store, who="tester")


def fail(ops, key, error_class="StorageUnavailable", batch="b1", disposition="failed", bucket="bk"):
    ops.state.failures.record(
        FailureEntry(bucket, key, None, f"etag-{key}", batch, "t1", error_class, "boom", 9, disposition)
    )


def test_dry_run_changes_nothing(ops, enqueued):
    fail(ops, "a")
    fail(ops, "b", "AccessDenied")
    plan = ops.replay(FailureFilter(), reason="", dry_run=True)
    assert (plan.count, plan.dry_run, plan.batch_id) == (2, True, None)
    assert sorted(plan.by_error_class) == [("AccessDenied", 1), ("StorageUnavailable", 1)]
    assert enqueued == [] and len(ops.failures(FailureFilter())) == 2


def test_replay_re_enqueues_exactly_the_selection_as_a_new_batch_and_audits_it(ops, enqueued):
    fail(ops, "in/a")
    fail(ops, "in/b", "AccessDenied")
    fail(ops, "out/c")
    fail(ops, "in/gone", "ObjectNotFound", disposition="skipped")
    plan = ops.replay(FailureFilter(error_class="StorageUnavailable", prefix="in/"), reason="S3 outage", dry_run=False)
    assert plan.count == 1 and plan.batch_id.startswith("replay-")
    assert [(r.bucket, r.key, r.etag, b) for r, b in enqueued] == [("bk", "in/a", "etag-in/a", plan.batch_id)]
    assert sorted(e["key"] for e in ops.failures(FailureFilter(disposition=None))) == ["in/b", "in/gone", "out/c"]
    batch = ops.state.batches.get(plan.batch_id)
    assert (batch["kind"], batch["parents"], batch["reason"], batch["queued"]) == ("replay", "b1", "S3 outage", "1")
    [audit] = ops.audit_log()
    assert (audit["action"], audit["who"], audit["reason"], audit["count"]) == ("replay", "tester", "S3 outage", 1)


def test_replay_needs_a_reason(ops, enqueued):
    fail(ops, "a")
    with pytest.raises(OperationRefused, match="--reason"):
        ops.replay(FailureFilter(), reason=" ", dry_run=False)
    assert enqueued == []


@pytest.mark.parametrize(
    ("held", "replayed", "overlap"),
    [
        (LockScope("bk", "p"), FailureFilter(bucket="bk", prefix="p/x"), True),  # a backfill of s3://bk/p
        (LockScope("bk", "p/x"), FailureFilter(bucket="bk", prefix="p"), True),
        (LockScope("bk", "p/x"), FailureFilter(bucket="bk", prefix="p/x"), True),
        (LockScope("bk", ""), FailureFilter(bucket="bk", prefix="p/x"), True),
        (LockScope("bk", "p/x"), FailureFilter(), True),  # no --prefix: every bucket
        (LockScope("", ""), FailureFilter(bucket="bk", prefix="p/x"), True),
        (LockScope("bk", "p/y"), FailureFilter(bucket="bk", prefix="p/x"), False),
        (LockScope("other", "p"), FailureFilter(bucket="bk", prefix="p/x"), False),
    ],
)
def test_a_replay_is_refused_while_an_overlapping_action_holds_its_scope(ops, enqueued, held, replayed, overlap):
    fail(ops, "p/x/1")
    holder = ops.state.locks.acquire(held, action="backfill", who="alice")
    assert held.overlaps(replay_scope(replayed)) is overlap
    if overlap:
        with pytest.raises(OperationRefused, match=f"a backfill of {held.name()} is running .*started by alice"):
            ops.replay(replayed, reason="again", dry_run=False)
        assert enqueued == [] and len(ops.failures(FailureFilter())) == 1
    else:
        assert ops.replay(replayed, reason="again", dry_run=False).count == 1
    assert holder.release()  # the refused replay left the other's lock alone


def test_two_overlapping_replays_the_second_is_refused_while_the_first_runs(ops):
    fail(ops, "p/x/1")
    fail(ops, "p/x/2")
    second: list[str] = []

    def enqueue(ref, batch):  # runs while the first replay holds its lock
        if not second:
            with pytest.raises(OperationRefused, match="a replay of s3://bk/p/ is running") as refused:
                other.replay(FailureFilter(bucket="bk", prefix="p/x/"), reason="second", dry_run=False)
            second.append(str(refused.value))

    other = ops
    first = Operations(ops.state, enqueue=enqueue, who="first")
    assert first.replay(FailureFilter(bucket="bk", prefix="p/"), reason="first", dry_run=False).count == 2
    assert len(second) == 1
    assert ops.state.locks.holders() == []  # released after the run
    assert ops.replay(FailureFilter(bucket="bk", prefix="p/x/"), reason="now", dry_run=False).count == 0


def test_a_replay_whose_lock_is_taken_over_stops_before_the_next_object(ops, redis_client, key_prefix):
    for key in ("p/1", "p/2", "p/3"):
        fail(ops, key)
    sent: list[str] = []
    thief = ops.state.locks

    def enqueue(ref, batch):
        sent.append(ref.key)
        if len(sent) == 1:  # as if this process stalled past its TTL and another took the scope
            redis_client.delete(Keys(key_prefix).ops_locks)
            thief.acquire(LockScope("bk", "p/"), action="replay", who="thief")

    stalled = Operations(ops.state, enqueue=enqueue, who="me")
    with pytest.raises(OperationRefused, match=r"lost the lock on s3://bk/p/.*replayed 1 of 3"):
        stalled.replay(FailureFilter(bucket="bk", prefix="p/"), reason="r", dry_run=False)
    assert len(sent) == 1 and len(ops.failures(FailureFilter())) == 2
    assert [h["who"] for h in thief.holders()] == ["thief"]  # the stalled owner did not delete the new one's lock
    audit = ops.audit_log()[0]
    assert (audit["action"], audit["count"], audit["planned"], audit["stopped"]) == ("replay", 1, 3, "LockLost")


def test_replay_acts_on_exactly_the_entries_shown(ops, enqueued):
    fail(ops, "a")
    plan = ops.prepare_replay(FailureFilter())
    assert (plan.count, plan.rate, plan.scope) == (1, DEFAULT_RATE, "every bucket")
    fail(ops, "arrived-after-the-prompt")
    fail(ops, "b")
    ops.state.failures.remove([e["id"] for e in ops.failures(FailureFilter()) if e["key"] == "b"])
    done = ops.run_replay(plan, reason="shown")
    assert [r.key for r, _ in enqueued] == ["a"] and done.count == 1
    assert [e["key"] for e in ops.failures(FailureFilter())] == ["arrived-after-the-prompt"]


def test_a_shown_entry_replayed_meanwhile_is_not_replayed_twice(ops, enqueued):
    fail(ops, "a")
    fail(ops, "b")
    plan = ops.prepare_replay(FailureFilter())
    ops.replay(FailureFilter(prefix="a"), reason="someone else", dry_run=False)
    done = ops.run_replay(plan, reason="mine")
    assert sorted(r.key for r, _ in enqueued) == ["a", "b"]
    assert (done.count, done.gone) == (1, 1)


def test_default_rate_and_an_explicit_unlimited_rate():
    assert DEFAULT_RATE == 50.0
    assert check_rate(None) == 50.0 and check_rate(0) == 0 and check_rate(7.5) == 7.5
    with pytest.raises(OperationRefused, match="--rate -1"):
        check_rate(-1)


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


def test_purge_deletes_exactly_the_entries_shown_not_what_arrived_after_the_prompt(ops):
    fail(ops, "a")
    fail(ops, "b")
    plan = ops.prepare_purge(FailureFilter())
    assert plan.count == 2
    fail(ops, "new")  # a new failure between the prompt and the delete
    fail(ops, "b", "AccessDenied")  # and a newer failure of an object shown: not what the operator saw
    done = ops.run_purge(plan, reason="confirmed")
    assert (done.count, done.changed, done.gone) == (1, 1, 0)
    left = {e["key"]: e["error_class"] for e in ops.failures(FailureFilter())}
    assert left == {"new": "StorageUnavailable", "b": "AccessDenied"}
    audit = ops.audit_log()[0]
    assert (audit["count"], audit["shown"], audit["kept_changed"]) == (1, 2, 1)


def test_backfill_enqueues_what_needs_labelling(ops, enqueued, store):
    store.put("bk", "p/new.jpg", b"1")
    store.put("bk", "p/old.jpg", b"2", metadata={"aigc-policy": "2025.01-1"})
    store.put("bk", "p/current.jpg", b"3", metadata={"aigc-policy": "2026.12-1"})
    store.put("bk", "q/elsewhere.jpg", b"4")
    assert ops.backfill("bk", "p/", policy_version="2026.12-1", dry_run=True).count == 3
    assert enqueued == []
    plan = ops.backfill("bk", "p/", policy_version="2026.12-1", policy_older_than="2026.12-1")
    assert sorted(r.key for r, _ in enqueued) == ["p/new.jpg", "p/old.jpg"]
    assert (plan.count, plan.skipped) == (2, 1)
    enqueued.clear()
    ops.backfill("bk", "p/", policy_version="2026.12-1", only_unlabelled=True)
    assert [r.key for r, _ in enqueued] == ["p/new.jpg"]


def test_backfill_publishes_what_its_enqueue_grouped_even_when_the_listing_fails(state):
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
        state, enqueue=lambda ref, batch: buffered.append(ref.key), flush=flush, store=broken, who="tester"
    )
    with pytest.raises(RuntimeError, match="half-way"):
        ops.backfill("bk", "p/", policy_version="2026.12-1")
    assert (sorted(published), buffered) == (["p/a.jpg", "p/b.jpg"], [])


def test_backfill_stops_at_its_cap(ops, enqueued, store):
    for i in range(5):
        store.put("bk", f"p/{i}.jpg", b"x")
    preview = ops.prepare_backfill("bk", "p/", max_objects=3)
    assert (preview.count, preview.capped, preview.limit, preview.rate) == (3, True, 3, DEFAULT_RATE)
    assert ops.prepare_backfill("bk", "p/").count == 5  # the default cap is far above
    plan = ops.backfill("bk", "p/", policy_version="2026.12-1", max_objects=3)
    assert [r.key for r, _ in enqueued] == ["p/0.jpg", "p/1.jpg", "p/2.jpg"]
    assert (plan.count, plan.capped) == (3, True) and "stopped at --max 3 after s3://bk/p/2.jpg" in plan.note
    assert ops.audit_log()[0]["capped"] is True
    enqueued.clear()
    assert ops.backfill("bk", "p/", policy_version="2026.12-1", max_objects=0).count == 5  # 0: no cap


def test_backfill_holds_its_scope_so_an_overlapping_replay_is_refused(ops, store):
    store.put("bk", "p/a.jpg", b"1")
    fail(ops, "p/x/1")
    refusals: list[str] = []

    def enqueue(ref, batch):
        with pytest.raises(OperationRefused) as refused:
            ops.replay(FailureFilter(bucket="bk", prefix="p/x"), reason="overlap", dry_run=False)
        refusals.append(str(refused.value))
        assert ops.replay(FailureFilter(bucket="bk", prefix="q/"), reason="elsewhere", dry_run=False).count == 0

    backfill = Operations(ops.state, enqueue=enqueue, store=store, who="carol")
    assert backfill.backfill("bk", "p", policy_version="2026.12-1").count == 1
    [message] = refusals
    assert "a backfill of s3://bk/p is running (started by carol" in message and "overlaps s3://bk/p/x" in message
    assert ops.state.locks.holders() == []
