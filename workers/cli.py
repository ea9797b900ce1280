"""``media-ingest``: the command line. Each sub-command imports only what it needs, so ``inspect`` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.model import OUTCOMES
from pipeline.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        # `trust refresh` is how a trust file that no longer loads gets replaced: it must start regardless.
        repairing_trust = args.command == "trust" and getattr(args, "trust_command", None) == "refresh"
        settings = load_settings(check_trust=not repairing_trust)
    except SettingsError as exc:
        print(f"media-ingest: configuration error: {exc}", file=sys.stderr)
        return 2
    from pipeline.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    handler = args.handler
    try:
        return int(handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="media-ingest",
        description="Label AI-generated content at upload time from C2PA Content Credentials (docs/operations.md).",
    )
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("worker", help="run the Celery worker that labels objects")
    p.add_argument("--concurrency", "-c", type=int, help="worker processes (default: CPU count)")
    p.add_argument("--pool", default="prefork", help="Celery pool (prefork, threads, solo)")
    p.add_argument("--hostname", "-n", help="node name, e.g. worker1@%%h")
    p.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port")
    p.add_argument("celery_args", nargs=argparse.REMAINDER, help="further arguments passed to celery worker")
    p.set_defaults(handler=_worker)

    p = sub.add_parser("intake", help="bridge storage event notifications to worker tasks")
    isub = p.add_subparsers(dest="source", required=True)
    p.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port")
    q = isub.add_parser("sqs", help="long-poll an SQS queue of S3 event notifications")
    q.add_argument("queue_url")
    q.set_defaults(handler=_intake_sqs)
    q = isub.add_parser("redis", help="drain MinIO's Redis notification list (access format)")
    q.add_argument("key")
    q.set_defaults(handler=_intake_redis)

    p = sub.add_parser("inspect", help="label local files with the worker's code path")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("paths", nargs="+", type=Path)
    p.set_defaults(handler=_inspect)

    p = sub.add_parser("submit", help="enqueue objects by URI (s3://bucket/key) under a batch id")
    p.add_argument("uris", nargs="+")
    p.add_argument("--batch", help="batch id (default: a new one)")
    p.set_defaults(handler=_submit)

    p = sub.add_parser("failures", help="list what failed (or was skipped), grouped by error class")
    _filters(p)
    p.add_argument("--json", action="store_true", help="one JSON entry per line")
    p.set_defaults(handler=_failures)

    p = sub.add_parser("replay", help="re-enqueue the selected failures as a new batch")
    _filters(p)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument("--dry-run", action="store_true", help="print the count and a sample; change nothing")
    p.add_argument("--rate", type=float, help="at most N objects per second (default 50; 0: unlimited)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_replay)

    p = sub.add_parser("purge-failures", help="delete the selected failure entries")
    _filters(p)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_purge)

    p = sub.add_parser("backfill", help="enqueue what under s3://bucket/prefix needs (re)labelling (reconcile)")
    p.add_argument("uri", help="s3://bucket[/prefix]")
    p.add_argument("--rate", type=float, help="at most N objects per second (default 50; 0: unlimited)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only-unlabelled", action="store_true", help="only objects without an aigc-policy label")
    which.add_argument("--policy-older-than", metavar="V", help="only objects labelled under a policy before V")
    p.add_argument("--reason", default="backfill", help="kept in the audit log")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--max", type=int, default=10_000, metavar="N", help="enqueue at most N objects (0: no cap)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_backfill)

    p = sub.add_parser("batches", help="list batches with their counters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_batches)

    p = sub.add_parser("batch", help="show one batch")
    p.add_argument("batch_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_batch)

    p = sub.add_parser("audit", help="who replayed, purged or backfilled what, when and why")
    p.add_argument("--json", action="store_true")
    p.add_argument("--count", type=int, default=50)
    p.set_defaults(handler=_audit)

    p = sub.add_parser("trust", help="show or refresh the trust lists signers are validated against")
    tsub = p.add_subparsers(dest="trust_command", required=True)
    q = tsub.add_parser("show", help="certificates and EKUs the workers load")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_trust_show)
    q = tsub.add_parser("refresh", help="download MEDIA_INGEST_TRUST_*_URL into the trust cache, atomically")
    q.add_argument("--dest", type=Path, help="directory to write into (default: MEDIA_INGEST_TRUST_CACHE_DIR)")
    q.add_argument(
        "--allow-drop",
        action="store_true",
        help="accept a list with fewer than half the certificates of the copy it replaces",
    )
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_trust_refresh)

    p = sub.add_parser("demo", help="run the whole pipeline on generated samples (embedded servers if needed)")
    p.add_argument("--keep", action="store_true", help="leave the servers running until Ctrl-C")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all labels")
    p.set_defaults(handler=_demo)
    return parser


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import tempfile

    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        # Before Celery or prometheus_client is imported: the pool's children write their samples here and the
        # main process's /metrics adds them up. The Celery app reads its settings from the environment.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="media-ingest-metrics-")
        os.environ["MEDIA_INGEST_METRICS_PORT"] = str(port)
    from workers.app import app

    argv = ["worker", "--loglevel", settings.log_level, "-Q", settings.queue, "--pool", args.pool]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    app.worker_main(argv + [a for a in args.celery_args if a != "--"])
    return 0


def _enqueue_and_count(settings: Settings, source: str) -> tuple[Any, Any, Any, Any]:
    """An intake's grouping enqueue, failure store, batch counter and :class:`~workers.intake.Linger`."""
    from pipeline.adapters.redis_store import RedisBatchCounters, RedisFailureSink, connect
    from workers.intake import Linger
    from workers.tasks import grouping_enqueue

    client = connect(settings.redis_url)
    batches = RedisBatchCounters(client, prefix=settings.key_prefix)
    failures = RedisFailureSink(
        client,
        prefix=settings.key_prefix,
        max_entries=settings.failure_max_entries,
        max_age=settings.failure_max_age_seconds,
    )
    from workers.metrics import INTAKE_TASKS

    def count(batch_id: str, n: int, fields: Any) -> None:
        """A round's tasks join its window's batch, which is kept ``intake_batch_ttl_seconds`` (workers keep it)."""
        batches.count(batch_id, "queued", n, ttl=settings.intake_batch_ttl_seconds, fields=fields)
        INTAKE_TASKS.labels(source).inc(n)

    enqueue = grouping_enqueue()
    queue = settings.queue

    def behind() -> bool:
        """Tasks wait in the broker's queue (kombu's Redis transport keeps it as a list named after the queue)."""
        return bool(client.llen(queue))

    linger = Linger(settings.intake_linger_ms / 1000, buffered=enqueue.buffered, behind=behind)
    return enqueue, failures, count, linger


def _intake_scope(settings: Settings) -> dict[str, Any]:
    """The intake's bucket allow-list (MEDIA_INGEST_BUCKETS) and batch window."""
    from pipeline.events import BucketAllowList
    from workers.intake import BatchWindow

    return {
        "allowed": BucketAllowList.parse(settings.buckets),
        "window": BatchWindow(settings.intake_batch_window_seconds),
    }


def _echo_filter(settings: Settings) -> Any:
    """The intake's filter for our own write-backs' copy events, or None when ``intake_skip_echoes`` is off.

    It reads the headers of each candidate (one GET per copy event whose guard is set), so the intake needs
    ``s3:GetObject`` on the buckets, like the workers."""
    if not settings.intake_skip_echoes:
        return None
    from pipeline.adapters.redis_store import RedisLabelSink, connect
    from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
    from pipeline.policy import load_policy
    from workers.intake import echo_filter

    sink = RedisLabelSink(
        connect(settings.redis_url),
        settings.label_stream,
        prefix=settings.key_prefix,
        done_ttl=settings.done_ttl_seconds,
        maxlen=settings.label_stream_maxlen,
    )
    store = S3ObjectStore(make_s3_client(settings.s3_endpoint_url))
    return echo_filter(sink, load_policy(settings.policy_file).version, store)


def _serve_intake_metrics(args: argparse.Namespace, settings: Settings, intake: Any, max_quiet: float) -> None:
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if not port:
        return
    from pipeline.adapters.redis_store import connect
    from workers.metrics import BacklogCollector, redis_ready, registry_for_process, serve

    redis = connect(settings.redis_url)
    backlog = BacklogCollector(redis, queue=settings.queue, stream=settings.label_stream, prefix=settings.key_prefix)

    def ready() -> str | None:
        quiet = time.monotonic() - intake.last_poll
        return redis_ready(redis) or (f"no successful poll for {quiet:.0f}s" if quiet > max_quiet else None)

    serve(port, registry_for_process(backlog), ready)


def _intake_sqs(args: argparse.Namespace, settings: Settings) -> int:
    from workers.intake.sqs import SqsIntake, make_sqs_client

    enqueue, failures, count, linger = _enqueue_and_count(settings, "sqs")
    intake = SqsIntake(
        make_sqs_client(settings.s3_endpoint_url),
        args.queue_url,
        enqueue=enqueue,
        failures=failures,
        count_queued=count,
        wait_seconds=settings.sqs_wait_seconds,
        visibility_timeout=settings.sqs_visibility_timeout,
        is_echo=_echo_filter(settings),
        flush=enqueue.flush,
        discard=enqueue.discard,
        linger=linger,
        **_intake_scope(settings),
    )
    _serve_intake_metrics(args, settings, intake, max_quiet=3 * settings.sqs_wait_seconds + 30)
    intake.run()
    return 0


def _intake_redis(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.adapters.redis_store import connect
    from workers.intake.redis_list import RedisListIntake

    enqueue, failures, count, linger = _enqueue_and_count(settings, "redis")
    intake = RedisListIntake(
        connect(settings.redis_url),
        args.key,
        enqueue=enqueue,
        failures=failures,
        count_queued=count,
        is_echo=_echo_filter(settings),
        flush=enqueue.flush,
        discard=enqueue.discard,
        linger=linger,
        **_intake_scope(settings),
    )
    _serve_intake_metrics(args, settings, intake, max_quiet=60)
    intake.run()
    return 0


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.errors import PipelineError
    from pipeline.policy import load_policy
    from pipeline.process import assess_file
    from pipeline.record import build_record
    from workers.composition import credential_reader

    reader = credential_reader(settings)
    policy = load_policy(settings.policy_file)
    rows = []
    status = 0
    for path in args.paths:
        started = time.perf_counter()
        try:
            report, decision = assess_file(path, reader, policy)
        except OSError as exc:
            print(f"media-ingest: cannot read {path}: {exc.strerror}", file=sys.stderr)
            status = 1
            continue
        except PipelineError as exc:  # the reader could not start, or a bug of ours: no label, say why
            print(f"media-ingest: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        record = build_record(
            report=report,
            decision=decision,
            policy_version=policy.version,
            duration_ms=(time.perf_counter() - started) * 1000,
            size=path.stat().st_size,
            source=str(path),
        ).to_dict()
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            rows.append(record)
    reader.close()
    if rows:
        _table(rows, [("source", 40), ("label", 14), ("provenance", 10), ("explanation", 70)])
    return status


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, int]]) -> None:
    def cell(value: Any, width: int) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= width else "…" + text[-(width - 1) :]

    print("  ".join(name.upper().ljust(width) for name, width in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row.get(name), width).ljust(width) for name, width in columns).rstrip())


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.model import ObjectRef
    from workers.api import submit

    try:
        refs = [ObjectRef.from_uri(uri) for uri in args.uris]
    except ValueError as exc:
        return _usage_error(exc)
    batch_id = submit(refs, args.batch)
    print(json.dumps({"batch_id": batch_id, "queued": len(refs)}))
    return 0


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", help="only this batch id")
    p.add_argument("--error", metavar="CLASS", help="only this error class, e.g. StorageUnavailable")
    p.add_argument("--since", help="only failures since 30m / 6h / 2d ago or an ISO-8601 time")
    p.add_argument("--prefix", metavar="S3_URI", help="only objects under s3://bucket[/prefix]")
    p.add_argument(
        "--disposition",
        choices=["failed", "skipped", "all"],
        default="failed",
        help="failed (default), skipped (object gone/replaced), or all",
    )


def _selection(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from pipeline.failures import FailureFilter, parse_since
    from pipeline.model import parse_s3_uri

    bucket, prefix = parse_s3_uri(args.prefix) if args.prefix else (None, "")
    return FailureFilter(
        batch=args.batch,
        error_class=args.error,
        since=parse_since(args.since, datetime.now(UTC)) if args.since else None,
        bucket=bucket,
        prefix=prefix,
        disposition=None if args.disposition == "all" else args.disposition,
    )


def _operations(settings: Settings, *, with_store: bool = False) -> Any:
    from workers.composition import operations

    return operations(settings, with_store=with_store)


def _failures(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.failures import by_error_class

    try:
        selection = _selection(args)
    except ValueError as exc:
        return _usage_error(exc)
    entries = _operations(settings).failures(selection)
    if args.json:
        for entry in entries:
            print(json.dumps(entry))
        return 0
    if not entries:
        print(f"no failures match ({selection.scope()})")
        return 0
    for error_class, count in by_error_class(entries):
        print(f"\n{error_class} ({count})")
        group = [
            dict(e, object=f"s3://{e['bucket']}/{e['key']}", last=_ago(e["last_at"]))
            for e in entries
            if e["error_class"] == error_class
        ]
        _table(group, [("object", 44), ("batch_id", 28), ("attempts", 8), ("last", 8), ("message", 60)])
    return 0


def _ago(ts: float) -> str:
    seconds = max(0, time.time() - float(ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def _usage_error(exc: Exception) -> int:
    print(f"media-ingest: {exc}", file=sys.stderr)
    return 2


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan.to_dict()))
        return
    verb = "would" if plan.dry_run else "did"
    print(
        f"{plan.action}: {verb} act on {plan.count} object(s)" + (f" as batch {plan.batch_id}" if plan.batch_id else "")
    )
    if plan.scope:
        print(f"  scope: {plan.scope}")
    if plan.selection:
        print(f"  selection: {plan.selection}")
    if plan.rate is not None:
        print(f"  rate: {_rate(plan.rate, plan.count)}")
    if plan.limit is not None:
        print(f"  at most: {plan.limit} objects (--max)" if plan.limit else "  at most: no cap (--max 0)")
    if plan.capped and plan.dry_run:
        print(f"  more than {plan.limit} objects: it stops after the first {plan.limit} (--max)")
    if plan.note:
        print(f"  {plan.note}")
    for error_class, count in plan.by_error_class:
        print(f"  {count:>7}  {error_class}")
    if plan.skipped:
        print(f"  {plan.skipped} left alone (not replayable or not matching)")
    if plan.gone:
        print(f"  {plan.gone} of the entries shown were gone by then (replayed or purged meanwhile)")
    if plan.changed:
        print(f"  {plan.changed} of the entries shown failed again since and were kept (see media-ingest failures)")
    for uri in plan.sample:
        print(f"  e.g. {uri}")


def _rate(rate: float, count: int) -> str:
    if not rate:
        return "unlimited (--rate 0)"
    seconds = count / rate
    took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else ""
    return f"{rate:g} objects/s" + (f", about {took} for {count}" if took else "")


def _refused_without_terminal(args: argparse.Namespace, action: str) -> int | None:
    """An action that changes state asks first; with no terminal to ask on it needs ``--yes`` (exit 2 otherwise)."""
    if args.yes or sys.stdin.isatty():
        return None
    return _usage_error(
        ValueError(
            f"{action} changes state and asks for confirmation, but there is no terminal to ask on: pass --yes to "
            "run it without asking, or --dry-run to see the plan"
        )
    )


def _confirmed(args: argparse.Namespace, plan: Any, question: str) -> bool:
    if args.yes:
        return True
    _print_plan(plan, False)
    print(f"{question} [y/N] ", end="", flush=True)  # on stdout, where the plan is (input() may prompt on stderr)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from workers.ops import OperationRefused, require_reason

    try:
        ops = _operations(settings)
        plan = ops.prepare_replay(_selection(args), rate=args.rate)
        if not args.dry_run and plan.count:
            require_reason("replay", args.reason)
            refused = _refused_without_terminal(args, "replay")
            if refused is not None:
                return refused
            if not _confirmed(args, plan, f"replay these {plan.count} failure(s) as a new batch?"):
                print("nothing replayed")
                return 1
            plan = ops.run_replay(plan, reason=args.reason)
    except (ValueError, OperationRefused) as exc:
        return _usage_error(exc)
    _print_plan(plan, args.json)
    return 0


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from workers.ops import OperationRefused, require_reason

    try:
        ops = _operations(settings)
        plan = ops.prepare_purge(_selection(args))
        if not args.dry_run and plan.count:
            require_reason("purge-failures", args.reason)
            refused = _refused_without_terminal(args, "purge-failures")
            if refused is not None:
                return refused
            if not _confirmed(args, plan, f"delete these {plan.count} failure entries?"):
                print("nothing deleted")
                return 1
            plan = ops.run_purge(plan, reason=args.reason)  # exactly the entries shown, not a new selection
    except (ValueError, OperationRefused) as exc:
        return _usage_error(exc)
    _print_plan(plan, args.json)
    return 0


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.model import parse_s3_uri
    from pipeline.policy import load_policy
    from workers.ops import OperationRefused

    try:
        bucket, prefix = parse_s3_uri(args.uri)
        if args.max < 0:
            raise ValueError(f"--max {args.max}: expected a number of objects, or 0 for no cap")
        filters: dict[str, Any] = {
            "only_unlabelled": args.only_unlabelled,
            "policy_older_than": args.policy_older_than,
            "rate": args.rate,
            "max_objects": args.max,
        }
        ops = _operations(settings, with_store=True)
        policy_version = load_policy(settings.policy_file).version
        if not args.dry_run:
            refused = _refused_without_terminal(args, "backfill")
            if refused is not None:
                return refused
            if not args.yes:
                preview = ops.prepare_backfill(bucket, prefix, **filters)
                if not preview.count:
                    _print_plan(preview, args.json)
                    return 0
                question = f"enqueue up to {preview.count} object(s) under {preview.scope} as a new batch?"
                if not _confirmed(args, preview, question):
                    print("nothing enqueued")
                    return 1
        plan = ops.backfill(
            bucket, prefix, policy_version=policy_version, dry_run=args.dry_run, reason=args.reason, **filters
        )
    except (ValueError, OperationRefused) as exc:
        return _usage_error(exc)
    _print_plan(plan, args.json)
    return 0


_COUNTERS = ("queued", *OUTCOMES)


def _batch_row(batch_id: str, fields: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"batch_id": batch_id, **{c: int(fields.get(c, 0)) for c in _COUNTERS}}
    done = sum(row[c] for c in _COUNTERS[1:])
    row["state"] = "done" if row["queued"] and done >= row["queued"] else "running"
    if float(fields.get("window_end", 0)) > time.time():
        row["state"] = "open"  # an intake window still taking rounds: its queued count grows until window_end
    row["started"] = _ago(float(fields["started_at"])) if "started_at" in fields else ""
    if "finished_at" in fields and "started_at" in fields:
        row["took_s"] = round(float(fields["finished_at"]) - float(fields["started_at"]), 1)
    row.update({k: v for k, v in fields.items() if k in ("kind", "parents", "reason", "who", "prefix", "source")})
    if "window_end" in fields:
        row["window_end"] = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(float(fields["window_end"])))
    return row


def _batches(args: argparse.Namespace, settings: Settings) -> int:
    from workers.composition import batch_counters

    batches = batch_counters(settings).all()
    rows = [_batch_row(b, f) for b, f in batches.items()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    _table(rows, [("batch_id", 30), ("state", 7), *[(c, len(c)) for c in _COUNTERS], ("started", 9), ("took_s", 6)])
    return 0


def _batch(args: argparse.Namespace, settings: Settings) -> int:
    from workers.composition import batch_counters

    fields = batch_counters(settings).get(args.batch_id)
    if not fields:
        print(f"media-ingest: no batch {args.batch_id!r} (unknown, or expired)", file=sys.stderr)
        return 1
    row = _batch_row(args.batch_id, fields)
    print(json.dumps(row) if args.json else "\n".join(f"{k:>18}  {v}" for k, v in row.items()))
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    entries = _operations(settings).audit_log(args.count)
    if args.json:
        for entry in entries:
            print(json.dumps(entry))
        return 0
    rows = [dict(e, when=time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["at"]))) for e in entries]
    _table(rows, [("when", 16), ("who", 10), ("action", 14), ("count", 6), ("batch_id", 30), ("reason", 50)])
    return 0


def _trust_show(args: argparse.Namespace, settings: Settings) -> int:
    from workers.trust_cmd import show

    try:
        loaded = show(settings)
    except ValueError as exc:
        return _usage_error(ValueError(f"a trust file is not valid: {exc}"))
    if args.json:
        print(json.dumps(loaded))
        return 0
    if not any(loaded["files"].values()):
        print(
            "no trust files configured: c2pa can report 'valid' but never 'trusted'. Set MEDIA_INGEST_TRUST_ANCHORS,"
            " _ALLOWED and _CONFIG (docs/operations.md says where to get the lists)."
        )
        return 0
    for kind, path in loaded["files"].items():
        print(f"{kind:>8}: {path or '(not set)'}")
    rows = [dict(c, expires=c["not_after"][:10] + (" EXPIRED" if c["expired"] else "")) for c in loaded["certificates"]]
    print()
    _table(rows, [("kind", 7), ("name", 50), ("expires", 18), ("sha256", 16)])
    print(f"\n{len(rows)} certificates; EKUs: {', '.join(loaded['eku_oids']) or '(none)'}")
    return 0


def _trust_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from workers.trust_cmd import refresh

    dest = args.dest or settings.trust_cache_dir
    if dest is None:
        return _usage_error(ValueError("trust refresh needs --dest DIR or MEDIA_INGEST_TRUST_CACHE_DIR"))
    if not (settings.trust_anchors_url or settings.trust_allowed_url or settings.trust_config_url):
        return _usage_error(
            ValueError("nothing to refresh: set MEDIA_INGEST_TRUST_ANCHORS_URL, _ALLOWED_URL or _CONFIG_URL")
        )
    results = refresh(settings, dest, allow_drop=args.allow_drop)
    for result in results:
        print(
            json.dumps(result.__dict__)
            if args.json
            else f"{'ok  ' if result.ok else 'FAIL'} {dest / result.file} <- {result.url}: {result.detail}"
        )
    return 0 if all(r.ok for r in results) else 1


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from workers.demo import run_demo

    return run_demo(settings, keep=args.keep, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
