"""The embedded bus: consumers read the committed log, each on its own thread.

`publish` only remembers the records (a cache, so consumers rarely read the
store) and wakes the consumers; it never runs a handler, so a command returns
as soon as its transaction has committed. Each event consumer keeps a cursor
(the last seq it handled): it takes the records after it from the cache when
the cache holds all of them, or reads them from the log, which is the truth
(so an event appended without a publish, by another thread or process, is
still delivered, found by a poll of the log's head). Durable cursors are
saved to the store at most every `checkpoint_s` and on close: after a crash a
consumer sees again at most the events of that last interval.

A handler that raises is logged and counted and the consumer moves on (one
poisoned event must not stop the live feed or the rules); a failure of the
process is what at-least-once delivery covers.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from vigil.bus import Handler, Topic, Unsubscribe
from vigil.core.events import Event, Recorded
from vigil.store.ports import Cursors, EventLog

log = logging.getLogger(__name__)

T = TypeVar("T")


class LogStore(EventLog, Cursors, Protocol):
    """What the bus needs: the log to read from and the durable cursors."""


class _EventConsumer:
    """One consumer of log events: its cursor, its thread."""

    def __init__(
        self,
        bus: LogBus,
        name: str,
        handler: Handler,
        kinds: tuple[type[Event], ...],
        *,
        durable: bool,
        after: int,
    ) -> None:
        self.bus = bus
        self.name = name
        self.handler = handler
        self.kinds = kinds
        self.durable = durable
        self.cursor = after
        self.saved = after
        self.errors = 0
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)

    def _run(self) -> None:
        bus = self.bus
        last_save = time.monotonic()
        while True:
            self.wake.wait(bus.poll_s)
            self.wake.clear()
            if self.stopping:
                break
            if self.cursor >= bus.head:
                bus.poll_head()
            while self.cursor < bus.head and not self.stopping:
                try:
                    records = bus.records_after(self.cursor)
                except Exception:  # the store is failing (an outage): retry at the next poll
                    bus.read_errors += 1
                    log.exception("bus consumer %s could not read the log", self.name)
                    break
                self._deliver(records)
            bus.notify_progress()
            if self.durable and time.monotonic() - last_save >= bus.checkpoint_s:
                self.save()
                last_save = time.monotonic()
        if self.durable:
            self.save()

    def _deliver(self, records: list[Recorded]) -> None:
        for rec in records:
            if self.stopping:
                return
            if not self.kinds or isinstance(rec.event, self.kinds):
                try:
                    self.handler(rec)
                except Exception:
                    self.errors += 1
                    self.bus.handler_errors += 1
                    log.exception("bus consumer %s failed on %s", self.name, rec.id)
            self.cursor = rec.seq

    def save(self) -> None:
        if self.cursor > self.saved:
            try:
                self.bus.store.save_cursor(self.name, self.cursor)
            except Exception:  # the store may be failing: events are seen again, never lost
                log.exception("bus consumer %s could not save its cursor", self.name)
            else:
                self.saved = self.cursor


class _TopicListener:
    """One listener of a topic: a bounded queue of batches and its thread."""

    def __init__(
        self, bus: LogBus, name: str, handler: Callable[[Sequence[Any]], object], depth: int
    ) -> None:
        self.bus = bus
        self.name = name
        self.handler = handler
        self.queue: queue.Queue[Sequence[Any] | None] = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)

    def _run(self) -> None:
        while True:
            batch = self.queue.get()
            try:
                if batch is None:
                    return
                self.handler(batch)
            except Exception:
                self.bus.handler_errors += 1
                log.exception("bus listener %s failed on a batch", self.name)
            finally:
                self.queue.task_done()
                self.bus.notify_progress()


class LogBus:
    """The embedded default bus over the event log (see the module docstring)."""

    def __init__(
        self,
        store: LogStore,
        *,
        cache_size: int = 20_000,
        batch: int = 500,
        poll_s: float = 0.5,
        checkpoint_s: float = 1.0,
        topic_depth: int = 4,
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.checkpoint_s = checkpoint_s
        self._cache_size = cache_size
        self._batch = batch
        self._topic_depth = topic_depth
        self._lock = threading.Lock()
        self._recent: dict[int, Recorded] = {}
        self._consumers: list[_EventConsumer] = []
        self._listeners: dict[str, list[_TopicListener]] = {}
        self._progress = threading.Condition()
        self._closed = False
        self.head = store.last_seq()
        self.handler_errors = 0
        self.store_reads = 0
        self.read_errors = 0  # reads of the log that failed (retried at the next poll)

    # ------------------------------------------------------------- producers

    def publish(self, records: Sequence[Recorded]) -> None:
        """Remember freshly committed records and wake their consumers (never blocks)."""
        if not records:
            return
        with self._lock:
            for rec in records:
                self._recent[rec.seq] = rec
            self.head = max(self.head, records[-1].seq)
            while len(self._recent) > self._cache_size:
                del self._recent[next(iter(self._recent))]
            consumers = list(self._consumers)
        for c in consumers:
            # A consumer of some kinds only is woken by a batch holding one of them; it
            # passes over the others at its next wake or poll (`drain` wakes it too).
            if not c.kinds or any(isinstance(rec.event, c.kinds) for rec in records):
                c.wake.set()

    def send(self, topic: Topic[T], batch: Sequence[T]) -> None:
        """Queue a committed batch for every listener of the topic (waits while one is full)."""
        if not batch:
            return
        with self._lock:
            listeners = list(self._listeners.get(topic.name, ()))
        for listener in listeners:
            listener.queue.put(batch)

    # ------------------------------------------------------------- consumers

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        *,
        kinds: tuple[type[Event], ...] = (),
        durable: bool = True,
    ) -> Unsubscribe:
        """Start delivering log events to `handler` after the consumer's cursor."""
        head = self.store.last_seq()
        with self._lock:
            self.head = max(self.head, head)
            if durable and any(c.durable and c.name == consumer for c in self._consumers):
                # Two readers of one durable cursor would each skip what the other saved.
                raise ValueError(f"a durable bus consumer {consumer!r} is already running")
        saved = self.store.cursor(consumer) if durable else None
        c = _EventConsumer(
            self, consumer, handler, kinds, durable=durable, after=head if saved is None else saved
        )
        if durable and saved is None:
            self.store.save_cursor(consumer, head)  # a new consumer starts at the end of the log
        with self._lock:
            self._consumers.append(c)
        c.thread.start()
        c.wake.set()

        def unsubscribe() -> None:
            with self._lock:
                if c in self._consumers:
                    self._consumers.remove(c)
            c.stopping = True
            c.wake.set()
            if c.thread is not threading.current_thread():
                c.thread.join(timeout=30)

        return unsubscribe

    def resumes_after(self, consumer: str) -> int:
        """Return the log seq a durable consumer would resume after (see `Bus`)."""
        saved = self.store.cursor(consumer)
        return self.store.last_seq() if saved is None else saved

    def listen(
        self, topic: Topic[T], consumer: str, handler: Callable[[Sequence[T]], object]
    ) -> Unsubscribe:
        """Deliver every batch sent to `topic` from now on to `handler`, in order."""
        listener = _TopicListener(self, consumer, handler, self._topic_depth)
        with self._lock:
            self._listeners.setdefault(topic.name, []).append(listener)
        listener.thread.start()

        def unsubscribe() -> None:
            with self._lock:
                group = self._listeners.get(topic.name, [])
                if listener not in group:
                    return
                group.remove(listener)
            listener.queue.put(None)  # after everything already queued
            if listener.thread is not threading.current_thread():
                listener.thread.join(timeout=30)

        return unsubscribe

    # ------------------------------------------------------------ internals

    def records_after(self, cursor: int) -> list[Recorded]:
        """Return the next records after `cursor` (from the cache, else from the log)."""
        with self._lock:
            upto = min(self.head, cursor + self._batch)
            found = [self._recent.get(s) for s in range(cursor + 1, upto + 1)]
        if all(r is not None for r in found):
            return [r for r in found if r is not None]
        self.store_reads += 1
        return list(self.store.read(after_seq=cursor, limit=self._batch))

    def poll_head(self) -> None:
        """Notice events appended without a publish (another thread or process)."""
        try:
            head = self.store.last_seq()
        except Exception:
            log.exception("bus could not read the head of the log")
            return
        with self._lock:
            self.head = max(self.head, head)

    def notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _caught_up(self) -> bool:
        with self._lock:
            consumers = list(self._consumers)
            listeners = [li for group in self._listeners.values() for li in group]
            head = self.head
        return all(c.cursor >= head for c in consumers) and all(
            li.queue.unfinished_tasks == 0 for li in listeners
        )

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every consumer has handled everything published so far."""
        self.poll_head()
        with self._lock:
            consumers = list(self._consumers)
        for c in consumers:
            c.wake.set()
        deadline = time.monotonic() + timeout
        with self._progress:
            while not self._caught_up():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.05))
        return True

    def consumers(self) -> dict[str, int]:
        """Return each event consumer's cursor (diagnostics)."""
        with self._lock:
            return {c.name: c.cursor for c in self._consumers}

    def close(self) -> None:
        """Stop every consumer and listener; save the durable cursors."""
        with self._lock:
            consumers = list(self._consumers)
            self._consumers.clear()
            listeners = [li for group in self._listeners.values() for li in group]
            self._listeners.clear()
        for c in consumers:
            c.stopping = True
            c.wake.set()
        for li in listeners:
            li.queue.put(None)
        for c in consumers:
            c.thread.join(timeout=30)
        for li in listeners:
            li.thread.join(timeout=30)
