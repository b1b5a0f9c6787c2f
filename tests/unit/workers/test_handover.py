"""Taking and giving up partitions: warmed up to the partition's mark, nothing counted twice."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import T0
from vigil.bus.nats import partition_of
from vigil.core.clock import ManualClock
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded
from vigil.ingest.model import DeviceKind, Observation
from vigil.store.ports import EventLog
from vigil.store.sqlite import SqliteStore
from vigil.workers.handover import Handover, mark_cursor

N = 4


def device_in(part: int, n: int = 0) -> str:
    return [f"d{i}" for i in range(200) if partition_of(f"d{i}", N) == part][n]


def reading(device: str, seq: int, received: datetime) -> Observation:
    return Observation(
        id=f"{device}:alarm:{seq}",
        device_id=DeviceId(device),
        kind=DeviceKind.SMOKE_PANEL,
        stream="alarm",
        value=1.0,
        unit="",
        observed_at=received,
        received_at=received,
        location=LatLon(60.17, 24.94),
        zone=None,
    )


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


class Bus:
    def __init__(self) -> None:
        self.taken: list[int] = []
        self.dropped: list[int] = []

    def take(self, parts: tuple[int, ...]) -> None:
        self.taken += parts

    def drop(self, part: int) -> None:
        self.dropped.append(part)


class Rules:
    def __init__(self) -> None:
        self.warmed: list[Observation] = []
        self.events: list[list[Recorded]] = []
        self.restored = 0
        self.kept: Callable[[str], bool] | None = None

    def memory_s(self) -> float:
        return 600.0

    def warm(
        self,
        batches: Iterable[Sequence[Observation]],
        store: EventLog,
        *,
        events: Iterable[Recorded] = (),
    ) -> int:
        before = len(self.warmed)
        for b in batches:
            self.warmed += b
        self.events.append(list(events))
        return len(self.warmed) - before

    def restore(self, store: EventLog) -> int:
        self.restored += 1
        return 0

    def forget(self, keep: Callable[[str], bool]) -> int:
        self.kept = keep
        return 0


class Leases:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.lost: set[int] = set()

    def holds(self, partition: int) -> bool:
        return partition not in self.lost

    def owned(self) -> frozenset[int]:
        return frozenset(range(N)) - self.lost

    def save_cursor(self, partition: int, consumer: str, seq: int) -> bool:
        if partition in self.lost:
            return False  # fenced: the lease is another worker's
        self.store.save_cursor(consumer, seq)
        return True


@pytest.fixture
def parts(
    tmp_path: Path,
) -> Iterator[tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]]]:
    store = SqliteStore(tmp_path / "s.sqlite3")
    stored: list[Observation] = []
    bus, rules, leases = Bus(), Rules(), Leases(store)
    h = Handover(bus=bus, store=store, clock=ManualClock(T0), partitions=N, keep_s=60.0)
    h.bind(leases, rules, lambda since: iter([[o for o in stored if o.received_at >= since]]))
    yield h, bus, rules, leases, store, stored
    store.close()


def test_a_partition_never_held_is_warmed_with_everything_stored_and_gets_a_mark(
    parts: tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]],
) -> None:
    h, bus, rules, _, store, stored = parts
    a, other = device_in(0), device_in(1)
    stored += [
        reading(a, 1, T0 - timedelta(seconds=5)),
        reading(other, 1, T0 - timedelta(seconds=4)),
    ]
    h.acquire((0,))
    assert [o.id for o in rules.warmed] == [f"{a}:alarm:1"]  # its partition's only
    assert bus.taken == [0]
    assert store.cursor(mark_cursor(0)) == ms(T0)  # what was stored counts as evaluated


def test_warming_stops_at_the_mark_and_what_was_warmed_is_not_handled_again(
    parts: tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]],
) -> None:
    h, _, rules, _, store, stored = parts
    a = device_in(2)
    evaluated = reading(a, 1, T0 - timedelta(seconds=10))
    pending = reading(a, 2, T0 - timedelta(seconds=2))  # committed, never evaluated
    stored += [evaluated, pending]
    store.save_cursor(mark_cursor(2), ms(evaluated.received_at))  # the last owner's mark
    h.acquire((2,))
    assert rules.warmed == [evaluated]
    handled: list[Observation] = []
    on_batch = h.observed(handled.extend)
    # JetStream delivers both again (the dead owner never acknowledged them).
    on_batch([evaluated, pending])
    assert handled == [pending]
    assert h.dropped_redeliveries == 1
    later = reading(a, 3, T0 + timedelta(seconds=1))
    on_batch([later])
    assert handled == [pending, later]
    h.checkpoint()
    assert store.cursor(mark_cursor(2)) == ms(later.received_at)


def test_release_saves_the_mark_and_forgets_only_that_partitions_devices(
    parts: tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]],
) -> None:
    h, bus, rules, _, store, _ = parts
    h.acquire((1, 3))
    on_batch = h.observed(lambda batch: None)
    on_batch([reading(device_in(1), 1, T0 + timedelta(seconds=3))])
    h.release(1)
    assert bus.dropped == [1]
    assert store.cursor(mark_cursor(1)) == ms(T0 + timedelta(seconds=3))
    assert rules.kept is not None
    assert not rules.kept(device_in(1)) and rules.kept(device_in(3))


def test_a_fenced_out_worker_cannot_move_the_mark(
    parts: tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]],
) -> None:
    h, _, _, leases, store, _ = parts
    h.acquire((0,))
    leases.lost.add(0)  # the lease passed to another worker
    h.observed(lambda batch: None)([reading(device_in(0), 1, T0 + timedelta(seconds=9))])
    h.checkpoint()
    assert store.cursor(mark_cursor(0)) == ms(T0)


def test_the_first_take_replays_the_log_events_the_rules_cursor_had_passed(
    parts: tuple[Handover, Bus, Rules, Leases, SqliteStore, list[Observation]],
) -> None:
    h, _, rules, leases, store, stored = parts
    seqs = []
    for n in range(3):
        note = IncidentNoteAdded(incident_id=IncidentId("INC-1"), text=f"note {n}")
        at = T0 - timedelta(seconds=30 - n)
        (rec,) = store.append(
            [Pending(id=EventId(f"EV-{n}"), at=at, actor="t", cause=None, event=note)]
        )
        seqs.append(rec.seq)
    h.bind(leases, rules, lambda since: iter([stored]), events_upto=seqs[1])
    h.acquire((0,))
    h.acquire((1,))
    assert [[r.seq for r in run] for run in rules.events] == [seqs[:2], []]
