"""The bus contract: every adapter of `vigil.bus.Bus` delivers like this."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import msgspec

from tests.conftest import T0
from tests.contract.conftest import BusFactory, StoreFactory
from vigil.bus import Topic
from vigil.core.errors import StoreUnavailableError
from vigil.core.events import Pending, Recorded
from vigil.core.ids import EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded, IncidentOpened
from vigil.incidents.model import Agency
from vigil.store.ports import Store

NUMBERS: Topic[int] = Topic("numbers", int)


def _opened(n: int) -> Pending:
    return Pending(
        id=EventId(f"EV-{n}"),
        at=T0,
        actor="t",
        cause=None,
        event=IncidentOpened(
            incident_id=IncidentId(f"INC-{n}"),
            type="medical",
            priority=2,
            agency=Agency.EMS,
            location=None,
            address="Mannerheimintie 1",
            description="",
        ),
    )


def _note(n: int) -> Pending:
    return Pending(
        id=EventId(f"EV-{n}"),
        at=T0,
        actor="t",
        cause=None,
        event=IncidentNoteAdded(incident_id=IncidentId("INC-1"), text=f"note {n}"),
    )


class Seen:
    """A handler that records what it got and on which thread."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.ids: list[str] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, rec: Recorded) -> None:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            if rec.id == self.fail_on:
                raise RuntimeError("handler bug")
            self.ids.append(rec.id)


def _append(store: Store, items: Sequence[Pending]) -> list[Recorded]:
    return store.append(list(items))


def test_committed_events_reach_consumers_in_log_order_off_the_committing_thread(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    seen = Seen()
    bus.subscribe("a", seen)
    recorded = _append(store, [_opened(n) for n in range(1, 6)])
    # Published out of order (two committing threads), delivered in log order.
    bus.publish(recorded[3:])
    bus.publish(recorded[:3])
    assert bus.drain(10)
    assert seen.ids == [f"EV-{n}" for n in range(1, 6)]
    assert threading.current_thread().name not in seen.threads


def test_events_appended_without_a_publish_are_still_delivered(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    seen = Seen()
    bus.subscribe("a", seen)
    _append(store, [_opened(1)])  # e.g. another process appended it
    assert bus.drain(10)
    assert seen.ids == ["EV-1"]


class _LogDown:
    """The store, but reading the log fails the first `failures` times (an outage)."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("the database is unreachable", retry_after_s=1.0)
        return self._store.read(after_seq=after_seq, limit=limit)


def test_a_consumer_outlives_a_log_it_cannot_read_for_a_while(
    store: Store, open_bus: BusFactory
) -> None:
    flaky = _LogDown(store, failures=2)
    bus = open_bus(cast(Store, flaky))
    seen = Seen()
    bus.subscribe("a", seen)
    _append(store, [_opened(1), _opened(2)])  # appended elsewhere: read from the log
    assert bus.drain(10)
    assert seen.ids == ["EV-1", "EV-2"]


def test_consumers_filter_by_kind(store: Store, open_bus: BusFactory) -> None:
    bus = open_bus(store)
    notes, everything = Seen(), Seen()
    bus.subscribe("notes", notes, kinds=(IncidentNoteAdded,))
    bus.subscribe("all", everything)
    bus.publish(_append(store, [_opened(1), _note(2), _opened(3)]))
    assert bus.drain(10)
    assert notes.ids == ["EV-2"]
    assert everything.ids == ["EV-1", "EV-2", "EV-3"]


def test_a_failing_handler_neither_stops_its_consumer_nor_the_others(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    bad, good = Seen(fail_on="EV-2"), Seen()
    bus.subscribe("bad", bad)
    bus.subscribe("good", good)
    bus.publish(_append(store, [_opened(1), _opened(2), _opened(3)]))
    assert bus.drain(10)
    assert bad.ids == ["EV-1", "EV-3"]
    assert good.ids == ["EV-1", "EV-2", "EV-3"]


def test_a_new_durable_consumer_starts_at_the_end_of_the_log(
    store: Store, open_bus: BusFactory
) -> None:
    _append(store, [_opened(1)])
    bus = open_bus(store)
    seen = Seen()
    bus.subscribe("late", seen)
    bus.publish(_append(store, [_opened(2)]))
    assert bus.drain(10)
    assert seen.ids == ["EV-2"]


def test_a_durable_consumer_resumes_from_its_cursor_after_a_restart(
    open_store: StoreFactory, open_bus: BusFactory
) -> None:
    store = open_store()
    bus = open_bus(store)
    first = Seen()
    bus.subscribe("rules", first)
    bus.publish(_append(store, [_opened(1), _opened(2)]))
    assert bus.drain(10)
    bus.close()
    _append(store, [_opened(3), _opened(4)])  # committed while the consumer was down
    store.close()

    store = open_store()
    bus = open_bus(store)
    again, fresh = Seen(), Seen()
    bus.subscribe("rules", again)
    bus.subscribe("live", fresh, durable=False)
    bus.publish(_append(store, [_opened(5)]))
    assert bus.drain(10)
    assert first.ids == ["EV-1", "EV-2"]
    assert again.ids == ["EV-3", "EV-4", "EV-5"]  # nothing missed, nothing seen twice here
    assert fresh.ids == ["EV-5"]
    bus.close()  # saves the cursor (it is also saved every checkpoint interval)
    assert store.cursor("rules") == 5
    assert store.cursor("live") is None  # not durable


def test_an_unsubscribed_consumer_gets_nothing_more(store: Store, open_bus: BusFactory) -> None:
    bus = open_bus(store)
    seen = Seen()
    stop = bus.subscribe("a", seen)
    bus.publish(_append(store, [_opened(1)]))
    assert bus.drain(10)
    stop()
    bus.publish(_append(store, [_opened(2)]))
    assert bus.drain(10)
    assert seen.ids == ["EV-1"]


def test_a_consumer_may_commit_and_its_events_come_back_through_the_bus(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    seen: list[str] = []

    def react(rec: Recorded) -> None:
        seen.append(rec.id)
        if isinstance(rec.event, IncidentOpened):  # a rule issuing a command
            bus.publish(_append(store, [_note(int(rec.id.split("-")[1]) + 100)]))

    bus.subscribe("rules", react)
    bus.publish(_append(store, [_opened(1)]))
    assert bus.drain(10)
    assert seen == ["EV-1", "EV-101"]


def test_topic_batches_reach_every_listener_in_order_off_the_sender_thread(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    got: dict[str, list[int]] = {"a": [], "b": []}
    threads: set[str] = set()

    def listener(name: str) -> Callable[[Sequence[int]], None]:
        def handle(batch: Sequence[int]) -> None:
            threads.add(threading.current_thread().name)
            got[name].extend(batch)

        return handle

    bus.listen(NUMBERS, "a", listener("a"))
    stop_b = bus.listen(NUMBERS, "b", listener("b"))
    for i in range(0, 30, 3):
        bus.send(NUMBERS, [i, i + 1, i + 2])
    assert bus.drain(10)
    stop_b()
    bus.send(NUMBERS, [99])
    assert bus.drain(10)
    assert got["a"] == [*range(30), 99]
    assert got["b"] == list(range(30))
    assert threading.current_thread().name not in threads


def test_a_failing_listener_gets_the_next_batch(store: Store, open_bus: BusFactory) -> None:
    bus = open_bus(store)
    got: list[int] = []

    def handle(batch: Sequence[int]) -> None:
        if 1 in batch:
            raise RuntimeError("listener bug")
        got.extend(batch)

    bus.listen(NUMBERS, "a", handle)
    bus.send(NUMBERS, [1])
    bus.send(NUMBERS, [2])
    assert bus.drain(10)
    assert got == [2]


class Reading(msgspec.Struct, frozen=True):
    device: str
    n: int


READINGS: Topic[Reading] = Topic("readings", Reading, key=lambda r: r.device)


def test_a_keyed_topic_delivers_everything_in_order_per_key(
    store: Store, open_bus: BusFactory
) -> None:
    bus = open_bus(store)
    got: list[Reading] = []
    bus.listen(READINGS, "rules", got.extend)
    devices = [f"dev-{d}" for d in range(7)]
    for n in range(20):  # each batch mixes devices (a bus may split it by key)
        bus.send(READINGS, [Reading(d, n) for d in devices])
    assert bus.drain(10)
    assert len(got) == 20 * len(devices)
    for d in devices:
        assert [r.n for r in got if r.device == d] == list(range(20))
