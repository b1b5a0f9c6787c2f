"""The adapters every contract suite runs against: one factory per adapter that exists.

An adapter added later (PostgreSQL, NATS JetStream) adds its factory here; a
factory whose service is absent skips with the reason (and fails under CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
