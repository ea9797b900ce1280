"""Everything the command line prints: tables for people, JSON lines for scripts, progress bars on stderr, the
plans operators confirm, and the one line that says why a command refused. The command modules parse, call and
hand the result here; none of them formats output itself.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from workers.ops import Plan

T = TypeVar("T")

Columns = Sequence[tuple[str, int]]
"""A table's columns: the row field shown, and its width (a longer value keeps its end, after an ellipsis)."""


# --- primitives ---------------------------------------------------------------------------------------------------


def table(rows: Iterable[Mapping[str, Any]], columns: Columns) -> None:
    """Print a header of the upper-cased column names, then one line per row."""

    def cell(value: Any, width: int) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= width else "…" + text[-(width - 1) :]

    print("  ".join(name.upper().ljust(width) for name, width in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row.get(name), width).ljust(width) for name, width in columns).rstrip())


def json_line(item: Any) -> None:
    """One JSON document on one line, flushed (whoever reads a long run sees each line as it comes)."""
    print(json.dumps(item), flush=True)


def json_lines(items: Iterable[Any]) -> None:
    for item in items:
        json_line(item)


def fields(row: Mapping[str, Any]) -> None:
    """One record as ``name  value`` lines, the names right-aligned."""
    print("\n".join(f"{k:>18}  {v}" for k, v in row.items()))


def ago(ts: float, now: float | None = None) -> str:
    """``3d ago``, ``5h ago``, ``12m ago``, ``40s ago``: the largest unit that fits."""
    seconds = max(0, (time.time() if now is None else now) - float(ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def progress(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    """``items``, with a progress bar on stderr while they are consumed; none when stderr is not a terminal."""
    from tqdm import tqdm  # only the long operator commands draw one

    return iter(tqdm(items, total=total, desc=desc, unit="obj", file=sys.stderr, disable=None, leave=False))


def problem(message: str) -> None:
    """One line on stderr about one input the command could not handle (it goes on with the others)."""
    print(f"media-ingest: {message}", file=sys.stderr)


def refused(reason: object) -> int:
    """Say on stderr, in one line, why the command did nothing; returns the exit code for it (2)."""
    problem(str(reason))
    return 2


def configuration_error(reason: object) -> int:
    """A setting stops the command before it starts (exit 2)."""
    return refused(f"configuration error: {reason}")


def ask(question: str) -> bool:
    """Ask on stdout, where the plan is (``input()`` may prompt on stderr); only an explicit yes is a yes."""
    print(f"{question} [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# --- what the commands show -----------------------------------------------------------------------------------------


def records(rows: Sequence[Mapping[str, Any]]) -> None:
    """``inspect``: one line per file."""
    table(rows, [("source", 40), ("label", 14), ("provenance", 10), ("explanation", 70)])


def failures(entries: Sequence[Mapping[str, Any]], by_error_class: Sequence[tuple[str, int]], scope: str) -> None:
    """``failures``: a table per error class, the largest class first."""
    if not entries:
        print(f"no failures match ({scope})")
        return
    for error_class, count in by_error_class:
        print(f"\n{error_class} ({count})")
        group = [
            dict(e, object=f"s3://{e['bucket']}/{e['key']}", last=ago(e["last_at"]))
            for e in entries
            if e["error_class"] == error_class
        ]
        table(group, [("object", 44), ("batch_id", 28), ("attempts", 8), ("last", 8), ("message", 60)])


def plan(shown: Plan, as_json: bool) -> None:
    """What an operator action will do (``dry_run``) or did."""
    if as_json:
        json_line(shown.to_dict())
        return
    verb = "would" if shown.dry_run else "did"
    print(
        f"{shown.action}: {verb} act on {shown.count} object(s)"
        + (f" as batch {shown.batch_id}" if shown.batch_id else "")
    )
    if shown.scope:
        print(f"  scope: {shown.scope}")
    if shown.selection:
        print(f"  selection: {shown.selection}")
    if shown.rate is not None:
        print(f"  rate: {_rate(shown.rate, shown.count)}")
    if shown.limit is not None:
        print(f"  at most: {shown.limit} objects (--max)" if shown.limit else "  at most: no cap (--max 0)")
    if shown.capped and shown.dry_run:
        print(f"  more than {shown.limit} objects: it stops after the first {shown.limit} (--max)")
    if shown.note:
        print(f"  {shown.note}")
    for error_class, count in shown.by_error_class:
        print(f"  {count:>7}  {error_class}")
    if shown.skipped:
        print(f"  {shown.skipped} left alone (not replayable or not matching)")
    if shown.gone:
        print(f"  {shown.gone} of the entries shown were gone by then (replayed or purged meanwhile)")
    if shown.changed:
        print(f"  {shown.changed} of the entries shown failed again since and were kept (see media-ingest failures)")
    for uri in shown.sample:
        print(f"  e.g. {uri}")


def _rate(rate: float, count: int) -> str:
    if not rate:
        return "unlimited (--rate 0)"
    seconds = count / rate
    took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else ""
    return f"{rate:g} objects/s" + (f", about {took} for {count}" if took else "")


def audit(entries: Sequence[Mapping[str, Any]]) -> None:
    rows = [dict(e, when=time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["at"]))) for e in entries]
    table(rows, [("when", 16), ("who", 10), ("action", 14), ("count", 6), ("batch_id", 30), ("reason", 50)])


def batches(rows: Sequence[Mapping[str, Any]], counters: Sequence[str]) -> None:
    table(rows, [("batch_id", 30), ("state", 7), *[(c, len(c)) for c in counters], ("started", 9), ("took_s", 6)])


def trust_lists(loaded: Mapping[str, Any]) -> None:
    """``trust show``: the files, every certificate with its expiry, and the EKUs."""
    if not any(loaded["files"].values()):
        print(
            "no trust files configured: c2pa can report 'valid' but never 'trusted'. Set MEDIA_INGEST_TRUST_ANCHORS,"
            " _ALLOWED and _CONFIG (docs/operations.md says where to get the lists)."
        )
        return
    for kind, path in loaded["files"].items():
        print(f"{kind:>8}: {path or '(not set)'}")
    for entry in loaded.get("lists", []):
        when = (entry["next_update"] or "none (closed list)")[:10]
        print(
            f"{entry['file']:>8}: {entry['name']}, sequence {entry['sequence']}, issued {entry['issued'][:10]}, "
            f"next update {when}"
            + (" STALE: past its next update, run `media-ingest trust refresh`" if entry["stale"] else "")
        )
    rows = [dict(c, expires=c["not_after"][:10] + (" EXPIRED" if c["expired"] else "")) for c in loaded["certificates"]]
    print()
    table(rows, [("kind", 7), ("name", 50), ("expires", 18), ("sha256", 16)])
    print(f"\n{len(rows)} certificates; EKUs: {', '.join(loaded['eku_oids']) or '(none)'}")


def refreshed(file: str, ok: bool, source: str, detail: str) -> None:
    """``trust refresh``: one line per list."""
    print(f"{'ok  ' if ok else 'FAIL'} {file} <- {source}: {detail}")
