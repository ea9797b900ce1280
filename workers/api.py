"""Submitting objects from Python, for a platform backend that knows its uploads before any event arrives.

    from workers.api import submit
    batch_id = submit(["s3://uploads/u/42/photo.jpg"], batch_id="upload-session-42")

Reads ``MEDIA_INGEST_*`` like every process (through :mod:`workers.app`). Each object becomes one task under the
batch, whose counters ``media-ingest batch ID`` shows; the label record arrives on the label stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.model import ObjectRef
from workers.app import settings
from workers.composition import batch_counters
from workers.intake import new_batch_id
from workers.tasks import enqueue


def submit(objects: Iterable[str | ObjectRef], batch_id: str | None = None) -> str:
    """Enqueue every object (``s3://bucket/key`` or an :class:`ObjectRef`) under one batch; returns the batch id."""
    refs = [o if isinstance(o, ObjectRef) else ObjectRef.from_uri(o) for o in objects]
    batch = batch_id or new_batch_id("submit")
    counters = batch_counters(settings)
    counters.describe(batch, kind="submit")
    for ref in refs:
        enqueue(ref, batch)
    counters.count(batch, "queued", len(refs))
    return batch
