"""Which objects share one worker task: a pure decision over :class:`ObjectRef` (no I/O, no Celery).

A task costs the worker about 3.5 ms of CPU before it does any work (Celery's message handling, the ack, the
lease, the trace), which is more than c2pa needs to read a small image (docs/performance.md). Objects whose size
the event already gives and that are small enough are therefore carried several to a task; large ones, and
objects of unknown size, still get a task each, so one big video never holds small images back.

A quiet system never waits for more events: an intake groups what one poll round brought and sends it off at
once. Only while tasks already wait in the broker's queue (the workers are behind, so an object's wait there is
not made longer) does a round linger briefly for more events to fill a group (``workers.intake.Linger``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.model import ObjectRef


@dataclass(frozen=True)
class GroupingRule:
    max_objects: int = 10
    """At most this many objects per task; 1 turns grouping off."""
    max_object_bytes: int = 2 * 1024**2
    """Only objects at most this large (by the event's size) share a task."""

    def groupable(self, ref: ObjectRef) -> bool:
        return self.max_objects > 1 and ref.size is not None and ref.size <= self.max_object_bytes


PublishOne = Callable[[ObjectRef, str | None], None]
PublishGroup = Callable[[Sequence[ObjectRef], str | None], None]


class Grouper:
    """An enqueue that groups: small objects wait in a buffer per batch until a group is full or :meth:`flush`;
    the rest are handed to ``publish_one`` at once. Arrival order is kept within each group.

    The caller acknowledges its source (an SQS delete, a Redis LREM, a failure entry's removal) only after
    :meth:`flush` returned, so nothing buffered here can be lost.
    """

    def __init__(self, rule: GroupingRule, *, publish_one: PublishOne, publish_group: PublishGroup) -> None:
        self._rule = rule
        self._publish_one = publish_one
        self._publish_group = publish_group
        self._pending: dict[str | None, list[ObjectRef]] = {}

    def __call__(self, ref: ObjectRef, batch_id: str | None) -> None:
        if not self._rule.groupable(ref):
            self._publish_one(ref, batch_id)
            return
        pending = self._pending.setdefault(batch_id, [])
        pending.append(ref)
        if len(pending) >= self._rule.max_objects:
            self._send(batch_id)

    def buffered(self) -> bool:
        """Some small objects wait for their group to fill (a round could linger for more)."""
        return bool(self._pending)

    def flush(self) -> None:
        """Publish every group still buffered (a group of one as a single object)."""
        for batch_id in list(self._pending):
            self._send(batch_id)

    def discard(self) -> None:
        """Forget what is buffered: the caller did not acknowledge its source, which will deliver it again."""
        self._pending.clear()

    def _send(self, batch_id: str | None) -> None:
        pending = self._pending[batch_id]
        if len(pending) == 1:
            self._publish_one(pending[0], batch_id)
        else:
            self._publish_group(pending, batch_id)
        del self._pending[batch_id]  # only once published; after a failure the caller flushes again or discards
