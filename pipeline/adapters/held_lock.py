"""The :class:`pipeline.ports.HeldScope` every :class:`pipeline.ports.ScopeLocks` adapter hands out (Redis and the
in-memory fake alike), so that renewing and losing a lock behave the same whichever store holds it."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from types import TracebackType
from typing import Any

import structlog

from pipeline.errors import StateUnavailable
from pipeline.ports import LockLost, LockScope, ScopeLocks

_log = structlog.get_logger("media_ingest.ops")


def new_holder(scope: LockScope, *, action: str, who: str) -> dict[str, Any]:
    """What a lock records about a new holder, before the store adds its ``at`` and ``expires_ms``: a fresh owner
    token, and what :class:`pipeline.ports.ScopeLocked` tells the operator who is refused (who, where, what)."""
    return {
        "token": secrets.token_hex(16),
        "action": action,
        "scope": scope.name(),
        "bucket": scope.bucket,
        "prefix": scope.prefix,
        "who": who,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


class HeldLock:
    """A lock this process holds; renewed by a thread while the ``with`` block runs, released (if still ours) after.

    Call :meth:`check` before each item of work: it renews, and raises :class:`LockLost` when the lock is no
    longer ours (this process stalled past the TTL, and another action took the scope).
    """

    def __init__(self, locks: ScopeLocks, scope: LockScope, token: str) -> None:
        self._locks = locks
        self.scope = scope
        self.token = token
        self._lost = False
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew(self) -> bool:
        """Extend the TTL if the lock is still ours; False (and lost for good) otherwise."""
        with self._mutex:
            if self._lost:
                return False
            if not self._locks.renew(self.scope, self.token):
                self._lost = True
                return False
            return True

    def check(self) -> None:
        """Renew, and raise :class:`LockLost` unless the lock is still ours: one round trip before each item of
        work, so an action never goes on after another has taken its scope (the thread covers long waits)."""
        if not self.renew():
            raise LockLost(
                f"lost the lock on {self.scope.name()}: it expired (this process stalled for more than "
                f"{self._locks.ttl:g}s) and may be held by another action now"
            )

    def release(self) -> bool:
        """Delete the lock if it is still ours (compare-and-delete); False if it expired and was taken over."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return self._locks.release(self.scope, self.token)

    def _keep(self) -> None:
        interval = self._locks.ttl / 3
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    _log.error("ops.lock_lost", scope=self.scope.name())
                    return
            except StateUnavailable as exc:  # check() renews too, and stops the action if the store stays away
                _log.warning("ops.lock_renew_failed", scope=self.scope.name(), reason=str(exc), retry_in_s=interval)

    def __enter__(self) -> HeldLock:
        self._thread = threading.Thread(target=self._keep, name="media-ingest-ops-lock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            released = self.release()
        except StateUnavailable as error:  # the TTL frees it; do not hide the action's own error
            _log.warning("ops.lock_release_failed", scope=self.scope.name(), reason=str(error))
            return
        if not released:
            _log.warning("ops.lock_taken_over", scope=self.scope.name())
