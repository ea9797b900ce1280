"""``python -m bench``: the c2pa read limit, a naive loop and the pipeline, on one realistic size mix, side by side.

1. limit — c2pa-python reading each file's bytes from memory in a loop, one core, the pipeline's trust settings;
2. naive — one process: GET -> c2pa -> CopyObject -> XADD per object, sequentially (plain boto3/redis/c2pa);
3. pipeline — uploads -> S3 notifications -> SQS -> ``media-ingest intake sqs`` -> Redis -> ``media-ingest worker``
   (N processes) -> label stream: a burst of the whole mix, a burst per size class, then paced uploads at half the
   burst's throughput for steady-state latency.

Exit status 1 only when the pipeline left objects without a record or labelled one differently from what its
media says (a broken pipeline, not a slow one): nothing here asserts a timing.

Servers are started here (an embedded Valkey and moto's S3+SQS server on loopback) and share the machine's cores
with the workers, the intake and the upload threads; the report says who used how much CPU. Media are generated
and cached under bench/out/media. Results: a table on stdout, bench/out/results.json (``--json`` prints it) and,
with matplotlib installed, bench/out/latency.png and bench/out/throughput_by_size.png.

``python -m bench large --mb 1024`` is the separate 1 GB video benchmark (see :mod:`bench.large`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import cluster, phases, report
from bench import profile as profiling
from bench.limit import run_limit
from bench.media import (
    OUT,
    SIZE_CLASSES,
    Media,
    MixSpec,
    Planned,
    SizeClass,
    build_media,
    cycle_plan,
    describe,
    load_pki,
    plan_objects,
)
from bench.naive import run_naive, run_upload_only
from bench.stats import ratio

QUICK = {
    "small": 60,
    "medium": 4,
    "large": 1,
    "large_mb": 10,
    "small_distinct": 12,
    "medium_distinct": 4,
    "steady_seconds": 8.0,
    "limit_seconds": 0.05,
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=400, help="objects of 50-500 KB images (default 400)")
    parser.add_argument("--medium", type=int, default=24, help="objects of 2-20 MB images (default 24)")
    parser.add_argument("--large", type=int, default=2, help="large videos (default 2)")
    parser.add_argument("--large-mb", type=int, default=50, help="size of each large video in MB (default 50)")
    parser.add_argument("--small-distinct", type=int, default=24, help="distinct small files the objects reuse")
    parser.add_argument("--medium-distinct", type=int, default=8, help="distinct medium files the objects reuse")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (Celery concurrency, default 2)")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"], help="Celery pool (prefork)")
    parser.add_argument("--upload-threads", type=int, default=2, help="concurrent uploaders (default 2)")
    parser.add_argument("--steady-seconds", type=float, default=30.0, help="length of the paced run (default 30)")
    parser.add_argument("--limit-seconds", type=float, default=0.25, help="minimum read loop per distinct file")
    parser.add_argument(
        "--events",
        choices=sorted(cluster.EVENTS),
        default="all",
        help="bucket notifications: all = ObjectCreated:* as deployed (the worker also gets its own write-back's "
        "Copy event); put = ObjectCreated:Put only, to see what that echo costs",
    )
    parser.add_argument(
        "--s3-latency-ms",
        type=float,
        default=0.0,
        help="model S3's network latency: the pipeline and the naive loop reach moto through a proxy that delays "
        "every request this long (bench/latency.py; default 0, loopback)",
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive loop")
    parser.add_argument("--quick", action="store_true", help="small mix and short phases: a smoke run, < 1 minute")
    parser.add_argument("--json", action="store_true", help="print results.json instead of the table")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the worker during the mix burst (bench/out/profile-worker.txt)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where results.json and the plots go")
    args = parser.parse_args(argv)
    if args.quick:
        explicit = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for name, value in QUICK.items():
            if name not in explicit:
                setattr(args, name, value)
    return args


def machine() -> str:
    versions = {name: metadata.version(name) for name in ("c2pa-python", "celery", "boto3", "moto")}
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, " + ", ".join(
        f"{k} {v}" for k, v in versions.items()
    )


def mix_text(counts: dict[SizeClass, int], described: dict[str, Any]) -> str:
    parts = []
    for size_class, count in counts.items():
        if count and size_class in described:
            d = described[size_class]
            span = f"{d['min_bytes'] / 1e6:.2f}-{d['max_bytes'] / 1e6:.2f} MB"
            what = "videos" if size_class == "large" else "images"
            parts.append(f"{count} {size_class} {what} ({span}, {d['distinct_files']} files)")
    return "; ".join(parts) + "; variants: AI trusted/untrusted, camera trusted, unsigned"


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    pki = load_pki()
    spec = MixSpec(args.small_distinct, args.medium_distinct, args.large, args.large_mb, args.seed)
    media = build_media(spec, pki)
    counts: dict[SizeClass, int] = {"small": args.small, "medium": args.medium, "large": args.large}
    mix = plan_objects(media, counts, prefix="mix", seed=args.seed)
    described = describe(media)
    step("limit", f"c2pa reads from memory, {len({p.media.path for p in mix})} distinct files")
    limit = run_limit(mix, pki.c2pa_settings(), min_seconds=args.limit_seconds)
    result: dict[str, Any] = {
        "meta": {
            "started": started,
            "machine": machine(),
            "workers": args.workers,
            "events": cluster.EVENTS[args.events],
            "upload_threads": args.upload_threads,
            "s3_latency_ms": args.s3_latency_ms,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "mix_text": mix_text(counts, described),
            "sharing": (
                f"the {args.workers} worker processes (and their C2PA reader children) share {os.cpu_count()} cores "
                f"with moto's S3+SQS server (one Python process), Valkey, the intake and {args.upload_threads} "
                "upload threads in this process; the limit ran alone, the upload-only and naive runs after the "
                "pipeline stopped, with moto and Valkey only"
            ),
        },
        "media": described,
        "limit": limit,
    }
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="media-ingest-bench-")))
        srv = stack.enter_context(cluster.servers(stack, workdir, pki, latency_ms=args.s3_latency_ms))
        queue_url = cluster.wire_bucket(srv, events=args.events)
        step("pipeline", f"starting worker ({args.workers} processes) and intake")
        pipe = cluster.start_pipeline(stack, srv, queue_url, concurrency=args.workers, pool=args.pool)
        result["pipeline"] = run_pipeline(srv, pipe, media, mix, counts, args)
        cluster.stop_pipeline(pipe)
        if not args.skip_naive:
            step("upload", f"{len(mix)} objects into a bucket without notifications")
            result["upload_only"] = run_upload_only(srv, mix, threads=args.upload_threads)
            step("naive", f"{len(mix)} objects, one at a time")
            result["naive"] = run_naive(srv, mix, pki.c2pa_settings())
    result["ratios"] = ratios(result)
    return result


def run_pipeline(
    srv: cluster.Servers,
    pipe: cluster.Pipeline,
    media: dict[SizeClass, list[Media]],
    mix: list[Planned],
    counts: dict[SizeClass, int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Warm-up, the mix burst, one burst per size class, then paced uploads at half the mix burst's throughput."""
    threads = args.upload_threads
    warm = plan_objects(media, {"small": 2 * args.workers}, prefix="w", seed=args.seed)
    phases.warm_up(srv, pipe, warm, threads=threads)
    step("pipeline", f"burst: {len(mix)} objects of the mix")
    profile_path = args.out / "profile-worker.txt"
    with profiling.sampling(pipe.worker.pid, profile_path) if args.profile else contextlib.nullcontext(False) as on:
        burst = phases.run_phase(srv, pipe, mix, name="burst (mix)", threads=threads)
    if on and profile_path.exists():
        burst["profile"] = {"file": str(profile_path), "share_percent": profiling.categorise(profile_path)}
    by_class = {}
    for size_class in SIZE_CLASSES:
        if counts[size_class]:
            plan = plan_objects(media, {size_class: counts[size_class]}, prefix=f"class-{size_class}", seed=args.seed)
            step("pipeline", f"burst: {len(plan)} {size_class} objects")
            by_class[size_class] = phases.run_phase(srv, pipe, plan, name=f"burst ({size_class})", threads=threads)
    steady = None
    rate = burst["objects_per_s"] / 2
    if args.steady_seconds > 0 and rate > 0:
        plan = cycle_plan(mix, max(10, round(rate * args.steady_seconds)), prefix="steady")
        step("pipeline", f"steady: {len(plan)} objects paced at {rate:.1f}/s (half the burst's throughput)")
        steady = phases.run_phase(srv, pipe, plan, name="steady", threads=max(threads, 4), rate=rate)
    return {
        "burst": burst,
        "by_class": by_class,
        "steady": steady,
        "memory": cluster.worker_memory(pipe),
    }


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """The comparisons the issue asks for, overall and per size class (each pipeline class from its own burst)."""
    limit, naive, pipe = result["limit"], result.get("naive", {}), result["pipeline"]
    phases_by = {"overall": pipe["burst"], **pipe["by_class"]}
    classes = [c for c in ("overall", *SIZE_CLASSES) if c in limit]
    return {
        "cpu_pipeline_over_limit": {
            c: round(ratio(phases_by[c]["worker_cpu_ms_per_object"], limit[c]["cpu_ms_per_object"]), 2)
            for c in classes
            if c in phases_by
        },
        "throughput_pipeline_over_naive": {
            c: round(ratio(phases_by[c]["objects_per_s"], naive[c]["objects_per_s"]), 2)
            for c in classes
            if c in phases_by and c in naive
        },
        "cpu_naive_over_limit": {
            c: round(ratio(naive[c]["cpu_ms_per_object"], limit[c]["cpu_ms_per_object"]), 2)
            for c in classes
            if c in naive
        },
    }


def step(what: str, detail: str) -> None:
    """Progress on stderr, so ``--json`` output stays clean."""
    print(f"{time.strftime('%H:%M:%S')} {what:<9} {detail}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["large"]:
        from bench.large import main as large_main

        return large_main(argv[1:])
    args = parse_args(argv)
    began = time.perf_counter()
    result = run(args)
    result["meta"]["run_seconds"] = round(time.perf_counter() - began, 1)
    text = report.write_json(result, args.out / "results.json")
    plots = report.plot(result, args.out)
    if args.json:
        print(text)
    else:
        print(report.render(result))
        print(f"\nwrote {args.out / 'results.json'}" + "".join(f", {p}" for p in plots))
    return 1 if report.failed(result) else 0


if __name__ == "__main__":
    raise SystemExit(main())
