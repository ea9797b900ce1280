"""The same contract tests against the in-memory fakes and the real services (moto's S3 over HTTP, Redis): every
port of pipeline/ports.py with a fake (object store, label sink, failure store, delivery counter, group progress,
batch counters, audit log, scope locks).

If a fake drifts from the real adapter's semantics, one parametrisation fails here.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.adapters import memory, redis_store
from pipeline.adapters.memory import InMemoryObjectStore
from pipeline.adapters.redis_store import Keys, RedisLabelSink
from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
from pipeline.errors import ObjectChanged, ObjectNotFound, PermanentError
from pipeline.model import ObjectRef, ObjectVersion
from pipeline.ports import FailureEntry, Guard, LockLost, LockScope, ScopeLocked
from pipeline.record import metadata_value


class MemoryBackend:
    def __init__(self) -> None:
        self.store = InMemoryObjectStore()

    def put(self, bucket: str, key: str, data: bytes, **headers: Any) -> str:
        return self.store.put(
            bucket, key, data, content_type=headers.get("ContentType", ""), metadata=headers.get("Metadata")
        ).etag


class S3Backend:
    def __init__(self, s3: Any, endpoint: str) -> None:
        self.s3 = s3
        self.store = S3ObjectStore(make_s3_client(endpoint))

    def put(self, bucket: str, key: str, data: bytes, **headers: Any) -> str:
        return str(self.s3.put_object(Bucket=bucket, Key=key, Body=data, **headers)["ETag"]).strip('"')


@pytest.fixture(params=["memory", "s3"])
def backend(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryBackend()
    return S3Backend(request.getfixturevalue("s3"), request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def bucket_name(backend: Any, request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("bucket") if isinstance(backend, S3Backend) else "mem-bucket"


def fetch(store: Any, ref: ObjectRef, accept: bool = True) -> tuple[Any, bytes, bool]:
    buf = io.BytesIO()
    obj, downloaded = store.fetch(ref, buf, accept=lambda _: accept)
    return obj, buf.getvalue(), downloaded


def test_fetch_streams_the_body_and_reports_headers(backend, bucket_name):
    etag = backend.put(bucket_name, "a/b c.jpg", b"hello", ContentType="image/jpeg", Metadata={"Owner": "alice"})
    obj, body, downloaded = fetch(backend.store, ObjectRef(bucket_name, "a/b c.jpg", etag=etag))
    assert (body, downloaded) == (b"hello", True)
    assert (obj.etag, obj.size, obj.content_type, obj.metadata) == (etag, 5, "image/jpeg", {"owner": "alice"})


def test_fetch_can_decline_the_body(backend, bucket_name):
    backend.put(bucket_name, "k", b"x" * 1000)
    obj, body, downloaded = fetch(backend.store, ObjectRef(bucket_name, "k"), accept=False)
    assert (body, downloaded, obj.size) == (b"", False, 1000)


def test_fetch_of_a_missing_object_is_object_not_found(backend, bucket_name):
    with pytest.raises(ObjectNotFound):
        fetch(backend.store, ObjectRef(bucket_name, "nope"))


@pytest.mark.parametrize(("bucket_name_", "key"), [("", "k.jpg"), ("some-bucket", "")])
def test_s3_fetch_without_bucket_or_key_is_a_permanent_error(moto_endpoint, bucket_name_, key):
    """The client skips botocore's parameter validation (CPU), so the adapter names this mistake itself."""
    store = S3ObjectStore(make_s3_client(moto_endpoint))
    with pytest.raises(PermanentError, match="a bucket name and an object key are both required"):
        fetch(store, ObjectRef(bucket_name_, key))


def test_fetch_with_a_stale_etag_is_object_changed(backend, bucket_name):
    old = backend.put(bucket_name, "k", b"first")
    backend.put(bucket_name, "k", b"second")
    with pytest.raises(ObjectChanged):
        fetch(backend.store, ObjectRef(bucket_name, "k", etag=old))


def test_head_object_reports_the_headers_fetch_does_without_the_body(backend, bucket_name):
    etag = backend.put(bucket_name, "a/b c.jpg", b"hello", ContentType="image/jpeg", Metadata={"Owner": "alice"})
    ref = ObjectRef(bucket_name, "a/b c.jpg", etag=etag)
    head = backend.store.head_object(ref)
    assert (head.etag, head.size, head.content_type, head.metadata) == (etag, 5, "image/jpeg", {"owner": "alice"})
    assert head == fetch(backend.store, ref, accept=False)[0]


def test_head_object_of_a_missing_object_is_object_not_found(backend, bucket_name):
    with pytest.raises(ObjectNotFound):
        backend.store.head_object(ObjectRef(bucket_name, "nope"))


def test_head_object_with_a_stale_etag_is_object_changed(backend, bucket_name):
    old = backend.put(bucket_name, "k", b"first")
    backend.put(bucket_name, "k", b"second")
    with pytest.raises(ObjectChanged):
        backend.store.head_object(ObjectRef(bucket_name, "k", etag=old))


@pytest.mark.parametrize(("bucket_name_", "key"), [("", "k.jpg"), ("some-bucket", "")])
def test_s3_head_object_without_bucket_or_key_is_a_permanent_error(moto_endpoint, bucket_name_, key):
    store = S3ObjectStore(make_s3_client(moto_endpoint))
    with pytest.raises(PermanentError, match="a bucket name and an object key are both required"):
        store.head_object(ObjectRef(bucket_name_, key))


def test_write_metadata_replaces_user_metadata_and_keeps_content(backend, bucket_name):
    etag = backend.put(bucket_name, "k", b"data", ContentType="image/png", Metadata={"owner": "bob"})
    obj, _, _ = fetch(backend.store, ObjectRef(bucket_name, "k"))
    new_etag, _ = backend.store.write_metadata(obj, {"owner": "bob", "aigc-label": "unknown"})
    after, body, _ = fetch(backend.store, ObjectRef(bucket_name, "k"))
    assert body == b"data"
    assert after.etag == etag == new_etag
    assert after.content_type == "image/png"
    assert after.metadata == {"owner": "bob", "aigc-label": "unknown"}


def test_write_metadata_refuses_a_replaced_object(backend, bucket_name, request):
    if isinstance(backend, S3Backend):
        request.applymarker(
            pytest.mark.xfail(
                strict=True, reason="moto's server ignores x-amz-copy-source-if-match (AWS S3 and MinIO enforce it)"
            )
        )
    backend.put(bucket_name, "k", b"verified")
    obj, _, _ = fetch(backend.store, ObjectRef(bucket_name, "k"))
    backend.put(bucket_name, "k", b"replaced by a new upload")
    with pytest.raises(ObjectChanged):
        backend.store.write_metadata(obj, {"aigc-label": "ai_generated"})
    after, body, _ = fetch(backend.store, ObjectRef(bucket_name, "k"))
    assert body == b"replaced by a new upload"
    assert "aigc-label" not in after.metadata


def test_list_objects_names_every_object_under_a_prefix(backend, bucket_name):
    for key in ("p/1", "p/2", "q/3"):
        backend.put(bucket_name, key, b"x")
    assert sorted(r.key for r in backend.store.list_objects(bucket_name, "p/")) == ["p/1", "p/2"]


def test_s3_write_back_keeps_system_headers(s3, moto_endpoint, bucket):
    """A REPLACE copy resets headers it is not given: the adapter must re-send them."""
    s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"x",
        ContentType="image/jpeg",
        CacheControl="max-age=60",
        ContentDisposition="inline",
        ContentLanguage="en",
        Metadata={"a": "1"},
    )
    store = S3ObjectStore(make_s3_client(moto_endpoint))
    obj, _, _ = fetch(store, ObjectRef(bucket, "k"))
    store.write_metadata(obj, {"a": "1", "aigc-label": "unknown"})
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"], head["ContentLanguage"]) == (
        "image/jpeg",
        "max-age=60",
        "inline",
        "en",
    )
    assert head["Metadata"] == {"a": "1", "aigc-label": "unknown"}


def test_metadata_we_write_is_read_back_exactly(backend, bucket_name):
    """The comparison that recognises our own write-back needs the store to return our values byte for byte, even
    for a policy version with non-ASCII text, spaces and a percent sign (pipeline.record.metadata_value)."""
    labels = {"aigc-policy": metadata_value(" 2026.11-\u00e9t\u00e9 50% "), "aigc-checked": "2026-11-25T10:41:07+00:00"}
    backend.put(bucket_name, "k", b"data")
    obj, _, _ = fetch(backend.store, ObjectRef(bucket_name, "k"))
    backend.store.write_metadata(obj, labels)
    after, _, _ = fetch(backend.store, ObjectRef(bucket_name, "k"), accept=False)
    assert after.metadata == labels


def either(request: pytest.FixtureRequest, fake: Callable[[], Any], real: Callable[[Any, str], Any]) -> Any:
    """The in-memory fake, or the Redis adapter on the test's client and key prefix, by the fixture's param."""
    if request.param == "memory":
        return fake()
    return real(request.getfixturevalue("redis_client"), request.getfixturevalue("key_prefix"))


@pytest.fixture(params=["memory", "redis"])
def sink(request: pytest.FixtureRequest) -> Any:
    return either(
        request,
        memory.InMemoryLabelSink,
        lambda client, prefix: RedisLabelSink(client, f"{prefix}:labels", prefix=prefix, done_ttl=60, maxlen=1000),
    )


@pytest.mark.parametrize("already_processed", [False, True])
def test_publish_is_exactly_once_per_object_version(sink, already_processed):
    if already_processed:
        assert sink.publish({"key": "k", "n": 0}, "b\0k\0null\0e1") is True
    first = sink.publish({"key": "k", "n": 1}, "b\0k\0null\0e1")
    assert first is (not already_processed)
    assert sink.publish({"key": "k", "n": 2}, "b\0k\0null\0e1") is False
    assert sink.publish({"key": "k", "n": 3}, "b\0k\0null\0e2") is True
    assert sink.is_published("b\0k\0null\0e1") and sink.is_published("b\0k\0null\0e2")
    assert not sink.is_published("b\0k\0null\0e3")


WRITTEN = {
    "aigc-label": "ai_generated",
    "aigc-provenance": "trusted",
    "aigc-policy": "2026.12-1",
    "aigc-checked": "2026-11-25T10:41:07+00:00",
}


def test_the_guard_keeps_what_the_first_publish_wrote(sink):
    assert sink.guard("b\0k\0null\0e1") is None
    assert sink.publish({"key": "k", "n": 1}, "b\0k\0null\0e1", WRITTEN) is True
    assert sink.guard("b\0k\0null\0e1") == Guard(WRITTEN)
    other = {**WRITTEN, "aigc-label": "captured"}
    assert sink.publish({"key": "k", "n": 2}, "b\0k\0null\0e1", other) is False
    assert sink.guard("b\0k\0null\0e1") == Guard(WRITTEN)  # a rerun does not replace it


def test_a_guard_set_without_metadata_says_so_and_can_be_given_it(sink):
    sink.publish({"key": "k"}, "id-plain")
    sink.mark_published("id-marked")
    assert sink.guard("id-plain") == sink.guard("id-marked") == Guard(None)
    assert sink.is_published("id-marked")
    sink.mark_published("id-marked", WRITTEN)
    assert sink.guard("id-marked") == Guard(WRITTEN)


def test_guard_metadata_is_bounded(sink):
    with pytest.raises(ValueError, match="guard metadata above 512 bytes"):
        sink.publish({"key": "k"}, "id-big", {"aigc-label": "x" * 600})
    with pytest.raises(ValueError, match="guard metadata above 512 bytes"):
        sink.mark_published("id-big", {"aigc-label": "x" * 600})
    with pytest.raises(ValueError, match="guard metadata must be aigc-"):
        sink.mark_published("id-big", {"owner": "alice"})
    assert not sink.is_published("id-big")


def test_a_guard_set_by_an_earlier_release_reads_as_holding_no_metadata(redis_client, key_prefix):
    """Before issue 9 a guard's value was the Unix time of the publish."""
    sink = RedisLabelSink(redis_client, f"{key_prefix}:labels", prefix=key_prefix, done_ttl=60, maxlen=1000)
    sink.mark_published("id-old", WRITTEN)
    redis_client.set(Keys(key_prefix).guard("id-old"), "1764067200")  # what a guard of that release holds
    assert sink.guard("id-old") == Guard(None)


def test_a_guard_with_metadata_stays_small_in_redis(redis_client, key_prefix):
    """One guard per object version for the guard's TTL (7 days by default): measured (216 bytes on Redis 7.0 with
    this prefix; 104 for the Unix time a guard held before), so growth is deliberate."""
    sink = RedisLabelSink(redis_client, f"{key_prefix}:labels", prefix=key_prefix, done_ttl=60, maxlen=1000)
    sink.mark_published("id-a", WRITTEN)
    assert redis_client.memory_usage(Keys(key_prefix).guard("id-a")) <= 224


@pytest.fixture(params=["memory", "redis"])
def progress(request: pytest.FixtureRequest) -> Any:
    return either(request, memory.InMemoryGroupProgress, lambda c, p: redis_store.RedisGroupProgress(c, prefix=p))


def test_group_progress_is_kept_per_group_until_cleared(progress):
    assert progress.done("g1") == 0
    progress.advance("g1", 3)
    progress.advance("g2", 1)
    assert (progress.done("g1"), progress.done("g2")) == (3, 1)
    progress.clear("g1")
    assert (progress.done("g1"), progress.done("g2")) == (0, 1)


def test_redis_stream_holds_the_json_record(redis_client, key_prefix):
    sink = RedisLabelSink(redis_client, f"{key_prefix}:labels", prefix=key_prefix, done_ttl=60, maxlen=1000)
    sink.publish({"key": "k", "label": "unknown"}, "id-1")
    sink.publish({"key": "k", "label": "unknown"}, "id-1")
    entries = redis_client.xrange(f"{key_prefix}:labels")
    assert [fields for _, fields in entries] == [{b"record": b'{"key":"k","label":"unknown"}'}]


def test_a_full_redis_is_a_retryable_fault():
    """maxmemory with noeviction answers OOM to writes: retry later, do not drop the record. A private server: the
    setting is server-wide."""
    import redis

    from pipeline.errors import StateUnavailable
    from workers.embedded import embedded_redis

    with embedded_redis() as url:
        client = redis.Redis.from_url(url)
        sink = RedisLabelSink(client, "labels", prefix="oom", done_ttl=60, maxlen=1000)
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")  # every write now fails with OOM
        with pytest.raises(StateUnavailable, match="cannot take writes"):
            sink.publish({"key": "k"}, "id-oom")
        client.config_set("maxmemory", "0")
        assert sink.publish({"key": "k"}, "id-oom") is True
        client.close()


# --- the failure store ----------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def failure_store(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Makes the store with a bound on its entries."""
    return either(
        request,
        lambda: lambda max_entries=100: memory.InMemoryFailureSink(max_entries=max_entries, max_age=3600),
        lambda c, p: (
            lambda max_entries=100: redis_store.RedisFailureSink(c, prefix=p, max_entries=max_entries, max_age=3600)
        ),
    )


def failure(key: str, error_class: str = "StorageUnavailable", *, version_id: str | None = None) -> FailureEntry:
    return FailureEntry("bk", key, version_id, f"etag-{key}", "b1", "t1", error_class, "boom", 3, "failed")


def test_the_failure_store_keeps_one_entry_per_object_version_newest_first(failure_store):
    store = failure_store()
    store.record(failure("a"))
    store.record(failure("a", version_id="v2"))
    store.record(failure("b", "AccessDenied"))
    entries = store.entries()
    assert [(e["key"], e["version_id"]) for e in entries] == [("b", None), ("a", "v2"), ("a", None)]
    newest = entries[0]
    assert newest["id"] == ObjectVersion("bk", "b", None, "etag-b").identity()
    assert {k: newest[k] for k in failure("b").__dict__} == failure("b", "AccessDenied").__dict__
    assert newest["first_at"] == newest["last_at"]


def test_a_version_recorded_again_moves_first_and_keeps_when_it_first_failed(failure_store):
    store = failure_store()
    store.record(failure("a"))
    [first] = store.entries()
    store.record(failure("b"))
    store.record(failure("a", "AccessDenied"))
    again = store.entries()
    assert [(e["key"], e["error_class"]) for e in again] == [("a", "AccessDenied"), ("b", "StorageUnavailable")]
    assert again[0]["first_at"] == first["first_at"] and again[0]["last_at"] >= first["last_at"]


def test_remove_deletes_exactly_the_entries_named(failure_store):
    store = failure_store()
    for key in ("a", "b", "c"):
        store.record(failure(key))
    ids = {e["key"]: e["id"] for e in store.entries()}
    assert store.remove([ids["a"], ids["c"], "not-an-entry"]) == 2
    assert store.remove([]) == 0
    assert [e["key"] for e in store.entries()] == ["b"]


def test_the_failure_store_keeps_the_newest_entries_within_its_bound(failure_store):
    store = failure_store(max_entries=2)
    for key in ("a", "b", "c"):
        store.record(failure(key))
    assert [e["key"] for e in store.entries()] == ["c", "b"]


# --- the delivery counter -------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def deliveries(request: pytest.FixtureRequest) -> Any:
    return either(request, memory.InMemoryDeliveryCounter, lambda c, p: redis_store.RedisDeliveryCounter(c, prefix=p))


def test_deliveries_are_counted_per_object_version_until_one_finishes(deliveries):
    poison, other = ObjectVersion("bk", "poison.jpg").identity(), ObjectVersion("bk", "ok.jpg", "v1").identity()
    assert [deliveries.started(poison) for _ in range(3)] == [1, 2, 3]
    assert deliveries.started(other) == 1
    deliveries.finished(poison)
    assert deliveries.started(poison) == 1  # a finished delivery starts the count afresh
    assert deliveries.started(other) == 2
    deliveries.finished("never-started")


def test_the_redis_delivery_count_is_under_the_key_operators_read(redis_client, key_prefix):
    """docs/operations.md names ``{p}:attempts:{sha}``: the key the adapter writes is the one Keys computes."""
    identity = ObjectVersion("bk", "k.jpg").identity()
    redis_store.RedisDeliveryCounter(redis_client, prefix=key_prefix).started(identity)
    assert redis_client.get(Keys(key_prefix).attempts(identity)) == b"1"
    assert 0 < redis_client.ttl(Keys(key_prefix).attempts(identity)) <= 86_400


# --- batch counters -------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def batches(request: pytest.FixtureRequest) -> Any:
    return either(request, memory.InMemoryBatchCounters, lambda c, p: redis_store.RedisBatchCounters(c, prefix=p))


def test_a_batch_is_finished_while_every_queued_object_has_an_outcome(batches):
    batches.count("b1", "queued", 2)
    started = batches.get("b1")
    assert started["queued"] == "2" and "started_at" in started and "updated_at" in started
    batches.count("b1", "labelled")
    assert "finished_at" not in batches.get("b1")
    batches.count("b1", "failed")
    done = batches.get("b1")
    assert (done["labelled"], done["failed"]) == ("1", "1") and "finished_at" in done
    assert done["started_at"] == started["started_at"]
    batches.count("b1", "queued")  # an intake window takes more
    assert "finished_at" not in batches.get("b1")


def test_an_unknown_batch_reads_as_empty(batches):
    assert batches.get("nope") == {}
    assert batches.all() == {}


def test_batches_are_listed_oldest_update_first_with_their_descriptions(batches):
    batches.describe("replay-1", kind="replay", parents="b0", reason="S3 outage", who="alice")
    batches.count("submit-2", "queued", 5)
    listed = batches.all()
    assert list(listed) == ["replay-1", "submit-2"]
    replay = listed["replay-1"]
    assert (replay["kind"], replay["parents"], replay["reason"], replay["who"]) == (
        "replay",
        "b0",
        "S3 outage",
        "alice",
    )
    assert "started_at" in replay and "queued" not in replay
    assert listed["submit-2"]["queued"] == "5"


def test_a_batch_keeps_its_own_retention_and_fields_set_with_a_count(batches):
    window = {"kind": "intake", "source": "sqs", "window_start": "0", "window_end": "3600"}
    batches.count("sqs-19700101T0000", "queued", 3, ttl=600, fields=window)
    batches.count("sqs-19700101T0000", "labelled")  # a worker's count, without a ttl: the batch's own is kept
    got = batches.get("sqs-19700101T0000")
    assert {k: got[k] for k in window} == window
    assert (got["ttl"], got["queued"], got["labelled"]) == ("600", "3", "1")


def test_an_expired_batch_is_gone_and_leaves_the_listing(batches):
    batches.count("short", "queued", ttl=1)
    batches.count("kept", "queued")
    deadline = time.monotonic() + 10
    while batches.get("short"):
        assert time.monotonic() < deadline, "a batch with a 1 s retention never expired"
        time.sleep(0.05)
    assert list(batches.all()) == ["kept"]


# --- the audit log --------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def audit(request: pytest.FixtureRequest) -> Any:
    return either(request, memory.InMemoryAuditLog, lambda c, p: redis_store.RedisAuditLog(c, prefix=p))


def test_the_audit_log_lists_the_newest_actions_first(audit):
    audit.record("replay", "alice", {"reason": "S3 outage", "count": 2, "parents": ["b1"]})
    audit.record("purge-failures", "bob", {"reason": "known bad uploader", "count": 1})
    newest, oldest = audit.latest()
    assert (newest["action"], newest["who"], newest["count"]) == ("purge-failures", "bob", 1)
    assert oldest == {
        "action": "replay",
        "who": "alice",
        "at": oldest["at"],
        "reason": "S3 outage",
        "count": 2,
        "parents": ["b1"],
    }
    assert abs(oldest["at"] - time.time()) < 60 and newest["at"] >= oldest["at"]
    assert [e["action"] for e in audit.latest(1)] == ["purge-failures"]


# --- operator scope locks -------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def scope_locks(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Makes the locks with a TTL."""
    return either(
        request,
        lambda: lambda ttl=60.0: memory.InMemoryScopeLocks(ttl=ttl),
        lambda c, p: lambda ttl=60.0: redis_store.RedisScopeLocks(c, prefix=p, ttl=ttl),
    )


@pytest.mark.parametrize(
    ("held", "wanted", "overlap"),
    [
        (LockScope("bk", "p"), LockScope("bk", "p/x"), True),
        (LockScope("bk", "p/x"), LockScope("bk", "p"), True),
        (LockScope("bk", "p/x"), LockScope("bk", "p/x"), True),
        (LockScope("bk", ""), LockScope("bk", "p/x"), True),
        (LockScope("bk", "p/x"), LockScope("", ""), True),
        (LockScope("", "p"), LockScope("other", "p/x"), True),
        (LockScope("bk", "p"), LockScope("bk", "photos/"), True),
        (LockScope("bk", "p/y"), LockScope("bk", "p/x"), False),
        (LockScope("other", "p"), LockScope("bk", "p/x"), False),
        (LockScope("", "p/"), LockScope("bk", "q/"), False),
    ],
)
def test_overlapping_scopes_exclude_each_other(scope_locks, held, wanted, overlap):
    locks = scope_locks()
    holder = locks.acquire(held, action="backfill", who="alice")
    assert held.overlaps(wanted) is overlap
    if overlap:
        with pytest.raises(ScopeLocked, match=f"a backfill of {held.name()} is running .*started by alice") as refused:
            locks.acquire(wanted, action="replay", who="bob")
        assert (refused.value.holder["who"], refused.value.holder["action"]) == ("alice", "backfill")
        assert [h["who"] for h in locks.holders()] == ["alice"]
    else:
        assert locks.acquire(wanted, action="replay", who="bob").release()
    assert holder.release()  # the refused one left the other's lock alone
    assert locks.holders() == []


def wait_until_acquired(locks: Any, scope: LockScope, who: str, timeout: float = 10.0) -> Any:
    """The other owner's TTL runs out (by the store's clock): poll until the scope can be taken, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return locks.acquire(scope, action="replay", who=who)
        except ScopeLocked:
            assert time.monotonic() < deadline, "the expired lock was never freed"


def test_a_lock_taken_over_after_it_expired_is_not_released_by_its_old_owner(scope_locks):
    short = scope_locks(ttl=0.3)
    scope = LockScope("bk", "p/")
    old = short.acquire(scope, action="replay", who="stalled")  # never renewed: a process that was stopped
    new = wait_until_acquired(short, scope, "bob")
    assert old.release() is False  # compare-and-delete: the token is not the old owner's any more
    assert [h["who"] for h in short.holders()] == ["bob"]
    with pytest.raises(LockLost, match="lost the lock on s3://bk/p/"):
        old.check()
    assert old.renew() is False and new.renew() is True
    assert new.release() is True and short.holders() == []


def test_a_killed_operator_frees_its_scope_within_the_ttl(scope_locks):
    short = scope_locks(ttl=0.3)
    short.acquire(LockScope("bk", "p/"), action="backfill", who="killed")  # and then nothing: no renewal
    with pytest.raises(ScopeLocked):
        short.acquire(LockScope("bk", "p/x"), action="replay", who="bob")
    assert wait_until_acquired(short, LockScope("bk", "p/x"), "bob").release()


def test_the_lock_is_renewed_while_the_action_runs(scope_locks):
    short = scope_locks(ttl=0.3)
    with short.acquire(LockScope("bk", "p/"), action="backfill", who="alice") as held:
        first = short.holders()[0]["expires_ms"]
        deadline = time.monotonic() + 10
        while short.holders()[0]["expires_ms"] == first:  # the keeper thread moves the expiry on
            assert time.monotonic() < deadline, "the lock was never renewed"
        held.check()
        with pytest.raises(ScopeLocked):
            short.acquire(LockScope("bk", "p/"), action="replay", who="bob")
    assert short.holders() == []


def test_a_holder_says_who_holds_what_since_when(scope_locks):
    locks = scope_locks()
    with locks.acquire(LockScope("bk", "p/"), action="replay", who="alice"):
        [holder] = locks.holders()
        assert {k: holder[k] for k in ("action", "scope", "bucket", "prefix", "who")} == {
            "action": "replay",
            "scope": "s3://bk/p/",
            "bucket": "bk",
            "prefix": "p/",
            "who": "alice",
        }
        assert holder["host"] and holder["pid"] and abs(holder["at"] - time.time()) < 60
        assert holder["expires_ms"] > holder["at"] * 1000
    assert locks.holders() == []


# --------------------------------------------------------------------------------------------------
# Operator overrides
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def override_store(request: pytest.FixtureRequest) -> Any:
    return either(request, memory.InMemoryOverrideStore, lambda c, p: redis_store.RedisOverrideStore(c, prefix=p))


def test_an_override_is_kept_for_its_content_whatever_the_version(override_store):
    from pipeline.model import ObjectVersion
    from pipeline.ports import Override

    photo = ObjectVersion("bk", "u/photo.jpg", "v1", "e1")
    override = Override("id1", "set", "no_ai_declared", "appeal 12: shot on film", "alice", "2026-12-02T18:00:00+00:00")
    assert override_store.get(photo) is None
    override_store.put(photo, override)
    assert override_store.get(photo) == override
    assert override_store.get(ObjectVersion("bk", "u/photo.jpg", "v2", "e1")) == override  # the write-back's copy
    assert override_store.get(ObjectVersion("bk", "u/photo.jpg", "v3", "e2")) is None  # a new upload
    assert override_store.get(ObjectVersion("bk", "u/other.jpg", "v1", "e1")) is None
    revoked = Override("id2", "revoked", None, "appeal withdrawn", "bob", "2026-12-02T19:00:00+00:00", policy="p1")
    override_store.put(photo, revoked)
    assert override_store.get(photo) == revoked


def test_the_overrides_are_listed_newest_first_with_what_they_are_for(override_store):
    from pipeline.model import ObjectVersion
    from pipeline.ports import Override

    assert override_store.entries() == []
    first, second = ObjectVersion("bk", "a.jpg", None, "e1"), ObjectVersion("bk", "b.jpg", None, "e2")
    override_store.put(first, Override("id1", "set", "unknown", "one", "alice", "2026-12-02T18:00:00+00:00"))
    override_store.put(second, Override("id2", "set", "ai_edited", "two", "bob", "2026-12-02T18:05:00+00:00"))
    override_store.put(first, Override("id3", "revoked", None, "three", "alice", "2026-12-02T18:10:00+00:00"))
    listed = override_store.entries()
    assert [(e["id"], e["bucket"], e["key"], e["etag"], e["kind"]) for e in listed] == [
        ("id3", "bk", "a.jpg", "e1", "revoked"),
        ("id2", "bk", "b.jpg", "e2", "set"),
    ]
    assert [e["id"] for e in override_store.entries(count=1)] == ["id3"]
