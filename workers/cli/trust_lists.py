"""What ``media-ingest trust show`` and ``media-ingest trust refresh`` do (:mod:`workers.cli.trust` parses and
prints).

``show`` lists what the workers validate signers against: every certificate in the configured anchors and allowed
list (subject, issuer, expiry, fingerprint, source file) and the EKU OIDs of the trust config.

``refresh`` downloads the lists from ``MEDIA_INGEST_TRUST_*_URL`` (https only) into
``MEDIA_INGEST_TRUST_CACHE_DIR``. A download replaces the file only if it is whole and loads: the body is as long as
the server announced, a PEM bundle holds only complete certificate blocks (no half certificate from a cut
transfer), it does not have fewer than half the certificates of the copy it replaces (unless ``--allow-drop``), and
c2pa builds its Context from it (in a short child, :func:`pipeline.credentials.trust.check_with_c2pa`). It is
written atomically (temporary file, fsync, check, rename), so a worker never reads half a file. Anything else
keeps the last good file and makes the command exit 1. Workers notice new files by their mtime and reload without
a restart.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.credentials.lote import ListInfo, list_info_path, looks_like_lote, parse_lote, read_list_info
from pipeline.credentials.trust import (
    TrustFiles,
    check_trust_config,
    check_trust_url,
    check_with_c2pa,
    describe_pem,
)
from pipeline.settings import Settings

MAX_DOWNLOAD = 20 * 1024 * 1024
FILES = (("anchors.pem", "trust_anchors_url"), ("allowed.pem", "trust_allowed_url"), ("store.cfg", "trust_config_url"))


@dataclass
class RefreshResult:
    file: str
    url: str
    ok: bool
    detail: str


def show(settings: Settings) -> dict[str, Any]:
    certificates = []
    for kind, path in (("anchor", settings.trust_anchors), ("allowed", settings.trust_allowed)):
        if path:
            for info in describe_pem(path.read_bytes(), str(path)) if path.stat().st_size else []:
                certificates.append({"kind": kind, **asdict(info)})
    config = check_trust_config(settings.trust_config.read_text()) if settings.trust_config else []
    return {
        "lists": published_lists(settings),
        "certificates": certificates,
        "eku_oids": config,
        "files": {
            "anchors": _str(settings.trust_anchors),
            "allowed": _str(settings.trust_allowed),
            "config": _str(settings.trust_config),
        },
    }


def published_lists(settings: Settings) -> list[dict[str, Any]]:
    """Each configured bundle that ``trust refresh`` made from a published list: its name, sequence, issue and
    next-update dates and whether it is stale (past its next update)."""
    out = []
    for kind, path in (("anchors", settings.trust_anchors), ("allowed", settings.trust_allowed)):
        info = _list_info(path) if path else None
        if info is not None:
            out.append({"file": kind, **info.to_dict()})
    return out


def _list_info(pem: Path) -> ListInfo | None:
    return read_list_info(pem)


def _str(path: Path | None) -> str | None:
    return str(path) if path else None


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL the first one would have been allowed to be (no https -> http downgrade)."""

    def __init__(self, allow_loopback_http: bool) -> None:
        self._allow_loopback_http = allow_loopback_http

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        try:
            check_trust_url(newurl, allow_loopback_http=self._allow_loopback_http)
        except ValueError as exc:
            fp.close()
            raise ValueError(f"redirected to {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, *, allow_loopback_http: bool = False) -> bytes:
    """The body at ``url``; ValueError if it is shorter than its Content-Length (``read(n)`` does not raise)."""
    check_trust_url(url, allow_loopback_http=allow_loopback_http)
    opener = urllib.request.build_opener(_HttpsOnlyRedirects(allow_loopback_http))
    with opener.open(url, timeout=30) as response:
        data: bytes = response.read(MAX_DOWNLOAD + 1)
        announced = response.headers.get("Content-Length")
    if len(data) > MAX_DOWNLOAD:
        raise ValueError(f"larger than {MAX_DOWNLOAD} bytes")
    if announced is not None and announced.strip().isdigit() and int(announced) != len(data):
        raise ValueError(f"truncated download: {len(data)} of the {int(announced)} bytes the server announced")
    return data


def _certificate_count(path: Path) -> int | None:
    """Certificates in the current copy; None if there is none or it does not load (nothing to compare with)."""
    try:
        return len(describe_pem(path.read_bytes(), str(path)))
    except (OSError, ValueError):
        return None


def _validate(name: str, data: bytes, current: Path, *, allow_drop: bool) -> str:
    if name.endswith(".cfg"):
        return f"{len(check_trust_config(data.decode()))} EKU OIDs"
    count = len(describe_pem(data, name))
    before = _certificate_count(current)
    if before is None:
        return f"{count} certificates"
    if count * 2 < before and not allow_drop:
        raise ValueError(
            f"{count} certificates where the last good copy has {before}: more than half gone at once (a truncated "
            "or wrong list?); check the source, then run `media-ingest trust refresh --allow-drop` to accept it"
        )
    return f"{count} certificates (the last good copy had {before})"


def _c2pa_check(name: str) -> Callable[[Path], None]:
    """Loads the candidate file in c2pa as the reader children will (anchors, allowed list or EKU config)."""

    def check(path: Path) -> None:
        if name == "anchors.pem":
            check_with_c2pa(TrustFiles(anchors=path))
        elif name == "allowed.pem":
            check_with_c2pa(TrustFiles(allowed=path))
        else:
            check_with_c2pa(TrustFiles(config=path))

    return check


def _write_atomically(path: Path, data: bytes, check: Callable[[Path], None] | None = None) -> None:
    """Temporary file beside ``path``, fsync, ``check`` it, rename over ``path``: readers see old or new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(Path(tmp))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _published(name: str, data: bytes, url: str, current: Path) -> Any:
    """A published list (ETSI TS 119 602 JSON) made into a PEM bundle; None for a PEM bundle as downloaded.

    A list whose sequence number is lower than the last good copy's is refused: an older issue (a stale mirror, a
    replayed download) must not undo a withdrawal the newer one made.
    """
    if name.endswith(".cfg") or not looks_like_lote(data):
        return None
    published = parse_lote(data, source=url)
    before = _list_info(current) if current.exists() else None
    if before is not None and published.info.sequence < before.sequence:
        raise ValueError(
            f"{published.info.name} sequence {published.info.sequence} is older than the last good copy's "
            f"({before.sequence}): an out-of-date mirror? Check the source"
        )
    return published


def refresh(settings: Settings, dest: Path, *, allow_drop: bool = False) -> list[RefreshResult]:
    """Download each configured list into ``dest``; a file is replaced only by a whole one that c2pa loads."""
    results = []
    for name, field in FILES:
        url = getattr(settings, field)
        if not url:
            continue
        try:
            data = _download(url, allow_loopback_http=settings.trust_allow_loopback_http)
            published = _published(name, data, url, dest / name)
            if published is not None:
                data = published.pem
            detail = _validate(name, data, dest / name, allow_drop=allow_drop)
            _write_atomically(dest / name, data, _c2pa_check(name))
            if published is not None:
                info = published.info
                _write_atomically(list_info_path(dest / name), json.dumps(info.__dict__, indent=1).encode())
                detail = (
                    f"{info.name}, sequence {info.sequence}, issued {info.issued[:10]}, next update "
                    f"{(info.next_update or 'none (closed)')[:10]}{' (STALE)' if info.stale() else ''}: {detail}"
                )
            else:
                list_info_path(dest / name).unlink(missing_ok=True)  # a PEM bundle now: no list information
        except (OSError, ValueError, http.client.HTTPException) as exc:
            kept = dest / name
            results.append(
                RefreshResult(
                    name,
                    url,
                    False,
                    f"{str(exc) or type(exc).__name__}; kept the last good file"
                    + ("" if kept.exists() else " (there is none yet)"),
                )
            )
            continue
        results.append(RefreshResult(name, url, True, detail))
    return results
