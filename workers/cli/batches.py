"""``media-ingest batches`` and ``media-ingest batch ID``: the batch counters (queued, and each outcome) with
what describes the batch (its kind, parents, reason, window)."""

from __future__ import annotations

import time
from argparse import ArgumentParser, Namespace, _SubParsersAction
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.model import OUTCOMES
from pipeline.settings import Settings
from workers.cli import render

if TYPE_CHECKING:
    from pipeline.ports import BatchCounters

COUNTERS = ("queued", *OUTCOMES)


def add_batches(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("batches", help="list batches with their counters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_batches)


def add_batch(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("batch", help="show one batch")
    p.add_argument("batch_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_batch)


def batch_row(batch_id: str, fields: Mapping[str, str], now: float | None = None) -> dict[str, Any]:
    """A batch as the listing shows it: its counters as numbers, and its state: ``open`` while an intake window
    still takes rounds (its queued count grows until ``window_end``), ``done`` once every queued object ended,
    ``running`` before."""
    now = time.time() if now is None else now
    row: dict[str, Any] = {"batch_id": batch_id, **{c: int(fields.get(c, 0)) for c in COUNTERS}}
    done = sum(row[c] for c in COUNTERS[1:])
    row["state"] = "done" if row["queued"] and done >= row["queued"] else "running"
    if float(fields.get("window_end", 0)) > now:
        row["state"] = "open"
    row["started"] = render.ago(float(fields["started_at"]), now) if "started_at" in fields else ""
    if "finished_at" in fields and "started_at" in fields:
        row["took_s"] = round(float(fields["finished_at"]) - float(fields["started_at"]), 1)
    row.update({k: v for k, v in fields.items() if k in ("kind", "parents", "reason", "who", "prefix", "source")})
    if "window_end" in fields:
        row["window_end"] = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(float(fields["window_end"])))
    return row


def _counters(settings: Settings) -> BatchCounters:
    from workers.composition import batch_counters

    return batch_counters(settings)


def run_batches(args: Namespace, settings: Settings) -> int:
    rows = [batch_row(b, f) for b, f in _counters(settings).all().items()]
    if args.json:
        render.json_lines(rows)
    else:
        render.batches(rows, COUNTERS)
    return 0


def run_batch(args: Namespace, settings: Settings) -> int:
    """Exit 1 for a batch that is not kept (unknown, or expired)."""
    fields = _counters(settings).get(args.batch_id)
    if not fields:
        render.problem(f"no batch {args.batch_id!r} (unknown, or expired)")
        return 1
    row = batch_row(args.batch_id, fields)
    if args.json:
        render.json_line(row)
    else:
        render.fields(row)
    return 0
