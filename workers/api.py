"""Submitting objects from Python, for a platform backend that knows its uploads before any event arrives.

    from workers.api import submit
    batch_id = submit(["s3://uploads/u/42/photo.jpg"], batch_id="upload-session-42")

Without ``settings`` it reads ``MEDIA_INGEST_*`` when called, as every entry point does. Each object becomes one task
under the batch, whose counters ``media-ingest batch ID`` shows; the label record arrives on the label stream.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from pipeline.model import ObjectRef
from pipeline.settings import Settings, load_settings
from workers.composition import batch_counters
from workers.intake import new_batch_id
from workers.tasks import publisher


@functools.cache
def _environment_settings() -> Settings:
    """The settings from the environment, read once per process: a backend calls :func:`submit` per upload, and it
    publishes tasks only (the trust files are for the workers, which check them when they start)."""
    return load_settings(check_trust=False)


def submit(objects: Iterable[str | ObjectRef], batch_id: str | None = None, *, settings: Settings | None = None) -> str:
    """Enqueue every object (``s3://bucket/key`` or an :class:`ObjectRef`) under one batch; returns the batch id."""
    refs = [o if isinstance(o, ObjectRef) else ObjectRef.from_uri(o) for o in objects]
    settings = settings if settings is not None else _environment_settings()
    batch = batch_id or new_batch_id("submit")
    counters = batch_counters(settings)
    counters.describe(batch, kind="submit")
    tasks = publisher(settings)
    for ref in refs:
        tasks.one(ref, batch)
    counters.count(batch, "queued", len(refs))
    return batch
