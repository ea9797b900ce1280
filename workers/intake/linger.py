"""When an intake round goes on taking events after its first ones, to send fuller groups of small objects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Linger:
    """How long, and for how many events, a round may linger.

    A task costs the workers a few milliseconds before any work (pipeline.grouping), and under load a round often
    brings only a few events at a time. So a round lingers, up to ``seconds``, while the grouping enqueue still
    holds a partial group (``buffered``) and the workers are behind (``behind``: tasks wait in the broker's
    queue, checked once per round), so that waiting adds nothing an idle system would notice. Everything the
    round took is acknowledged together, after the flush, as before.
    """

    seconds: float = 0.0
    max_events: int = 100
    """Events in one round at most (bounds its acknowledgement and the time its first events wait)."""
    pause: float = 0.01
    """Wait between takes that found nothing."""

    def fill(
        self,
        taken: int,
        take: Callable[[], int | None],
        stopping: threading.Event,
        *,
        buffered: Callable[[], bool],
        behind: Callable[[], bool],
    ) -> int:
        """Call ``take`` (take and dispatch more events, return how many, or None when the source cannot give more
        now) while the round should linger; return the round's events in all."""
        if self.seconds <= 0 or not buffered() or not behind():
            return taken
        deadline = time.monotonic() + self.seconds
        while taken < self.max_events and buffered() and not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            got = take()
            if got is None:
                break
            taken += got
            if not got:
                stopping.wait(min(self.pause, remaining))
        return taken


NO_LINGER = Linger()
"""Every round sends what its first take brought."""
