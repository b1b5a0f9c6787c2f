"""The adapters every contract suite runs against: one factory per adapter that exists.

An adapter added later (PostgreSQL, NATS JetStream) adds its factory here; a
factory whose service is absent skips with the reason (and fails under CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil.bus import Bus
from vigil.bus.log import LogBus
from vigil.store.ports import Store
from vigil.store.sqlite import SqliteStore

StoreFactory = Callable[[], Store]
"""Open the same store again (a restart): contract tests reopen to check durability."""


def _sqlite(tmp_path: Path) -> StoreFactory:
    path = tmp_path / "contract.sqlite3"
    return lambda: SqliteStore(path)


STORE_ADAPTERS: dict[str, Callable[[Path], StoreFactory]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(STORE_ADAPTERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory opening one adapter's store; every store it opened is closed after."""
    opened: list[Store] = []
    make = STORE_ADAPTERS[request.param](tmp_path)

    def factory() -> Store:
        store = make()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """A fresh store of the adapter under test."""
    return open_store()


BusFactory = Callable[[Store], Bus]
"""Open a bus over a store (again after a restart: durable cursors live on)."""

BUS_ADAPTERS: dict[str, BusFactory] = {
    # Fast polling and checkpoints keep the contract tests quick.
    "log": lambda store: LogBus(store, poll_s=0.02, checkpoint_s=0.0),
}


@pytest.fixture(params=sorted(BUS_ADAPTERS))
def open_bus(request: pytest.FixtureRequest) -> Iterator[BusFactory]:
    """A factory opening one adapter's bus; every bus it opened is closed after."""
    opened: list[Bus] = []
    make = BUS_ADAPTERS[request.param]

    def factory(store: Store) -> Bus:
        bus = make(store)
        opened.append(bus)
        return bus

    yield factory
    for bus in opened:
        bus.close()
