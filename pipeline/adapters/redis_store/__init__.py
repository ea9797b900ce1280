"""Redis adapters of the pipeline's state, one module per concern; the only code that imports ``redis`` for it.

* :mod:`.connection` — the client (:func:`connect`), the Redis clock, and fault translation: every connection
  fault, a full Redis or a read-only replica becomes :class:`pipeline.errors.StateUnavailable` (retryable).
* :mod:`.keys` — every key name (the key layout is documented there and in docs/operations.md).
* :mod:`.labels` — the label stream, exactly once per object version (:class:`RedisLabelSink`).
* :mod:`.failures` — the failure store (:class:`RedisFailureSink`).
* :mod:`.counters` — deliveries per object version and group progress (:class:`RedisDeliveryCounter`,
  :class:`RedisGroupProgress`); :mod:`.batches` — batch counters and their index (:class:`RedisBatchCounters`).
* :mod:`.audit` — the operator audit log (:class:`RedisAuditLog`).
* :mod:`.locks` — operator scope locks (:class:`RedisScopeLocks`).
* :mod:`.overrides` — operator overrides of labels (:class:`RedisOverrideStore`).

Each class implements a protocol of :mod:`pipeline.ports`; :mod:`pipeline.adapters.memory` has the in-memory
fake the same contract tests run against. Only the composition root (``workers/composition.py``) builds them.
"""

from pipeline.adapters.redis_store.audit import RedisAuditLog
from pipeline.adapters.redis_store.batches import RedisBatchCounters
from pipeline.adapters.redis_store.connection import connect, server_time, translated
from pipeline.adapters.redis_store.counters import RedisDeliveryCounter, RedisGroupProgress
from pipeline.adapters.redis_store.failures import RedisFailureSink
from pipeline.adapters.redis_store.keys import Keys
from pipeline.adapters.redis_store.labels import RedisLabelSink
from pipeline.adapters.redis_store.locks import RedisScopeLocks
from pipeline.adapters.redis_store.overrides import RedisOverrideStore

__all__ = [
    "Keys",
    "RedisAuditLog",
    "RedisBatchCounters",
    "RedisDeliveryCounter",
    "RedisFailureSink",
    "RedisGroupProgress",
    "RedisLabelSink",
    "RedisOverrideStore",
    "RedisScopeLocks",
    "connect",
    "server_time",
    "translated",
]
