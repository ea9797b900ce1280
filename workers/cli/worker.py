"""``media-ingest worker``: the Celery worker that labels objects (:func:`workers.app.start_worker`)."""

from __future__ import annotations

from argparse import REMAINDER, ArgumentParser, Namespace, _SubParsersAction

from pipeline.settings import Settings, SettingsError, check_settings
from workers.cli import render


def add_worker(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the Celery worker that labels objects")
    p.add_argument("--concurrency", "-c", type=int, help="worker processes (default: CPU count)")
    p.add_argument("--pool", default="prefork", help="Celery pool (prefork, threads, solo)")
    p.add_argument("--hostname", "-n", help="node name, e.g. worker1@%%h")
    p.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port")
    p.add_argument("celery_args", nargs=REMAINDER, help="further arguments passed to celery worker")
    p.set_defaults(handler=run_worker)


def run_worker(args: Namespace, settings: Settings) -> int:
    if args.metrics_port is not None:
        try:  # the flag stands for MEDIA_INGEST_METRICS_PORT, and is checked as the variable is
            settings = check_settings(settings.with_overrides(metrics_port=args.metrics_port))
        except SettingsError as exc:
            return render.configuration_error(exc)
    from workers.app import start_worker

    argv = ["--loglevel", settings.log_level, "-Q", settings.queue, "--pool", args.pool]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    start_worker(settings, argv + [a for a in args.celery_args if a != "--"])
    return 0
