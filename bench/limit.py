"""The limit: c2pa-python reading the same bytes from memory in a loop, on one core, with the pipeline's trust settings.

No S3, no Redis, no temporary file, no child process, no policy: only ``c2pa.Reader`` + ``json()``, which every
object in the pipeline pays. It is measured per distinct file (CPU time per read, repeated until a minimum time
has passed) and then weighted by the object plan, so the "overall" figure is the same mix of sizes and variants
the pipeline gets. Unsigned files count too: c2pa still scans them to find no manifest.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.media import SIZE_CLASSES, Media, Planned


@dataclass(frozen=True)
class ReadCost:
    cpu_s: float
    """CPU seconds per read (mean over the repetitions)."""
    reps: int


def read_once(data: bytes, context: Any) -> None:
    """One read as the pipeline's reader does it: format detected from the bytes, manifest store to JSON."""
    import c2pa

    try:
        with c2pa.Reader(None, io.BytesIO(data), None, context) as reader:
            reader.json()
    except c2pa.C2paError:
        pass  # no manifest (unsigned): the scan that found nothing is the cost


def measure(data: bytes, context: Any, *, min_seconds: float, min_reps: int = 3) -> ReadCost:
    read_once(data, context)  # first read pays lazy initialisation
    reps = 0
    cpu0 = time.process_time()
    deadline = time.perf_counter() + min_seconds
    while reps < min_reps or time.perf_counter() < deadline:
        read_once(data, context)
        reps += 1
    return ReadCost((time.process_time() - cpu0) / reps, reps)


def run_limit(plan: Sequence[Planned], c2pa_settings: dict[str, Any], *, min_seconds: float) -> dict[str, Any]:
    """Per-core objects/s, MB/s and CPU ms/object, overall and per size class, weighted by ``plan``."""
    import c2pa

    context = c2pa.Context.from_dict(c2pa_settings)
    distinct = {p.media.path: p.media for p in plan}
    costs: dict[Media, ReadCost] = {}
    for media in distinct.values():
        costs[media] = measure(media.path.read_bytes(), context, min_seconds=min_seconds)
    groups: dict[str, list[Media]] = {"overall": [p.media for p in plan]}
    for size_class in SIZE_CLASSES:
        members = [p.media for p in plan if p.media.size_class == size_class]
        if members:
            groups[size_class] = members
    return {
        "what": "c2pa.Reader(bytes in memory) + json(), one process, pipeline trust settings",
        **{name: summarise(members, costs) for name, members in groups.items()},
        "distinct_files": len(distinct),
        "reads": sum(c.reps for c in costs.values()),
    }


def summarise(members: Sequence[Media], costs: dict[Media, ReadCost]) -> dict[str, float]:
    cpu = sum(costs[m].cpu_s for m in members)
    size = sum(m.size for m in members)
    return {
        "objects": len(members),
        "mean_bytes": round(size / len(members)),
        "objects_per_s_per_core": round(len(members) / cpu, 1),
        "mb_per_s_per_core": round(size / 1e6 / cpu, 1),
        "cpu_ms_per_object": round(cpu * 1000 / len(members), 3),
    }
