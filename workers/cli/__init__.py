"""``media-ingest``: the command line, one module per command family (worker, intake and submit, inspect,
operator actions on failures and backfills, batches, trust lists, demo) and one that prints (:mod:`.render`).

:func:`main` is the entry point: it loads the settings once, sets up logging and hands both to the command. Each
command imports what it needs when it runs, so ``inspect`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipeline.settings import SettingsError, load_settings
from workers.cli import batches, demo, inspect, intake, operations, overrides, trust, worker
from workers.cli.render import configuration_error

COMMANDS = (
    worker.add_worker,
    intake.add_intake,
    inspect.add_inspect,
    intake.add_submit,
    operations.add_failures,
    operations.add_replay,
    operations.add_purge,
    operations.add_backfill,
    batches.add_batches,
    batches.add_batch,
    operations.add_audit,
    overrides.add_override,
    overrides.add_overrides,
    trust.add_trust,
    demo.add_demo,
)
"""Every sub-command, in the order ``media-ingest --help`` lists them. Each adds its parser to the sub-parsers,
with the ``handler(args, settings)`` that runs it."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        # A command may start without loading the trust files: `trust refresh` replaces one that no longer loads.
        settings = load_settings(check_trust=getattr(args, "check_trust", True))
    except SettingsError as exc:
        return configuration_error(exc)
    from pipeline.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(args.handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="media-ingest",
        description="Label AI-generated content at upload time from C2PA Content Credentials (docs/operations.md).",
    )
    sub = parser.add_subparsers(dest="command")
    for add in COMMANDS:
        add(sub)
    return parser
