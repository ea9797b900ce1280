"""Selecting failure-store entries for operators. Pure: filters over the entries' plain dicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class FailureFilter:
    """What ``failures``, ``replay`` and ``purge-failures`` act on. Unset fields match everything."""

    batch: str | None = None
    error_class: str | None = None
    since: float | None = None
    """Unix time: entries whose last failure is at or after it."""
    bucket: str | None = None
    prefix: str = ""
    disposition: str | None = "failed"
    """``failed`` by default: skips (object gone or replaced) are not replayed unless asked for."""

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            (self.batch is None or entry.get("batch_id") == self.batch)
            and (self.error_class is None or entry.get("error_class") == self.error_class)
            and (self.since is None or float(entry.get("last_at", 0)) >= self.since)
            and (self.bucket is None or entry.get("bucket") == self.bucket)
            and str(entry.get("key", "")).startswith(self.prefix)
            and (self.disposition is None or entry.get("disposition") == self.disposition)
        )

    def scope(self) -> str:
        """A stable name for the selection (one replay at a time per scope)."""
        parts = [f"{k}={v}" for k, v in sorted(self.__dict__.items()) if v not in (None, "")]
        return ",".join(parts) or "all"


def select(entries: Iterable[dict[str, Any]], selection: FailureFilter) -> list[dict[str, Any]]:
    return [e for e in entries if selection.matches(e)]


def by_error_class(entries: Iterable[dict[str, Any]]) -> list[tuple[str, int]]:
    """Error classes with their counts, most frequent first."""
    return Counter(str(e.get("error_class")) for e in entries).most_common()


def parse_since(text: str, now: datetime) -> float:
    """``30m``, ``6h``, ``2d`` ago, or an ISO-8601 time; returns Unix time."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[:-1].isdigit() and text[-1:] in units:
        return (now - timedelta(**{units[text[-1]]: int(text[:-1])})).timestamp()
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"--since {text!r}: expected e.g. 30m, 6h, 2d or an ISO-8601 time") from None
