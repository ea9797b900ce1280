"""Spool files: where an object's body waits on local disk while its credentials are read.

A pool process killed mid-task (SIGKILL, the hard time limit, the OOM killer) never runs the code that deletes its
spool file, so each worker process sweeps the spool directory when it starts. A file is stale when it was last
written longer ago than the hard task time limit: no live task can still be using it, whichever process or host
(sharing the directory) wrote it, so the sweep needs no process ids, which differ between containers.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SPOOL_PREFIX = "media-ingest-"
SPOOL_SUFFIX = ".obj"


def sweep_stale(directory: Path | None, *, older_than: float, now: Callable[[], float] = time.time) -> int:
    """Delete spool files in ``directory`` (default: the temp dir) not written for ``older_than`` seconds.

    Returns how many were deleted. A file another sweep or its owner removed first is simply skipped.
    """
    root = directory or Path(tempfile.gettempdir())
    cutoff = now() - older_than
    removed = 0
    for path in root.glob(f"{SPOOL_PREFIX}*{SPOOL_SUFFIX}"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
