"""In-process bus: typed subscriptions, delivered synchronously after commit.

Handlers run on the committing thread; a failing handler is logged and counted
and never undoes or blocks the commit, nor starves the other handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from vigil.bus import Handler
from vigil.core.events import Event, Recorded

log = logging.getLogger(__name__)


class MemoryBus:
    """The embedded default bus."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[tuple[type[Event] | None, Handler]] = []
        self.handler_errors = 0

    def subscribe(self, kind: type[Event] | None, handler: Handler) -> Callable[[], None]:
        """Register a handler; return a function that removes it."""
        entry = (kind, handler)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe

    def publish(self, records: Sequence[Recorded]) -> None:
        """Deliver each record to every matching handler, in log order."""
        with self._lock:
            subs = list(self._subs)
        for rec in records:
            for kind, handler in subs:
                if kind is None or isinstance(rec.event, kind):
                    try:
                        handler(rec)
                    except Exception:
                        self.handler_errors += 1
                        log.exception("bus handler %r failed on %s", handler, rec.id)
