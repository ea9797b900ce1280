"""Pipeline phases: a burst of uploads (max throughput) and paced uploads (latency at a given load).

Each phase snapshots the CPU of every party sharing the machine, the worker's stage histograms and the batch
counters before the first upload and again once the pipeline is drained (SQS, Celery queue, unacked tasks and
the echo tasks of the metadata write-backs all done), so the worker's CPU per object includes all the work an
object causes. Throughput and latency come from the label stream: a record's time is the stream entry ID that
Redis assigned, so the benchmark reading the stream late (it is busy uploading) does not inflate latencies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench import cluster
from bench.cluster import Pipeline, Servers
from bench.media import SIZE_CLASSES, Planned
from bench.stats import latency_summary
from pipeline.model import OUTCOMES


@dataclass(frozen=True)
class Upload:
    started: float
    done: float
    due: float | None = None
    """When a paced upload was scheduled to start (None in a burst)."""


def _timed_upload(s3: Any, item: Planned, due: float | None = None, bucket: str = cluster.BUCKET) -> Upload:
    started = time.time()
    cluster.upload(s3, item.key, item.media.path, item.media.mime, bucket)
    return Upload(started, time.time(), due)


def upload_burst(s3: Any, plan: Sequence[Planned], *, threads: int, bucket: str = cluster.BUCKET) -> dict[str, Upload]:
    """Every object as fast as ``threads`` uploaders can send them (independent clients, not one serial loop)."""
    with ThreadPoolExecutor(threads, thread_name_prefix="upload") as pool:
        done = list(pool.map(lambda item: _timed_upload(s3, item, None, bucket), plan))
    return {item.key: up for item, up in zip(plan, done, strict=True)}


def upload_paced(s3: Any, plan: Sequence[Planned], *, rate: float, threads: int) -> dict[str, Upload]:
    """Start one upload every ``1/rate`` s on a fixed schedule; uploaders run concurrently, so a slow large upload
    does not delay the ones after it (unless all ``threads`` are busy: the lag is reported)."""
    start = time.time() + 0.2
    with ThreadPoolExecutor(threads, thread_name_prefix="paced") as pool:
        futures = []
        for index, item in enumerate(plan):
            due = start + index / rate
            time.sleep(max(0.0, due - time.time()))
            futures.append(pool.submit(_timed_upload, s3, item, due))
        results = [f.result() for f in futures]
    return {item.key: up for item, up in zip(plan, results, strict=True)}


def run_phase(
    srv: Servers,
    pipe: Pipeline,
    plan: Sequence[Planned],
    *,
    name: str,
    threads: int,
    rate: float | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Upload ``plan`` (a burst, or paced at ``rate`` objects/s), wait for every label and a drained pipeline.

    Without ``timeout``, a stalled pipeline is given up on after a generous allowance for the plan's size
    (60 s + 0.5 s per object + 1 s per 5 MB); the missing objects are reported, not waited for forever.
    """
    if timeout is None:
        timeout = 60 + 0.5 * len(plan) + sum(p.media.size for p in plan) / 5e6
    since = cluster.stream_tail(srv)
    stages0, counts0, cpu0 = cluster.stage_seconds(pipe), cluster.task_counts(srv), cluster.cpu_sample(srv, pipe)
    if rate is None:
        uploads = upload_burst(srv.s3, plan, threads=threads)
    else:
        uploads = upload_paced(srv.s3, plan, rate=rate, threads=threads)
    seen = cluster.collect(srv, since, {p.key for p in plan}, timeout=timeout, alive=pipe.alive)
    settled = cluster.wait_drained(srv, pipe)
    stages1, counts1, cpu1 = cluster.stage_seconds(pipe), cluster.task_counts(srv), cluster.cpu_sample(srv, pipe)
    result = summarise(name, plan, uploads, seen)
    cpu = cpu1.minus(cpu0)
    labelled = max(1, len(seen))
    result.update(
        rate_objects_per_s=None if rate is None else round(rate, 2),
        drained=settled,
        cpu_s=cpu,
        worker_cpu_ms_per_object=round(cpu["worker_total"] * 1000 / labelled, 2),
        all_cpu_ms_per_object=round(cpu["parties_total"] * 1000 / labelled, 2),
        worker_cpu_ms_per_object_by_role={
            role: round(seconds * 1000 / labelled, 2) for role, seconds in cpu["worker"].items() if seconds
        },
        tasks={k: counts1[k] - counts0[k] for k in ("queued", *OUTCOMES) if counts1[k] - counts0[k]},
        stage_ms=_stage_means(stages0, stages1),
    )
    if rate is not None:
        lags = [(u.started - u.due) * 1000 for u in uploads.values() if u.due is not None]
        result["schedule_lag_ms_max"] = round(max(lags), 1) if lags else None
    return result


def summarise(
    name: str, plan: Sequence[Planned], uploads: dict[str, Upload], seen: dict[str, cluster.Seen]
) -> dict[str, Any]:
    """Throughput from the first upload's start to the last record; latency from each upload's end to its record."""
    first = min(u.started for u in uploads.values())
    last = max((s.label_time for s in seen.values()), default=math.nan)
    seconds = last - first
    size = sum(p.media.size for p in plan if p.key in seen)
    latencies = {p.key: (seen[p.key].label_time - uploads[p.key].done) * 1000 for p in plan if p.key in seen}
    by_class = {
        c: latency_summary([latencies[p.key] for p in plan if p.media.size_class == c and p.key in latencies])
        for c in SIZE_CLASSES
        if any(p.media.size_class == c for p in plan)
    }
    wrong = [
        {
            "key": p.key,
            "expected": "/".join(p.media.expected),
            "got": f"{seen[p.key].record['label']}/{seen[p.key].record['provenance']}",
        }
        for p in plan
        if p.key in seen and (seen[p.key].record["label"], seen[p.key].record["provenance"]) != p.media.expected
    ]
    return {
        "phase": name,
        "objects": len(plan),
        "bytes": sum(p.media.size for p in plan),
        "labelled": len(seen),
        "missing": [p.key for p in plan if p.key not in seen][:10],
        "mislabelled": len(wrong),
        "mislabelled_examples": wrong[:5],
        "seconds": round(seconds, 3),
        "upload_seconds": round(max(u.done for u in uploads.values()) - first, 3),
        "objects_per_s": round(len(seen) / seconds, 2) if seen else 0.0,
        "mb_per_s": round(size / 1e6 / seconds, 2) if seen else 0.0,
        "latency_ms": latency_summary(list(latencies.values())),
        "latency_ms_by_class": by_class,
        "_latencies_ms": latencies,
        "_records": {key: s.record for key, s in seen.items()},
        "_classes": {p.key: p.media.size_class for p in plan},
    }


def _stage_means(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]]) -> dict[str, Any]:
    """Mean wall ms per stage over the phase (echo tasks only pass through ``fetch``: their GET sees the label)."""
    out: dict[str, Any] = {}
    for stage, (total, count) in after.items():
        total0, count0 = before.get(stage, (0.0, 0))
        if count > count0:
            out[stage] = {"mean_ms": round((total - total0) * 1000 / (count - count0), 2), "count": count - count0}
    return out


def warm_up(srv: Servers, pipe: Pipeline, plan: Sequence[Planned], *, threads: int) -> dict[str, Any]:
    """Process a few objects until every pool child has started its C2PA reader child (~0.3 s each, paid once per
    process), so the measured phases see a worker in its steady state."""
    result: dict[str, Any] = {}
    for attempt in range(3):
        batch = [Planned(f"warmup/{attempt}-{p.key}", p.media) for p in plan]
        result = run_phase(srv, pipe, batch, name="warm-up", threads=threads, timeout=120)
        if cluster.reader_children(pipe) >= pipe.concurrency:
            break
    return result
