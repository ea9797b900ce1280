"""Small numeric helpers shared by the phases: percentiles and rounding for the report."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values.

    ``statistics.quantiles`` needs two values and picks a different method for small samples; a burst of a few
    videos still deserves a p99 (its maximum, near enough).
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | int]:
    """n, p50/p95/p99 and max in milliseconds (rounded: the clock and the stream's ms IDs give no better)."""
    return {
        "n": len(values_ms),
        "p50": _round(percentile(values_ms, 50)),
        "p95": _round(percentile(values_ms, 95)),
        "p99": _round(percentile(values_ms, 99)),
        "max": _round(max(values_ms) if values_ms else math.nan),
    }


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 1)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either side is missing or the denominator is zero."""
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def clean(value: object) -> object:
    """NaN -> None, recursively, so results.json is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
