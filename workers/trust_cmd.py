"""``media-ingest trust show`` and ``media-ingest trust refresh``.

``show`` lists what the workers validate signers against: every certificate in the configured anchors and allowed
list (subject, issuer, expiry, fingerprint, source file) and the EKU OIDs of the trust config.

``refresh`` downloads the lists from ``MEDIA_INGEST_TRUST_*_URL`` into ``MEDIA_INGEST_TRUST_CACHE_DIR``. Each
download is checked (a PEM bundle with at least one certificate; a config of OIDs) and written atomically
(temporary file, fsync, rename), so a worker never reads half a file; a failed or invalid download keeps the last
good file and makes the command exit 1. Workers notice the new files by their mtime and reload without a restart.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.credentials.trust import check_trust_config, describe_pem
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
        "certificates": certificates,
        "eku_oids": config,
        "files": {
            "anchors": _str(settings.trust_anchors),
            "allowed": _str(settings.trust_allowed),
            "config": _str(settings.trust_config),
        },
    }


def _str(path: Path | None) -> str | None:
    return str(path) if path else None


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        data: bytes = response.read(MAX_DOWNLOAD + 1)
    if len(data) > MAX_DOWNLOAD:
        raise ValueError(f"larger than {MAX_DOWNLOAD} bytes")
    return data


def _validate(name: str, data: bytes) -> str:
    if name.endswith(".cfg"):
        return f"{len(check_trust_config(data.decode()))} EKU OIDs"
    return f"{len(describe_pem(data, name))} certificates"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh(settings: Settings, dest: Path, download: Callable[[str], bytes] = _download) -> list[RefreshResult]:
    results = []
    for name, field in FILES:
        url = getattr(settings, field)
        if not url:
            continue
        try:
            data = download(url)
            detail = _validate(name, data)
        except (OSError, ValueError) as exc:
            kept = dest / name
            results.append(
                RefreshResult(
                    name,
                    url,
                    False,
                    f"{exc}; kept the last good file" + ("" if kept.exists() else " (there is none yet)"),
                )
            )
            continue
        _write_atomically(dest / name, data)
        results.append(RefreshResult(name, url, True, detail))
    return results
