"""Which objects share one worker task: a pure decision over :class:`ObjectRef` (no I/O, no Celery).

A task costs the worker about 3.5 ms of CPU before it does any work (Celery's message handling, the ack, the
lease, the trace), which is more than c2pa needs to read a small image (docs/performance.md). Objects whose size
the event already gives and that are small enough are therefore carried several to a task; large ones, and
objects of unknown size, still get a task each, so one big video never holds small images back.

Grouping never waits for more events: an intake groups only what one poll round brought, so a quiet system
still sends every object off at once.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def group_refs(refs: Iterable[ObjectRef], rule: GroupingRule) -> list[tuple[ObjectRef, ...]]:
    """Split ``refs`` into task payloads, in arrival order: singletons for large or unsized objects, and runs of
    up to ``rule.max_objects`` small ones. Every ref lands in exactly one payload."""
    payloads: list[tuple[ObjectRef, ...]] = []
    pending: list[ObjectRef] = []
    for ref in refs:
        if not rule.groupable(ref):
            payloads.append((ref,))
            continue
        pending.append(ref)
        if len(pending) == rule.max_objects:
            payloads.append(tuple(pending))
            pending = []
    if pending:
        payloads.append(tuple(pending))
    return payloads
