"""The ingest pipeline: parsed messages → one store transaction → acks → the bus.

Two ways in, one way through:

- `commit(parsed)`: synchronous (HTTP, CSV replay): returns once stored.
- `submit(parsed, ack)`: queued (MQTT): a writer thread groups everything
  queued into one transaction (group commit), then calls each message's `ack`
  in arrival order, so a message is acknowledged only after it is durable.

After each commit the stored observations (never duplicates) are sent on the
bus topic `OBSERVATIONS`; its listeners (the rules engine, the device monitor)
each get every batch in commit order on their own thread, never the writer's
or the request's. A listener that falls `topic_depth` batches behind makes
`send` wait: the writer stops acknowledging and the broker holds the backlog.
`drain()` returns once everything submitted is committed and handed over.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.bus import Bus, Topic
from vigil.core.clock import Clock
from vigil.core.errors import StoreError
from vigil.ingest.model import Observation
from vigil.ingest.parse import Parsed, Rejection
from vigil.ingest.store import ObservationStorage

log = logging.getLogger(__name__)

ObservationHandler = Callable[[Sequence[Observation]], object]
Ack = Callable[[], object]

OBSERVATIONS: Topic[Observation] = Topic("observations", Observation, key=lambda o: o.device_id)
"""Every committed batch of new observations (never duplicates), in commit order."""


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What became of a batch."""

    stored: list[Observation]
    duplicates: list[Observation]
    rejections: list[Rejection]


class IngestPipeline:
    """Store parsed messages in batched transactions and fan them out after commit."""

    def __init__(
        self,
        store: ObservationStorage,
        clock: Clock,
        bus: Bus,
        *,
        max_batch_obs: int = 5000,
        retry_s: float = 0.5,
    ) -> None:
        self._store = store
        self._clock = clock
        self._bus = bus
        self._max_batch = max_batch_obs
        self._retry_s = retry_s
        self._watchers: list[ObservationHandler] = []
        self._commit_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Parsed, Ack | None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending = 0
        self._idle = threading.Condition()
        self.commits = 0
        self.store_failures = 0

    # ------------------------------------------------------------ listeners

    def subscribe(self, name: str, handler: ObservationHandler) -> Callable[[], None]:
        """Deliver each committed batch of new observations to `handler` (a bus listener)."""
        return self._bus.listen(OBSERVATIONS, name, handler)

    def watch_commits(self, handler: ObservationHandler) -> None:
        """Call `handler` in the writer thread right after each queued commit (metrics only).

        It sees the same observations as listeners, before them; it must be quick
        and must not raise (errors are logged).
        """
        self._watchers.append(handler)

    def _watch(self, stored: list[Observation]) -> None:
        for watcher in list(self._watchers):
            try:
                watcher(stored)
            except Exception:
                log.exception("commit watcher %r failed", watcher)

    # ------------------------------------------------------------ synchronous

    def commit(self, parsed: Parsed) -> CommitResult:
        """Store one parsed message (or several merged) now; fan out; return the outcome."""
        with self._commit_lock:
            result = self._store.write(parsed.observations, parsed.rejections, self._clock.now())
            self.commits += 1
            self._bus.send(OBSERVATIONS, result.stored)  # in commit order
        return CommitResult(result.stored, result.duplicates, parsed.rejections)

    # ---------------------------------------------------------------- queued

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()

    def submit(self, parsed: Parsed, ack: Ack | None = None) -> None:
        """Queue a parsed message; `ack` is called once it is committed."""
        with self._idle:
            self._pending += 1
        self._queue.put((parsed, ack))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is committed and handed to the bus."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._stopping.set()  # a failing store is not retried past close: nothing acked
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            size = len(first[0].observations)
            while size < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0].observations)
            self._write(batch)

    def _write(self, batch: list[tuple[Parsed, Ack | None]]) -> None:
        merged = Parsed()
        for parsed, _ in batch:
            merged.extend(parsed)
        while True:
            try:
                with self._commit_lock:
                    result = self._store.write(
                        merged.observations, merged.rejections, self._clock.now()
                    )
                    self.commits += 1
                    if result.stored and self._watchers:
                        self._watch(result.stored)
                    # Sent under the commit lock so listeners see commits in commit order;
                    # it waits while a listener is behind (backpressure).
                    self._bus.send(OBSERVATIONS, result.stored)
                break
            except StoreError:
                # Nothing is acknowledged until it is stored: keep retrying; the
                # broker keeps the unacknowledged messages meanwhile.
                self.store_failures += 1
                log.exception("observation store write failed; retrying")
                if self._stopping.wait(self._retry_s):
                    return
        for _, ack in batch:
            if ack is not None:
                try:
                    ack()
                except Exception:
                    log.exception("acknowledging a message failed")
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()
