"""``media-ingest inspect PATH...``: label local files with the worker's code path (reader child, policy, record)."""

from __future__ import annotations

import time
from argparse import ArgumentParser, Namespace, _SubParsersAction
from pathlib import Path
from typing import Any

from pipeline.settings import Settings
from workers.cli import render


def add_inspect(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("inspect", help="label local files with the worker's code path")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("paths", nargs="+", type=Path)
    p.set_defaults(handler=run_inspect)


def run_inspect(args: Namespace, settings: Settings) -> int:
    """Exit 1 when a file could not be read or the reader could not start (said on stderr, no record for it)."""
    from pipeline.errors import PipelineError
    from pipeline.policy import load_policy
    from pipeline.process import assess_file
    from pipeline.record import build_record
    from workers.composition import credential_reader

    reader = credential_reader(settings)
    policy = load_policy(settings.policy_file)
    rows: list[dict[str, Any]] = []
    status = 0
    for path in args.paths:
        started = time.perf_counter()
        try:
            report, decision = assess_file(path, reader, policy)
        except OSError as exc:
            render.problem(f"cannot read {path}: {exc.strerror}")
            status = 1
            continue
        except PipelineError as exc:  # the reader could not start, or a bug of ours: no label, say why
            render.problem(f"{path}: {exc}")
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
            render.json_line(record)
        else:
            rows.append(record)
    reader.close()
    if rows:
        render.records(rows)
    return status
