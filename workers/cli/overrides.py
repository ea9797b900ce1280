"""``media-ingest override s3://bucket/key --label LABEL --reason TEXT [--version-id V] [--force] [--revoke]``:
set one object version's label by hand, or restore the pipeline's own (:mod:`workers.overrides` does it); and
``media-ingest overrides``, the overrides in force.

Like the other operator actions: the plan is shown first (``--dry-run`` stops there, ``--json`` prints it as JSON),
a change asks for confirmation (``--yes`` without a terminal), refusals are one line on stderr and exit 2.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser, Namespace, _SubParsersAction
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError
from pipeline.model import LABELS
from pipeline.settings import Settings
from workers.cli import render

if TYPE_CHECKING:
    from workers.overrides import OverridePlan


def add_override(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser(
        "override",
        help="set one object's label by hand (an appeal, a correction), or --revoke to restore the pipeline's",
    )
    p.add_argument("uri", help="s3://bucket/key")
    p.add_argument("--label", choices=LABELS, help="the label the object is to carry")
    p.add_argument("--reason", required=True, help="why (on the record and in the audit log)")
    p.add_argument("--version-id", metavar="V", help="the object version (default: the current one)")
    p.add_argument("--force", action="store_true", help="override a label its credentials lock (AI, valid/trusted)")
    p.add_argument("--revoke", action="store_true", help="remove the override: republish the pipeline's own label")
    p.add_argument("--dry-run", action="store_true", help="show what would happen; change nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--json", action="store_true", help="the plan (and the record published) as JSON")
    p.set_defaults(handler=run_override)


def run_override(args: Namespace, settings: Settings) -> int:
    from workers.composition import override_operations
    from workers.ops import OperationRefused, _user

    if not args.revoke and args.label is None:
        return render.refused("override needs --label LABEL (or --revoke to restore the pipeline's own label)")
    try:
        with override_operations(settings, who=_user()) as overrides:
            plan = overrides.prepare(
                args.uri, label=args.label, revoke=args.revoke, version_id=args.version_id, force=args.force
            )
            if not args.dry_run:
                if not args.yes and not sys.stdin.isatty():
                    return render.refused(
                        "override changes a label and asks for confirmation, but there is no terminal to ask on: "
                        "pass --yes to run it without asking, or --dry-run to see the plan"
                    )
                if not args.yes:
                    show(plan, as_json=False)
                    if not render.ask(f"{plan.action} the label of {plan.uri}?"):
                        print("nothing changed")
                        return 1
                plan = overrides.run(plan, reason=args.reason)
    except (ValueError, OperationRefused) as exc:
        return render.refused(exc)
    except PipelineError as exc:  # the object is not there, S3 or Redis not reachable, ...: one line, exit 2
        return render.refused(f"{args.uri}: {type(exc).__name__}: {exc}")
    show(plan, as_json=args.json)
    return 0


def show(plan: OverridePlan, *, as_json: bool) -> None:
    if as_json:
        render.json_line(plan.to_dict())
        return
    verb = "would set" if plan.dry_run else "set"
    if plan.action == "revoke":
        verb = "would restore" if plan.dry_run else "restored"
    print(f"{plan.action}: {verb} {plan.uri} to {plan.label} (now {plan.current_label})")
    print(f"  version: {plan.version_id or '(unversioned)'}  etag: {plan.etag}")
    overridden = "an override is in force" if plan.overridden else "no override"
    print(f"  pipeline's own label: {plan.judged_label} ({plan.provenance}); {overridden}")
    print(f"  locked: {'yes' if plan.locked else 'no (appealable)'}")
    if plan.note:
        print(f"  {plan.note}")
    if plan.status:
        print(f"  outcome: {plan.status}")


def add_overrides(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("overrides", help="the labels operators set by hand (media-ingest override), newest first")
    p.add_argument("--prefix", metavar="S3_URI", help="only objects under s3://bucket[/prefix]")
    p.add_argument("--all", action="store_true", help="revocations too (default: only overrides in force)")
    p.add_argument("--count", type=int, default=1000, help="look at the newest N kept (default 1000)")
    p.add_argument("--json", action="store_true", help="one JSON entry per line")
    p.set_defaults(handler=run_overrides)


def run_overrides(args: Namespace, settings: Settings) -> int:
    from pipeline.adapters.redis_store import RedisOverrideStore, connect
    from pipeline.model import parse_s3_uri, s3_uri

    try:
        bucket, prefix = parse_s3_uri(args.prefix) if args.prefix else (None, "")
        if args.count < 1:
            raise ValueError(f"--count {args.count}: expected a positive number of entries")
        entries = RedisOverrideStore(connect(settings.redis_url), prefix=settings.key_prefix).entries(args.count)
    except ValueError as exc:
        return render.refused(exc)
    except PipelineError as exc:
        return render.refused(f"{type(exc).__name__}: {exc}")
    shown = [
        {**e, "uri": s3_uri(e["bucket"], e["key"])}
        for e in entries
        if (args.all or e.get("kind") == "set")
        and (bucket is None or (e.get("bucket") == bucket and str(e.get("key", "")).startswith(prefix)))
    ]
    if args.json:
        render.json_lines(shown)
    else:
        columns = [("at", 25), ("who", 10), ("kind", 7), ("label", 14), ("previous_label", 14), ("uri", 40)]
        render.table(shown, [*columns, ("reason", 40)])
    return 0
