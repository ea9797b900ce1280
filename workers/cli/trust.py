"""``media-ingest trust show`` and ``media-ingest trust refresh``: the trust lists signers are validated against
(:mod:`workers.cli.trust_lists` reads and downloads them)."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace, _SubParsersAction
from pathlib import Path

from pipeline.settings import Settings
from workers.cli import render


def add_trust(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("trust", help="show or refresh the trust lists signers are validated against")
    commands = p.add_subparsers(dest="trust_command", required=True)
    q = commands.add_parser("show", help="certificates and EKUs the workers load")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_show)
    q = commands.add_parser("refresh", help="download MEDIA_INGEST_TRUST_*_URL into the trust cache, atomically")
    q.add_argument("--dest", type=Path, help="directory to write into (default: MEDIA_INGEST_TRUST_CACHE_DIR)")
    q.add_argument(
        "--allow-drop",
        action="store_true",
        help="accept a list with fewer than half the certificates of the copy it replaces",
    )
    q.add_argument("--json", action="store_true")
    # It starts without loading the configured trust files: it is how a file that no longer loads gets replaced.
    q.set_defaults(handler=run_refresh, check_trust=False)


def run_show(args: Namespace, settings: Settings) -> int:
    from workers.cli.trust_lists import show

    try:
        loaded = show(settings)
    except ValueError as exc:
        return render.refused(f"a trust file is not valid: {exc}")
    if args.json:
        render.json_line(loaded)
    else:
        render.trust_lists(loaded)
    return 0


def run_refresh(args: Namespace, settings: Settings) -> int:
    """Exit 1 when a list could not be replaced (the last good copy is kept)."""
    from workers.cli.trust_lists import refresh

    dest = args.dest or settings.trust_cache_dir
    if dest is None:
        return render.refused("trust refresh needs --dest DIR or MEDIA_INGEST_TRUST_CACHE_DIR")
    if not (settings.trust_anchors_url or settings.trust_allowed_url or settings.trust_config_url):
        return render.refused("nothing to refresh: set MEDIA_INGEST_TRUST_ANCHORS_URL, _ALLOWED_URL or _CONFIG_URL")
    results = refresh(settings, dest, allow_drop=args.allow_drop)
    for result in results:
        if args.json:
            render.json_line(result.__dict__)
        else:
            render.refreshed(str(dest / result.file), result.ok, result.url, result.detail)
    return 0 if all(r.ok for r in results) else 1
