"""Operator actions: replay failures, backfill/reconcile a prefix, purge failures.

Modelled on what operators already trust: SQS redrive (filters, one move at a time, a rate limit), Sidekiq's dead set
(bounded, retry all), Temporal's batch reset (``--dry-run``, a required ``--reason``), Kafka offset resets (the plan
is printed before anything changes). Every action that changes state writes an audit entry (who, when, why, how
many) to the ``{prefix}:audit`` stream, and every re-enqueue goes under a new batch that names its parents.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from pipeline.failures import FailureFilter, by_error_class, select
from pipeline.interfaces import FailureSink, ObjectStore
from pipeline.model import ObjectRef, StoredObject
from pipeline.policy import version_key
from pipeline.redis_backends import RedisBatchCounters
from workers.intake import Flush, new_batch_id, no_flush

Enqueue = Callable[[ObjectRef, str], None]


class OperationRefused(RuntimeError):
    """The action cannot go ahead as asked; the message says why and what to do."""


@dataclass
class Plan:
    """What an action will do (dry run) or did."""

    action: str
    count: int
    batch_id: str | None = None
    by_error_class: list[tuple[str, int]] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    skipped: int = 0
    dry_run: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Throttle:
    """At most ``rate`` calls per second (None: unlimited)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


def _progress(items: Iterable[Any], total: int | None, desc: str) -> Iterator[Any]:
    return iter(tqdm(items, total=total, desc=desc, unit="obj", file=sys.stderr, disable=None, leave=False))


class Operations:
    def __init__(
        self,
        *,
        redis: Any,
        prefix: str,
        failures: FailureSink,
        batches: RedisBatchCounters,
        enqueue: Enqueue,
        flush: Flush = no_flush,
        store: ObjectStore | None = None,
        who: str | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._failures = failures
        self._batches = batches
        self._enqueue = enqueue
        self._flush = flush
        """Publishes what ``enqueue`` grouped (backfill's small objects; a replay's refs carry no size and go out
        one by one at once, so no failure entry is removed before its task is on the broker)."""
        self._store = store
        self._who = who or _user()

    def failures(self, selection: FailureFilter) -> list[dict[str, Any]]:
        return select(self._failures.entries(), selection)

    def audit(self, action: str, **fields: Any) -> None:
        entry = {"action": action, "who": self._who, "at": time.time(), **fields}
        self._redis.xadd(f"{self._prefix}:audit", {"entry": json.dumps(entry)}, maxlen=100_000, approximate=True)

    def audit_log(self, count: int = 50) -> list[dict[str, Any]]:
        return [json.loads(f[b"entry"]) for _, f in self._redis.xrevrange(f"{self._prefix}:audit", count=count)]

    def replay(self, selection: FailureFilter, *, reason: str, dry_run: bool, rate: float | None = None) -> Plan:
        entries = select(self._failures.entries(), selection)
        replayable = [e for e in entries if e.get("bucket") != "-"]  # unparseable notifications name no object
        plan = Plan(
            "replay",
            len(replayable),
            by_error_class=by_error_class(replayable),
            sample=[f"s3://{e['bucket']}/{e['key']}" for e in replayable[:5]],
            skipped=len(entries) - len(replayable),
            dry_run=dry_run,
        )
        if dry_run or not replayable:
            return plan
        if not reason.strip():
            raise OperationRefused("replay needs --reason TEXT: it is recorded in the audit log")
        lock = f"{self._prefix}:replay-lock:{hashlib.sha256(selection.scope().encode()).hexdigest()[:16]}"
        holder = json.dumps({"who": self._who, "at": time.time(), "scope": selection.scope()})
        if not self._redis.set(lock, holder, nx=True, ex=3600):
            other = json.loads(self._redis.get(lock) or "{}")
            raise OperationRefused(
                f"a replay of the same selection ({selection.scope()}) is already running, started by "
                f"{other.get('who')} at {time.ctime(other.get('at', 0))}; wait for it, or narrow the filters"
            )
        try:
            plan.batch_id = new_batch_id("replay")
            parents = sorted({str(e.get("batch_id")) for e in replayable if e.get("batch_id")})
            self._batches.describe(
                plan.batch_id,
                kind="replay",
                parents=",".join(parents),
                reason=reason,
                who=self._who,
                selection=selection.scope(),
            )
            throttle = Throttle(rate)
            for entry in _progress(replayable, len(replayable), "replay"):
                throttle.wait()
                ref = ObjectRef(entry["bucket"], entry["key"], entry.get("version_id"), entry.get("etag"))
                self._enqueue(ref, plan.batch_id)
                self._batches.count(plan.batch_id, "queued")
                self._failures.remove([entry["id"]])
            self.audit(
                "replay",
                reason=reason,
                count=len(replayable),
                batch_id=plan.batch_id,
                parents=parents,
                selection=selection.scope(),
            )
        finally:
            self._redis.delete(lock)
        return plan

    def purge(self, selection: FailureFilter, *, reason: str, dry_run: bool) -> Plan:
        entries = select(self._failures.entries(), selection)
        plan = Plan(
            "purge-failures",
            len(entries),
            by_error_class=by_error_class(entries),
            sample=[f"s3://{e['bucket']}/{e['key']}" for e in entries[:5]],
            dry_run=dry_run,
        )
        if dry_run or not entries:
            return plan
        if not reason.strip():
            raise OperationRefused("purge-failures needs --reason TEXT: it is recorded in the audit log")
        self._failures.remove([e["id"] for e in entries])
        self.audit("purge-failures", reason=reason, count=len(entries), selection=selection.scope())
        return plan

    def backfill(
        self,
        bucket: str,
        prefix: str,
        *,
        policy_version: str,
        only_unlabelled: bool = False,
        policy_older_than: str | None = None,
        dry_run: bool = False,
        rate: float | None = None,
        reason: str = "backfill",
    ) -> Plan:
        """Enqueue every object under the prefix that needs (re)labelling: also the reconcile sweep for events the
        storage never delivered. Without a filter every object is enqueued and the worker skips those that carry a
        current label for their content (a GET of headers only)."""
        if self._store is None:
            raise OperationRefused("backfill needs object storage access (MEDIA_INGEST_S3_ENDPOINT_URL / AWS)")
        store = self._store
        batch_id = None if dry_run else new_batch_id("backfill")
        if batch_id:
            self._batches.describe(
                batch_id, kind="backfill", prefix=f"s3://{bucket}/{prefix}", reason=reason, who=self._who
            )
        throttle = Throttle(rate)
        plan = Plan("backfill", 0, batch_id=batch_id, dry_run=dry_run)
        try:
            self._sweep(store, bucket, prefix, plan, throttle, only_unlabelled, policy_older_than)
        except BaseException:
            # Send what was grouped before the listing failed; the listing's error is the one to report.
            with contextlib.suppress(Exception):
                self._flush()
            raise
        self._flush()
        if batch_id:
            self.audit(
                "backfill",
                reason=reason,
                count=plan.count,
                batch_id=batch_id,
                prefix=f"s3://{bucket}/{prefix}",
                policy=policy_version,
            )
        return plan

    def _sweep(
        self,
        store: ObjectStore,
        bucket: str,
        prefix: str,
        plan: Plan,
        throttle: Throttle,
        only_unlabelled: bool,
        policy_older_than: str | None,
    ) -> None:
        batch_id = plan.batch_id
        for ref in _progress(store.list_objects(bucket, prefix), None, "backfill"):
            if only_unlabelled or policy_older_than:
                headers = _headers(store, ref)
                label_policy = headers.metadata.get("aigc-policy")
                if only_unlabelled and label_policy:
                    plan.skipped += 1
                    continue
                if policy_older_than and label_policy and version_key(label_policy) >= version_key(policy_older_than):
                    plan.skipped += 1
                    continue
            plan.count += 1
            if len(plan.sample) < 5:
                plan.sample.append(f"s3://{bucket}/{ref.key}")
            if batch_id:
                throttle.wait()
                self._enqueue(ObjectRef(bucket, ref.key, etag=ref.etag, size=ref.size), batch_id)
                self._batches.count(batch_id, "queued")


def _headers(store: ObjectStore, ref: ObjectRef) -> StoredObject:
    obj, _ = store.fetch(ref, io.BytesIO(), accept=lambda _: False)
    return obj


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
