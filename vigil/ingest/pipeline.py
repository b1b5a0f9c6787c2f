"""The ingest pipeline: parsed messages → one store transaction → acks → subscribers.

Two ways in, one way through:

- `commit(parsed)`: synchronous (HTTP, CSV replay): returns once stored.
- `submit(parsed, ack)`: queued (MQTT): a writer thread groups everything
  queued into one transaction (group commit), then calls each message's `ack`
  in arrival order, so a message is acknowledged only after it is durable.

After each commit the stored observations (never duplicates) are handed to
every subscriber, e.g. the rules engine: ``pipeline.subscribe(handler)`` with
``handler(observations: Sequence[Observation]) -> None``. A failing subscriber
is logged and counted; it never undoes a commit or starves the others.

Queued commits are fanned out by a thread of their own, in commit order, so
the writer commits (and acknowledges) the next batch while subscribers work on
the previous one. Its queue holds at most `fanout_depth` committed batches:
when subscribers fall that far behind, the writer waits, acknowledgements
stop, and the broker holds the backlog. `drain()` returns once everything
submitted is committed *and* fanned out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.core.clock import Clock
from vigil.core.errors import StoreError
from vigil.ingest.model import Observation
from vigil.ingest.parse import Parsed, Rejection
from vigil.ingest.store import ObservationStore

log = logging.getLogger(__name__)

ObservationHandler = Callable[[Sequence[Observation]], object]
Ack = Callable[[], object]


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
        store: ObservationStore,
        clock: Clock,
        *,
        max_batch_obs: int = 5000,
        retry_s: float = 0.5,
        fanout_depth: int = 4,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_batch = max_batch_obs
        self._retry_s = retry_s
        self._handlers: list[ObservationHandler] = []
        self._watchers: list[ObservationHandler] = []
        self._handlers_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Parsed, Ack | None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fanout: queue.Queue[tuple[list[Observation], int] | None] = queue.Queue(
            maxsize=fanout_depth
        )
        self._fanout_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending = 0
        self._idle = threading.Condition()
        self.handler_errors = 0
        self.commits = 0
        self.store_failures = 0

    # ------------------------------------------------------------ subscribers

    def subscribe(self, handler: ObservationHandler) -> Callable[[], None]:
        """Call `handler` with each committed batch of new observations; return an unsubscribe."""
        with self._handlers_lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._handlers_lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def watch_commits(self, handler: ObservationHandler) -> None:
        """Call `handler` in the writer thread right after each queued commit (metrics only).

        It sees the same observations as subscribers, before them and before the
        fan-out queue; it must be quick and must not raise (errors are logged).
        """
        with self._handlers_lock:
            self._watchers.append(handler)

    def _fan_out(self, stored: Sequence[Observation]) -> None:
        if not stored:
            return
        with self._handlers_lock:
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler(stored)
            except Exception:
                self.handler_errors += 1
                log.exception("observation handler %r failed", handler)

    # ------------------------------------------------------------ synchronous

    def commit(self, parsed: Parsed) -> CommitResult:
        """Store one parsed message (or several merged) now; fan out; return the outcome."""
        with self._commit_lock:
            result = self._store.write(parsed.observations, parsed.rejections, self._clock.now())
            self.commits += 1
        self._fan_out(result.stored)
        return CommitResult(result.stored, result.duplicates, parsed.rejections)

    # ---------------------------------------------------------------- queued

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._stopping.clear()
            self._fanout_thread = threading.Thread(
                target=self._run_fanout, name="ingest-fanout", daemon=True
            )
            self._fanout_thread.start()
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()

    def submit(self, parsed: Parsed, ack: Ack | None = None) -> None:
        """Queue a parsed message; `ack` is called once it is committed."""
        with self._idle:
            self._pending += 1
        self._queue.put((parsed, ack))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is committed; return False on timeout."""
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
        if self._fanout_thread is not None:
            self._fanout.put(None)  # after everything the writer committed
            self._fanout_thread.join(timeout=30)
            self._fanout_thread = None

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
        if result.stored and self._watchers:
            for watcher in list(self._watchers):
                try:
                    watcher(result.stored)
                except Exception:
                    log.exception("commit watcher %r failed", watcher)
        self._fanout.put((result.stored, len(batch)))

    def _run_fanout(self) -> None:
        while True:
            item = self._fanout.get()
            if item is None:
                return
            stored, messages = item
            self._fan_out(stored)
            with self._idle:
                self._pending -= messages
                self._idle.notify_all()
