"""Every Redis key of the pipeline's own state, named in one place (the names are part of the interface).

All under ``Settings.key_prefix`` (``{p}``, default ``media-ingest``); the label stream is ``Settings.label_stream``:

* ``{p}:done:{sha}`` — string, exactly-once guard for one object version under one policy version (and, for
  versioned buckets, the ``written`` guard of a completed write-back), TTL ``done_ttl_seconds``; its value is the
  ``aigc-*`` metadata written (JSON), or a Unix time when it holds none.
* ``{p}:attempts:{sha}`` — integer, deliveries of one object version that have not finished, TTL 1 day.
* ``{p}:group:{task id}`` — integer, objects of a group task that have ended (its resume point), TTL 1 day.
* ``{p}:failures`` — hash identity -> JSON entry; ``{p}:failures:index`` — sorted set identity -> last time.
* ``{p}:batch:{id}`` — hash of counters (queued, labelled, already_labelled, duplicate, replaced, skipped, failed)
  and descriptive fields (kind, parents, reason, who; an intake window's source, window_start, window_end), TTL
  its ``ttl`` field (an intake window's ``intake_batch_ttl_seconds``) or 30 days after its last update;
  ``{p}:batches`` — sorted set batch id -> last update, the listing's index (at most 10,000, 30 days).
* ``{p}:audit`` — stream of operator actions (replay, purge-failures, backfill).
* ``{p}:ops-locks`` — hash scope -> JSON holder (owner token, who, action, expiry by the Redis clock): the operator
  actions that run, one per bucket/prefix scope; overlapping scopes exclude each other.
* ``{p}:manifest:{sha of URL}`` — string, a fetched remote C2PA manifest store (its bytes), TTL
  ``remote_manifest_cache_ttl_seconds``.
* ``{p}:manifest-flight:{sha of URL}`` — string, the token of the worker fetching that manifest now (single-flight
  claim), ``PX`` one fetch bound (connect + read timeout).

* ``{p}:override:{sha of bucket, key, ETag}`` — string, an operator's override of one object's label (or its
  revocation), JSON, no TTL; ``{p}:overrides`` — sorted set of their identities -> time set.

``{sha}`` is the first 32 hex digits of SHA-256 over an identity (:class:`pipeline.model.ObjectVersion`), so a key
stays short whatever the object's name.
"""

from __future__ import annotations

import hashlib


def digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class Keys:
    """The key names under one prefix; the adapters and the tests that look at Redis directly both use these."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.failures = f"{prefix}:failures"
        self.failures_index = f"{prefix}:failures:index"
        self.batches = f"{prefix}:batches"
        self.audit = f"{prefix}:audit"
        self.ops_locks = f"{prefix}:ops-locks"
        self.overrides = f"{prefix}:overrides"

    def guard(self, dedupe_key: str) -> str:
        """The exactly-once guard of one labelling (:meth:`pipeline.model.ObjectVersion.dedupe_key`)."""
        return f"{self.prefix}:done:{digest(dedupe_key)}"

    def attempts(self, identity: str) -> str:
        """The delivery count of one object version (:meth:`pipeline.model.ObjectVersion.identity`)."""
        return f"{self.prefix}:attempts:{digest(identity)}"

    def group(self, group_id: str) -> str:
        return f"{self.prefix}:group:{group_id}"

    def batch(self, batch_id: str) -> str:
        return f"{self.prefix}:batch:{batch_id}"

    def manifest(self, url: str) -> str:
        """A cached remote manifest store, by its URL."""
        return f"{self.prefix}:manifest:{digest(url)}"

    def override(self, identity: str) -> str:
        """An operator override, by :func:`pipeline.ports.override_identity`."""
        return f"{self.prefix}:override:{digest(identity)}"

    def manifest_flight(self, url: str) -> str:
        """The single-flight claim on fetching the remote manifest at ``url``."""
        return f"{self.prefix}:manifest-flight:{digest(url)}"
