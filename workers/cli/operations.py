"""Operator actions on what failed and on what storage never announced: ``failures``, ``replay``,
``purge-failures``, ``backfill`` and their ``audit`` log (:mod:`workers.ops` carries them out).

An action that changes state shows its plan and asks first; with no terminal to ask on it needs ``--yes`` (exit 2
otherwise), and a declined plan exits 1. Refusals (bad filters, a missing reason, a scope another action holds)
are one line on stderr and exit 2.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser, Namespace, _SubParsersAction
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.settings import Settings
from workers.cli import render

if TYPE_CHECKING:
    from pipeline.failures import FailureFilter
    from workers.ops import Operations, Plan


def _add_filters(p: ArgumentParser) -> None:
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


RATE = "at most N objects per second (default 50; 0: unlimited)"
YES_WITHOUT_A_TERMINAL = "do not ask for confirmation (needed without a terminal)"


def _add_confirmation(p: ArgumentParser, handler: Callable[[Namespace, Settings], int], *, yes: str) -> None:
    """The last flags of an action that changes state: ``--yes`` (do not ask) and ``--json`` (the plan as JSON)."""
    p.add_argument("--yes", action="store_true", help=yes)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handler)


def add_failures(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("failures", help="list what failed (or was skipped), grouped by error class")
    _add_filters(p)
    p.add_argument("--json", action="store_true", help="one JSON entry per line")
    p.set_defaults(handler=run_failures)


def add_replay(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="re-enqueue the selected failures as a new batch")
    _add_filters(p)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument("--dry-run", action="store_true", help="print the count and a sample; change nothing")
    p.add_argument("--rate", type=float, help=RATE)
    _add_confirmation(p, run_replay, yes=YES_WITHOUT_A_TERMINAL)


def add_purge(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("purge-failures", help="delete the selected failure entries")
    _add_filters(p)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument("--dry-run", action="store_true")
    _add_confirmation(p, run_purge, yes="do not ask for confirmation")


def add_backfill(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("backfill", help="enqueue what under s3://bucket/prefix needs (re)labelling (reconcile)")
    p.add_argument("uri", help="s3://bucket[/prefix]")
    p.add_argument("--rate", type=float, help=RATE)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only-unlabelled", action="store_true", help="only objects without an aigc-policy label")
    which.add_argument("--policy-older-than", metavar="V", help="only objects labelled under a policy before V")
    p.add_argument("--reason", default="backfill", help="kept in the audit log")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--max", type=int, default=10_000, metavar="N", help="enqueue at most N objects (0: no cap)")
    _add_confirmation(p, run_backfill, yes=YES_WITHOUT_A_TERMINAL)


def add_audit(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="who replayed, purged or backfilled what, when and why")
    p.add_argument("--json", action="store_true")
    p.add_argument("--count", type=int, default=50)
    p.set_defaults(handler=run_audit)


def _selection(args: Namespace) -> FailureFilter:
    """The failure filter the flags name; ValueError (a refusal) for a bad ``--since`` or ``--prefix``."""
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


def _operations(settings: Settings, *, with_store: bool = False) -> Operations:
    from workers.composition import operations

    return operations(settings, with_store=with_store, progress=render.progress)


def run_failures(args: Namespace, settings: Settings) -> int:
    from pipeline.failures import by_error_class

    try:
        selection = _selection(args)
    except ValueError as exc:
        return render.refused(exc)
    entries = _operations(settings).failures(selection)
    if args.json:
        render.json_lines(entries)
    else:
        render.failures(entries, by_error_class(entries), selection.scope())
    return 0


def _refused_without_terminal(args: Namespace, action: str) -> int | None:
    """An action that changes state asks first; with no terminal to ask on it needs ``--yes`` (exit 2 otherwise)."""
    if args.yes or sys.stdin.isatty():
        return None
    return render.refused(
        f"{action} changes state and asks for confirmation, but there is no terminal to ask on: pass --yes to "
        "run it without asking, or --dry-run to see the plan"
    )


def _confirmed(args: Namespace, plan: Plan, question: str) -> bool:
    if args.yes:
        return True
    render.plan(plan, False)
    return render.ask(question)


def run_replay(args: Namespace, settings: Settings) -> int:
    from workers.ops import OperationRefused

    try:
        ops = _operations(settings)
        plan = ops.prepare_replay(_selection(args), rate=args.rate)
        question = f"replay these {plan.count} failure(s) as a new batch?"
        return _carry_out(args, "replay", plan, question, lambda: ops.run_replay(plan, reason=args.reason))
    except (ValueError, OperationRefused) as exc:
        return render.refused(exc)


def run_purge(args: Namespace, settings: Settings) -> int:
    from workers.ops import OperationRefused

    try:
        ops = _operations(settings)
        plan = ops.prepare_purge(_selection(args))
        question = f"delete these {plan.count} failure entries?"
        # exactly the entries shown, not a new selection
        return _carry_out(args, "purge-failures", plan, question, lambda: ops.run_purge(plan, reason=args.reason))
    except (ValueError, OperationRefused) as exc:
        return render.refused(exc)


DECLINED = {"replay": "nothing replayed", "purge-failures": "nothing deleted", "backfill": "nothing enqueued"}
"""What a command says when the operator answers no (exit 1)."""


def _carry_out(args: Namespace, action: str, plan: Plan, question: str, run: Callable[[], Plan]) -> int:
    """Show ``plan`` with ``--dry-run`` (or when it would act on nothing); otherwise, given a reason, ask (or take
    ``--yes``), ``run`` it and show what it did. Raises :class:`~workers.ops.OperationRefused` without a reason."""
    from workers.ops import require_reason

    if not args.dry_run and plan.count:
        require_reason(action, args.reason)
        refusal = _refused_without_terminal(args, action)
        if refusal is not None:
            return refusal
        if not _confirmed(args, plan, question):
            print(DECLINED[action])
            return 1
        plan = run()
    render.plan(plan, args.json)
    return 0


def run_backfill(args: Namespace, settings: Settings) -> int:
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
            refusal = _refused_without_terminal(args, "backfill")
            if refusal is not None:
                return refusal
            if not args.yes:
                preview = ops.prepare_backfill(bucket, prefix, **filters)
                if not preview.count:
                    render.plan(preview, args.json)
                    return 0
                question = f"enqueue up to {preview.count} object(s) under {preview.scope} as a new batch?"
                if not _confirmed(args, preview, question):
                    print(DECLINED["backfill"])
                    return 1
        plan = ops.backfill(
            bucket, prefix, policy_version=policy_version, dry_run=args.dry_run, reason=args.reason, **filters
        )
    except (ValueError, OperationRefused) as exc:
        return render.refused(exc)
    render.plan(plan, args.json)
    return 0


def run_audit(args: Namespace, settings: Settings) -> int:
    entries = _operations(settings).audit_log(args.count)
    if args.json:
        render.json_lines(entries)
    else:
        render.audit(entries)
    return 0
