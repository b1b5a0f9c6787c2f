"""The duties a deployment runs once: in one process, moving with partition 0.

Alert delivery, rule notifications (webhooks, MQTT), the purges, CAP feed
polling and audit checkpoints must run in exactly one process of a
deployment, or webhooks go out twice and feeds are polled by every worker.
They run in the process with every role, or in the rules process that holds
partition 0: named by ``--partitions``, that process has them from its start;
by lease (``--partitions auto``), whichever worker takes partition 0 starts
them, and stops them before giving it up (or when its lease runs out), so
when a worker dies the one that takes over its partition 0 takes the duties
too. Consumers among them resume from their durable cursors (alert delivery
re-queues what the log shows undelivered), so a move loses nothing; what was
in flight at the moment of a move may be delivered twice, never not at all.

A duty is a function that starts it and returns the function that stops it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vigil.core.ticker import Ticker

log = logging.getLogger(__name__)

Stop = Callable[[], object]
Start = Callable[[], Stop]

PARTITION = 0
"""The partition whose holder runs the duties."""


def ticking(ticker: Ticker) -> Start:
    """Return a ticker as a duty."""

    def start() -> Stop:
        ticker.start()
        return ticker.stop

    return start


class Duties:
    """The once-per-deployment duties of one process: started and stopped together."""

    def __init__(self) -> None:
        self._duties: list[tuple[str, Start]] = []
        self._running: list[tuple[str, Stop]] | None = None
        self._lock = threading.Lock()
        self.starts = 0

    @property
    def names(self) -> list[str]:
        """Return the duties' names, in the order they start."""
        return [name for name, _ in self._duties]

    @property
    def running(self) -> bool:
        """Return whether this process runs the duties now."""
        return self._running is not None

    def add(self, name: str, start: Start) -> None:
        """Add a duty (before `start`)."""
        self._duties.append((name, start))

    def start(self) -> None:
        """Start every duty (idempotent). One that fails to start is logged, the others run."""
        with self._lock:
            if self._running is not None:
                return
            running: list[tuple[str, Stop]] = []
            for name, start in self._duties:
                try:
                    running.append((name, start()))
                except Exception:
                    log.exception("duty %s did not start", name)
            self._running = running
            self.starts += 1
        log.info("duties started in this process: %s", ", ".join(self.names) or "none")

    def stop(self) -> None:
        """Stop every running duty, the last started first (idempotent)."""
        with self._lock:
            running, self._running = self._running, None
            if running is None:
                return
            for name, stop in reversed(running):
                try:
                    stop()
                except Exception:
                    log.exception("duty %s did not stop cleanly", name)
        log.info("duties stopped in this process")

    def on_acquire(self, parts: tuple[int, ...]) -> None:
        """Start the duties when partition 0 is among the partitions taken."""
        if PARTITION in parts:
            self.start()

    def on_release(self, part: int) -> None:
        """Stop the duties when partition 0 is given up or lost."""
        if part == PARTITION:
            self.stop()
