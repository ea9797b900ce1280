"""Operator actions: replay failures, backfill/reconcile a prefix, purge failures.

Modelled on what operators already trust: SQS redrive (filters, one move at a time, a rate limit), Sidekiq's dead set
(bounded, retry all), Temporal's batch reset (``--dry-run``, a required ``--reason``), Kafka offset resets (the plan
is printed before anything changes). Every action that changes state writes an audit entry (who, when, why, how
many) to the ``{prefix}:audit`` stream, and every re-enqueue goes under a new batch that names its parents.

Each action is split in two: ``prepare_*`` builds the :class:`Plan` an operator confirms (nothing changes), and
``run_*`` carries out exactly that plan. Replay and backfill hold a lock on their bucket/prefix scope while they
run (:class:`pipeline.ports.ScopeLocks`: overlapping scopes exclude each other, the owner token is checked on
release, a thread renews it, and a killed process frees it within ``LOCK_TTL_SECONDS``), and enqueue at most
``DEFAULT_RATE`` objects per second unless told otherwise.

Everything here goes through ports (:class:`OperatorState`); ``workers/composition.py`` builds the Redis ones.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pipeline.failures import FailureFilter, by_error_class, select
from pipeline.model import ObjectRef, StoredObject, s3_uri
from pipeline.policy import version_key
from pipeline.ports import (
    AuditLog,
    BatchCounters,
    Enqueue,
    FailureSink,
    HeldScope,
    LockLost,
    LockScope,
    ObjectStore,
    ScopeLocked,
    ScopeLocks,
)
from workers.intake import Flush, new_batch_id, no_flush

DEFAULT_RATE = 50.0
"""Objects per second that replay and backfill enqueue when ``--rate`` is not given: a backlog of 10,000 takes
about 3.5 minutes to enqueue, and the workers are not flooded ahead of live uploads. ``--rate 0``: unlimited."""
DEFAULT_BACKFILL_MAX = 10_000
"""Objects one backfill enqueues at most unless ``--max`` says otherwise (``--max 0``: no cap)."""
LOCK_TTL_SECONDS = 60.0
"""How long a replay's or backfill's scope lock outlives its last renewal (renewed every third of it): a killed
operator process frees its scope within this."""


@dataclass(frozen=True)
class OperatorState:
    """What operator actions read and write: the failure store, batch counters, the audit log and the scope locks."""

    failures: FailureSink
    batches: BatchCounters
    audit: AuditLog
    locks: ScopeLocks


class OperationRefused(RuntimeError):
    """The action cannot go ahead as asked; the message says why and what to do."""


@dataclass
class Plan:
    """What an action will do (``dry_run``: shown, not carried out yet) or did."""

    action: str
    count: int
    batch_id: str | None = None
    by_error_class: list[tuple[str, int]] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    skipped: int = 0
    dry_run: bool = True
    scope: str = ""
    """The bucket/prefix the action covers (replay, backfill: the scope it locks)."""
    selection: str = ""
    """Replay, purge: the filters, as :meth:`pipeline.failures.FailureFilter.scope` names them."""
    rate: float | None = None
    """Objects per second (replay, backfill); 0: unlimited."""
    limit: int | None = None
    """Backfill: at most this many objects are enqueued (0: no cap)."""
    capped: bool = False
    """Backfill: more objects than ``limit`` were found; it stops (stopped) there."""
    gone: int = 0
    """Shown entries no longer in the failure store when the action ran (replayed or purged meanwhile)."""
    changed: int = 0
    """Purge: shown entries recorded again since (a newer failure of the object): kept, not deleted unseen."""
    note: str = ""
    entries: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """Replay, purge: exactly the failure entries shown; running the plan acts on these and no others."""
    lock_scope: LockScope | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("entries", "lock_scope")}


class Throttle:
    """At most ``rate`` calls per second (None or 0: unlimited)."""

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


def require_reason(action: str, reason: str) -> None:
    """Refuse an action without a reason (checked before any prompt, so nobody confirms what cannot run)."""
    if not reason.strip():
        raise OperationRefused(f"{action} needs --reason TEXT: it is recorded in the audit log")


def check_rate(rate: float | None) -> float:
    if rate is None:
        return DEFAULT_RATE
    if rate < 0:
        raise OperationRefused(f"--rate {rate:g}: expected objects per second, or 0 for unlimited")
    return rate


def replay_scope(selection: FailureFilter) -> LockScope:
    """The bucket/prefix a replay locks: its ``--prefix``; without one, every bucket (it may touch any object)."""
    return LockScope(selection.bucket or "", selection.prefix)


T = TypeVar("T")


class Progress(Protocol):
    """Shows how far a long action has got while it consumes ``items`` (the CLI draws a bar on stderr,
    :func:`workers.cli.render.progress`)."""

    def __call__(self, items: Iterable[T], total: int | None, desc: str) -> Iterator[T]: ...


def no_progress(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    """Shows nothing (a caller without a terminal to draw on)."""
    return iter(items)


class Operations:
    def __init__(
        self,
        state: OperatorState,
        *,
        enqueue: Enqueue,
        flush: Flush = no_flush,
        store: ObjectStore | None = None,
        who: str | None = None,
        progress: Progress = no_progress,
    ) -> None:
        self.state = state
        self._failures = state.failures
        self._batches = state.batches
        self._enqueue = enqueue
        self._flush = flush
        """Publishes what ``enqueue`` grouped (backfill's small objects; a replay's refs carry no size and go out
        one by one at once, so no failure entry is removed before its task is on the broker)."""
        self._store = store
        self._who = who or _user()
        self._progress = progress

    def failures(self, selection: FailureFilter) -> list[dict[str, Any]]:
        return select(self._failures.entries(), selection)

    def audit(self, action: str, **fields: Any) -> None:
        self.state.audit.record(action, self._who, fields)

    def audit_log(self, count: int = 50) -> list[dict[str, Any]]:
        return self.state.audit.latest(count)

    def _hold(self, scope: LockScope, action: str) -> HeldScope:
        try:
            return self.state.locks.acquire(scope, action=action, who=self._who)
        except ScopeLocked as exc:
            raise OperationRefused(str(exc)) from exc

    # --- replay -----------------------------------------------------------------------------------------------

    def prepare_replay(self, selection: FailureFilter, *, rate: float | None = DEFAULT_RATE) -> Plan:
        """The plan of a replay: the replayable entries the selection matches now. Nothing changes."""
        entries = select(self._failures.entries(), selection)
        replayable = [e for e in entries if e.get("bucket") != "-"]  # unparseable notifications name no object
        scope = replay_scope(selection)
        return Plan(
            "replay",
            len(replayable),
            by_error_class=by_error_class(replayable),
            sample=[s3_uri(e["bucket"], e["key"]) for e in replayable[:5]],
            skipped=len(entries) - len(replayable),
            scope=scope.name(),
            rate=check_rate(rate),
            selection=selection.scope(),
            entries=replayable,
            lock_scope=scope,
        )

    def run_replay(self, plan: Plan, *, reason: str) -> Plan:
        """Re-enqueue exactly the plan's entries (those still in the store) as a new batch, under the scope lock."""
        require_reason("replay", reason)
        assert plan.lock_scope is not None, "a replay plan comes from prepare_replay"
        plan.dry_run = False
        with self._hold(plan.lock_scope, "replay") as lock:
            present = {e["id"] for e in self._failures.entries()}
            todo = [e for e in plan.entries if e["id"] in present]
            plan.gone, plan.count = len(plan.entries) - len(todo), len(todo)
            if not todo:
                return plan
            plan.batch_id = new_batch_id("replay")
            parents = sorted({str(e.get("batch_id")) for e in todo if e.get("batch_id")})
            self._batches.describe(
                plan.batch_id,
                kind="replay",
                parents=",".join(parents),
                reason=reason,
                who=self._who,
                selection=plan.selection,
            )
            audit = {"reason": reason, "batch_id": plan.batch_id, "parents": parents, "selection": plan.selection}
            throttle = Throttle(plan.rate)
            sent = 0
            try:
                for entry in self._progress(todo, len(todo), "replay"):
                    lock.check()
                    throttle.wait()
                    ref = ObjectRef(entry["bucket"], entry["key"], entry.get("version_id"), entry.get("etag"))
                    self._enqueue(ref, plan.batch_id)
                    self._batches.count(plan.batch_id, "queued")
                    self._failures.remove([entry["id"]])
                    sent += 1
            except BaseException as exc:
                plan.count = sent
                with contextlib.suppress(Exception):
                    self.audit("replay", count=sent, planned=len(todo), stopped=type(exc).__name__, **audit)
                if isinstance(exc, LockLost):
                    raise OperationRefused(
                        f"{exc}; replayed {sent} of {len(todo)} (batch {plan.batch_id}), the rest are still in "
                        "the failure store: run the replay again"
                    ) from exc
                raise
            self.audit("replay", count=sent, **audit)
        return plan

    def replay(
        self, selection: FailureFilter, *, reason: str, dry_run: bool, rate: float | None = DEFAULT_RATE
    ) -> Plan:
        plan = self.prepare_replay(selection, rate=rate)
        if dry_run or not plan.count:
            return plan
        return self.run_replay(plan, reason=reason)

    # --- purge ------------------------------------------------------------------------------------------------

    def prepare_purge(self, selection: FailureFilter) -> Plan:
        entries = select(self._failures.entries(), selection)
        return Plan(
            "purge-failures",
            len(entries),
            by_error_class=by_error_class(entries),
            sample=[s3_uri(e["bucket"], e["key"]) for e in entries[:5]],
            scope=replay_scope(selection).name(),
            selection=selection.scope(),
            entries=entries,
        )

    def run_purge(self, plan: Plan, *, reason: str) -> Plan:
        """Delete exactly the plan's entries: not failures recorded since it was shown, nor entries recorded
        again since (their ``last_at`` changed: a newer failure nobody has seen)."""
        require_reason("purge-failures", reason)
        current = {e["id"]: e for e in self._failures.entries()}
        ids = []
        for entry in plan.entries:
            now = current.get(entry["id"])
            if now is None:
                plan.gone += 1
            elif now.get("last_at") != entry.get("last_at"):
                plan.changed += 1
            else:
                ids.append(entry["id"])
        plan.count = self._failures.remove(ids)
        plan.dry_run = False
        self.audit(
            "purge-failures",
            reason=reason,
            count=plan.count,
            shown=len(plan.entries),
            kept_changed=plan.changed,
            selection=plan.selection,
        )
        return plan

    def purge(self, selection: FailureFilter, *, reason: str, dry_run: bool) -> Plan:
        plan = self.prepare_purge(selection)
        if dry_run or not plan.count:
            return plan
        return self.run_purge(plan, reason=reason)

    # --- backfill ---------------------------------------------------------------------------------------------

    def _need_store(self) -> ObjectStore:
        if self._store is None:
            raise OperationRefused("backfill needs object storage access (MEDIA_INGEST_S3_ENDPOINT_URL / AWS)")
        return self._store

    def prepare_backfill(
        self,
        bucket: str,
        prefix: str,
        *,
        only_unlabelled: bool = False,
        policy_older_than: str | None = None,
        rate: float | None = DEFAULT_RATE,
        max_objects: int = DEFAULT_BACKFILL_MAX,
    ) -> Plan:
        """The plan a backfill asks to confirm: the objects listed under the prefix, by listing alone (stopping
        after ``max_objects``), so it costs a list request per 1,000 objects. The filters need a HEAD per object
        and apply when it runs (``--dry-run`` applies them without enqueueing)."""
        store = self._need_store()
        plan = Plan("backfill", 0, scope=LockScope(bucket, prefix).name(), rate=check_rate(rate), limit=max_objects)
        for ref in self._progress(store.list_objects(bucket, prefix), None, "listing"):
            if max_objects and plan.count >= max_objects:
                plan.capped = True
                break
            plan.count += 1
            if len(plan.sample) < 5:
                plan.sample.append(s3_uri(bucket, ref.key))
        which = (
            "objects without an aigc-policy label"
            if only_unlabelled
            else f"objects labelled under a policy before {policy_older_than}"
            if policy_older_than
            else ""
        )
        plan.note = f"objects listed; only {which} are enqueued (a HEAD each)" if which else "objects listed"
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
        rate: float | None = DEFAULT_RATE,
        reason: str = "backfill",
        max_objects: int = DEFAULT_BACKFILL_MAX,
    ) -> Plan:
        """Enqueue every object under the prefix that needs (re)labelling, at most ``max_objects`` (0: no cap):
        also the reconcile sweep for events the storage never delivered. Without a filter every object is enqueued
        and the worker skips those that carry a current label for their content (a GET of headers only)."""
        store = self._need_store()
        scope = LockScope(bucket, prefix)
        plan = Plan("backfill", 0, dry_run=dry_run, scope=scope.name(), rate=check_rate(rate), limit=max_objects)
        filters = (only_unlabelled, policy_older_than)
        if dry_run:
            self._sweep(store, bucket, prefix, plan, Throttle(None), None, *filters)
            return plan
        with self._hold(scope, "backfill") as lock:
            plan.batch_id = new_batch_id("backfill")
            self._batches.describe(plan.batch_id, kind="backfill", prefix=scope.name(), reason=reason, who=self._who)
            audit = {"reason": reason, "batch_id": plan.batch_id, "prefix": scope.name(), "policy": policy_version}
            try:
                self._sweep(store, bucket, prefix, plan, Throttle(plan.rate), lock, *filters)
            except BaseException as exc:
                # Send what was grouped before the listing failed; the listing's error is the one to report.
                with contextlib.suppress(Exception):
                    self._flush()
                with contextlib.suppress(Exception):
                    self.audit("backfill", count=plan.count, stopped=type(exc).__name__, **audit)
                if isinstance(exc, LockLost):
                    raise OperationRefused(
                        f"{exc}; enqueued {plan.count} (batch {plan.batch_id}): run the backfill again, with "
                        "--only-unlabelled to skip what is labelled by then"
                    ) from exc
                raise
            self._flush()
            self.audit("backfill", count=plan.count, capped=plan.capped, **audit)
        return plan

    def _sweep(
        self,
        store: ObjectStore,
        bucket: str,
        prefix: str,
        plan: Plan,
        throttle: Throttle,
        lock: HeldScope | None,
        only_unlabelled: bool,
        policy_older_than: str | None,
    ) -> None:
        batch_id = plan.batch_id
        last = ""
        for ref in self._progress(store.list_objects(bucket, prefix), None, "backfill"):
            if only_unlabelled or policy_older_than:
                headers = _headers(store, ref)
                label_policy = headers.metadata.get("aigc-policy")
                if only_unlabelled and label_policy:
                    plan.skipped += 1
                    continue
                if policy_older_than and label_policy and version_key(label_policy) >= version_key(policy_older_than):
                    plan.skipped += 1
                    continue
            if plan.limit and plan.count >= plan.limit:
                plan.capped = True
                plan.note = (
                    f"stopped at --max {plan.limit} after {s3_uri(bucket, last)}; more remain: rerun with "
                    "--only-unlabelled, a larger --max, or --max 0 for no cap"
                )
                return
            plan.count += 1
            last = ref.key
            if len(plan.sample) < 5:
                plan.sample.append(s3_uri(bucket, ref.key))
            if batch_id:
                assert lock is not None
                lock.check()
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
