"""How work comes in: ``media-ingest intake sqs|redis`` (the bridges from storage notifications to worker tasks)
and ``media-ingest submit`` (objects named by hand, under a batch id)."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace, _SubParsersAction
from typing import TYPE_CHECKING

from pipeline.settings import Settings
from workers.cli import render

if TYPE_CHECKING:
    from workers.composition import IntakeSource


def add_intake(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("intake", help="bridge storage event notifications to worker tasks")
    sources = p.add_subparsers(dest="source", required=True)
    p.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port")
    q = sources.add_parser("sqs", help="long-poll an SQS queue of S3 event notifications")
    q.add_argument("queue_url")
    q.set_defaults(handler=run_sqs_intake)
    q = sources.add_parser("redis", help="drain MinIO's Redis notification list (access format)")
    q.add_argument("key")
    q.set_defaults(handler=run_redis_intake)


def add_submit(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("submit", help="enqueue objects by URI (s3://bucket/key) under a batch id")
    p.add_argument("uris", nargs="+")
    p.add_argument("--batch", help="batch id (default: a new one)")
    p.set_defaults(handler=run_submit)


def run_sqs_intake(args: Namespace, settings: Settings) -> int:
    return _run_intake(args, settings, "sqs", args.queue_url)


def run_redis_intake(args: Namespace, settings: Settings) -> int:
    return _run_intake(args, settings, "redis", args.key)


def _run_intake(args: Namespace, settings: Settings, source: IntakeSource, address: str) -> int:
    """Run the intake until it is stopped; with a metrics port, ready while it polls successfully."""
    from workers.composition import build_intake, serve_metrics

    intake = build_intake(settings, source, address)
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        serve_metrics(settings, port, intake.problem)
    return intake.run()


def run_submit(args: Namespace, settings: Settings) -> int:
    from pipeline.model import ObjectRef
    from workers.api import submit

    try:
        refs = [ObjectRef.from_uri(uri) for uri in args.uris]
    except ValueError as exc:
        return render.refused(exc)
    batch_id = submit(refs, args.batch, settings=settings)
    render.json_line({"batch_id": batch_id, "queued": len(refs)})
    return 0
