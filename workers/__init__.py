"""The Celery app, its tasks (thin glue over :mod:`pipeline`), the intake bridges and the ``media-ingest`` CLI."""
