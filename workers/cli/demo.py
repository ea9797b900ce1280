"""``media-ingest demo``: the whole flow on generated samples (:func:`workers.demo.run_demo`)."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace, _SubParsersAction

from pipeline.settings import Settings


def add_demo(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on generated samples (embedded servers if needed)")
    p.add_argument("--keep", action="store_true", help="leave the servers running until Ctrl-C")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all labels")
    p.set_defaults(handler=run_demo)


def run_demo(args: Namespace, settings: Settings) -> int:
    """Exit 0 when every sample got its expected label, 1 otherwise."""
    from workers import demo

    return demo.run_demo(settings, keep=args.keep, timeout=args.timeout)
