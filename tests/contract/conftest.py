"""The adapters every contract suite runs against: one factory per adapter that exists.

An adapter added later (PostgreSQL) adds its factory here; a factory whose
service is absent skips with the reason (and fails under CI). The NATS bus
runs each test on its own random stream prefix, deleted after.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from tests.natsutil import delete_streams, nats_url
from tests.postgres import temp_database
from vigil.bus import Bus
from vigil.bus.log import LogBus
from vigil.bus.nats import NatsBus
from vigil.ingest.postgres import PostgresObservationStore
from vigil.ingest.store import ObservationStorage, ObservationStore
from vigil.store.ports import Store
from vigil.store.postgres.database import Database
from vigil.store.postgres.store import PostgresStore
from vigil.store.sqlite import SqliteStore

StoreFactory = Callable[[], Store]
"""Open the same store again (a restart): contract tests reopen to check durability."""


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[StoreFactory]:
    path = tmp_path / "contract.sqlite3"
    yield lambda: SqliteStore(path)


@contextmanager
def _postgres(tmp_path: Path) -> Iterator[StoreFactory]:
    del tmp_path
    with temp_database() as url:
        yield lambda: PostgresStore(Database(url, what="store"))


STORE_ADAPTERS: dict[str, Callable[[Path], AbstractContextManager[StoreFactory]]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(STORE_ADAPTERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory opening one adapter's store; every store it opened is closed after."""
    opened: list[Store] = []
    with STORE_ADAPTERS[request.param](tmp_path) as make:

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


ObservationsFactory = Callable[[], ObservationStorage]
"""Open the same observation store again (a restart)."""


@contextmanager
def _sqlite_observations(tmp_path: Path) -> Iterator[ObservationsFactory]:
    path = tmp_path / "observations.sqlite3"
    yield lambda: ObservationStore(path)


@contextmanager
def _postgres_observations(tmp_path: Path) -> Iterator[ObservationsFactory]:
    del tmp_path
    with temp_database() as url:
        yield lambda: PostgresObservationStore(Database(url, what="observation store"))


OBSERVATION_ADAPTERS: dict[str, Callable[[Path], AbstractContextManager[ObservationsFactory]]] = {
    "sqlite": _sqlite_observations,
    "postgres": _postgres_observations,
}


@pytest.fixture(params=sorted(OBSERVATION_ADAPTERS))
def open_observations(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[ObservationsFactory]:
    """A factory opening one adapter's observation store; each one opened is closed after."""
    opened: list[ObservationStorage] = []
    with OBSERVATION_ADAPTERS[request.param](tmp_path) as make:

        def factory() -> ObservationStorage:
            store = make()
            opened.append(store)
            return store

        yield factory
        for store in opened:
            store.close()


BusFactory = Callable[[Store], Bus]
"""Open a bus over a store (again after a restart: durable cursors live on)."""


def _log_bus() -> tuple[BusFactory, Callable[[], None]]:
    # Fast polling and checkpoints keep the contract tests quick.
    return (lambda store: LogBus(store, poll_s=0.02, checkpoint_s=0.0)), lambda: None


def _nats_bus() -> tuple[BusFactory, Callable[[], None]]:
    url = nats_url()  # skips (fails under CI) when the server is absent
    prefix = f"t{secrets.token_hex(6)}"  # every test its own streams and subjects

    def make(store: Store) -> Bus:
        return NatsBus(
            store,
            url=url,
            prefix=prefix,
            poll_s=0.05,
            fetch_s=0.2,
            checkpoint_s=0.0,
            retry_s=0.01,
            partitions=4,
        )

    return make, lambda: delete_streams(url, prefix)


BUS_ADAPTERS: dict[str, Callable[[], tuple[BusFactory, Callable[[], None]]]] = {
    "log": _log_bus,
    "nats": _nats_bus,
}


@pytest.fixture(params=sorted(BUS_ADAPTERS))
def open_bus(request: pytest.FixtureRequest) -> Iterator[BusFactory]:
    """A factory opening one adapter's bus; every bus it opened is closed after."""
    opened: list[Bus] = []
    make, cleanup = BUS_ADAPTERS[request.param]()

    def factory(store: Store) -> Bus:
        bus = make(store)
        opened.append(bus)
        return bus

    yield factory
    for bus in opened:
        bus.close()
    cleanup()
