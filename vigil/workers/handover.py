"""What a worker does when a partition moves to it or away from it (``--partitions auto``).

Taking partitions: the rules' windows for their devices are warmed from the
stored observations exactly as at a restart (`RulesEngine.warm`: firings
discarded, cooldowns and open incidents read back from the log), then the
bus starts consuming them from their durable JetStream consumers. What the
previous owner had already evaluated is known by the partition's durable
cursor ``rules@observations/p<k>``: the latest receive time (ms) of the
observations it evaluated, saved at most every `checkpoint_s` and fenced by
the lease. Warming replays only the stored observations up to that mark, and
those observations are dropped when JetStream delivers them again (the
previous owner had them in hand but never acknowledged them), so none is
counted twice; what lies beyond the mark is delivered and evaluated once.
Without a mark (a partition never held by lease: a deployment moving from
static ranges) warming replays everything, as a restart does.

Giving a partition up: the bus stops consuming it (after the batch in hand),
its mark is saved, and the rules forget its devices' state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Protocol

from vigil.bus.nats import PartitionLeases, partition_of
from vigil.core.clock import Clock
from vigil.core.events import Recorded
from vigil.ingest.model import Observation
from vigil.rules.engine import ObservationSource, recent_events
from vigil.store.ports import Cursors, EventLog

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Observation]], object]


class PartitionBus(Protocol):
    """The bus's side of a move (`NatsBus.take` and `drop`)."""

    def take(self, parts: tuple[int, ...]) -> None:
        """Start consuming partitions."""
        ...

    def drop(self, part: int) -> None:
        """Stop consuming a partition."""
        ...


class WarmRules(Protocol):
    """The rules engine's side of a move (`RulesEngine`)."""

    def memory_s(self) -> float:
        """Return how far back the rules' windows reach."""
        ...

    def warm(
        self,
        batches: Iterable[Sequence[Observation]],
        store: EventLog,
        *,
        events: Iterable[Recorded] = (),
    ) -> int:
        """Replay stored observations (and log events) into the windows; return how many."""
        ...

    def restore(self, store: EventLog) -> int:
        """Restore cooldowns and open incidents from the log."""
        ...

    def forget(self, keep: Callable[[str], bool]) -> int:
        """Drop the state of devices `keep` refuses."""
        ...


class MarkStore(EventLog, Cursors, Protocol):
    """The log (for warming) and the cursors (for the marks)."""


def mark_cursor(partition: int) -> str:
    """Name the durable cursor of what the rules evaluated in a partition."""
    return f"rules@observations/p{partition}"


class _Watched:
    """An observation source whose batches pass through `Handover.observed` first."""

    def __init__(self, source: ObservationSource, handover: Handover) -> None:
        self.source = source
        self.handover = handover

    def subscribe(self, name: str, handler: Handler) -> Callable[[], None]:
        """Subscribe `handler`, wrapped, to the source."""
        return self.source.subscribe(name, self.handover.observed(handler))


class Handover:
    """Take and give up partitions for one worker's rules and device monitor."""

    def __init__(
        self,
        *,
        bus: PartitionBus,
        store: MarkStore,
        clock: Clock,
        partitions: int,
        keep_s: float,
        checkpoint_s: float = 1.0,
    ) -> None:
        self.bus = bus
        self.store = store
        self.clock = clock
        self.partitions = partitions
        self.keep_s = keep_s
        self.checkpoint_s = checkpoint_s
        self.leases: PartitionLeases | None = None
        self.rules: WarmRules | None = None
        self._history: Callable[..., Iterator[list[Observation]]] | None = None
        # The log events the rules' cursor had passed when this process started: warmed with
        # the first partitions taken (later ones find them in the windows already).
        self._events_upto: int | None = None
        self._lock = threading.Lock()
        # Per partition taken: ids warmed from the store (dropped when delivered), until when.
        self._warmed: dict[int, tuple[set[str], float]] = {}
        self._marks: dict[int, int] = {}
        self._saved: dict[int, int] = {}
        self._saved_at = 0.0
        self.dropped_redeliveries = 0
        self.warmed = 0

    def bind(
        self,
        leases: PartitionLeases,
        rules: WarmRules | None,
        history: Callable[..., Iterator[list[Observation]]],
        *,
        events_upto: int | None = None,
    ) -> None:
        """Connect the lease holder, the rules (None: no rules role) and the stored history.

        `events_upto`: where the rules' log consumer resumes (`Bus.resumes_after`), so
        the first take also replays the log events before it.
        """
        self.leases, self.rules, self._history = leases, rules, history
        self._events_upto = events_upto

    def source(self, ingest: ObservationSource) -> ObservationSource:
        """Return `ingest` as the rules should subscribe to it (see `observed`)."""
        return _Watched(ingest, self)

    # -------------------------------------------------------------- moves

    def acquire(self, parts: tuple[int, ...]) -> None:
        """Warm the rules for `parts` from the store, then start consuming them."""
        rules = self.rules
        if rules is not None and self._history is not None:
            # A partition never held by lease has no mark: what is stored up to now
            # counts as evaluated (as at a restart), what comes after is delivered.
            start = int(self.clock.now().timestamp() * 1000)
            marks = {k: self.store_mark(k) or start for k in parts}
            ids: dict[int, set[str]] = {k: set() for k in parts}
            since = self.clock.now() - timedelta(seconds=rules.memory_s())
            history = self._history
            n = self.partitions

            def batches() -> Iterator[list[Observation]]:
                for batch in history(since):
                    out = []
                    for o in batch:
                        k = partition_of(o.device_id, n)
                        got = ids.get(k)
                        if got is None:
                            continue
                        if o.received_at.timestamp() * 1000 > marks[k]:
                            continue  # not evaluated by the previous owner: delivered later
                        got.add(o.id)
                        out.append(o)
                    if out:
                        yield out

            upto, self._events_upto = self._events_upto, None
            events = () if upto is None else recent_events(self.store, since, upto=upto)
            replayed = rules.warm(batches(), self.store, events=events)
            if not replayed:
                rules.restore(self.store)  # this worker's forgotten cooldowns, if any
            self.warmed += replayed
            until = time.monotonic() + self.keep_s
            with self._lock:
                for k in parts:
                    self._warmed[k] = (ids[k], until)
                    self._marks[k] = marks[k]
                    self._saved.pop(k, None)
            log.info("partitions %s: %d observations warmed", parts, replayed)
        self.bus.take(parts)
        for k in parts:
            self._save(k)  # a first owner's mark: the next owner warms up to it

    def release(self, part: int) -> None:
        """Stop consuming `part`, save its mark (fenced), forget its devices."""
        self.bus.drop(part)
        self._save(part)
        with self._lock:
            self._warmed.pop(part, None)
            self._marks.pop(part, None)
            self._saved.pop(part, None)
        if self.rules is not None:
            n = self.partitions
            self.rules.forget(lambda device_id: partition_of(device_id, n) != part)

    def store_mark(self, part: int) -> int | None:
        """Return the saved mark of a partition (None: never held by lease)."""
        return self.store.cursor(mark_cursor(part))

    # ---------------------------------------------------------- delivery

    def observed(self, handler: Handler) -> Handler:
        """Wrap the rules' handler: drop what warming replayed, note the partition's mark."""

        def on_batch(batch: Sequence[Observation]) -> None:
            if not batch:
                return
            k = partition_of(batch[0].device_id, self.partitions)  # one partition per batch
            warmed = self._warmed.get(k)
            if warmed is not None:
                ids, until = warmed
                if time.monotonic() > until:
                    with self._lock:
                        self._warmed.pop(k, None)
                else:
                    kept = [o for o in batch if o.id not in ids]
                    self.dropped_redeliveries += len(batch) - len(kept)
                    batch = kept
            if batch:
                handler(batch)
                mark = int(max(o.received_at.timestamp() for o in batch) * 1000)
                with self._lock:
                    if mark > self._marks.get(k, 0):
                        self._marks[k] = mark
            if time.monotonic() - self._saved_at >= self.checkpoint_s:
                self.checkpoint()

        return on_batch

    def checkpoint(self) -> None:
        """Save every held partition's mark that moved (fenced); also run on each lease round."""
        self._saved_at = time.monotonic()
        for part in list(self._marks):
            self._save(part)

    def _save(self, part: int) -> None:
        leases = self.leases
        with self._lock:
            mark = self._marks.get(part)
            if leases is None or mark is None or mark <= self._saved.get(part, -1):
                return
        try:
            if leases.save_cursor(part, mark_cursor(part), mark):
                with self._lock:
                    self._saved[part] = mark
        except Exception:  # the store may be failing: the next owner warms less, evaluates more
            log.exception("could not save partition %d's mark", part)
