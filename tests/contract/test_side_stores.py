"""The small stores beside the log: report photos and CAP-in dead letters, on every adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import T0
from tests.postgres import temp_database
from vigil.alerts.inbound import CapDeadLetters, DeadLetters
from vigil.alerts.postgres import PostgresCapDeadLetters
from vigil.reports.postgres import PostgresPhotos
from vigil.reports.service import PhotoStore, SqlitePhotos
from vigil.store.postgres.database import Database

Side = tuple[Callable[[], PhotoStore], Callable[[], CapDeadLetters]]


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[Side]:
    yield (
        lambda: SqlitePhotos(tmp_path / "p.sqlite3"),
        lambda: DeadLetters(tmp_path / "d.sqlite3"),
    )


@contextmanager
def _postgres(tmp_path: Path) -> Iterator[Side]:
    del tmp_path
    with temp_database() as url:
        yield (
            lambda: PostgresPhotos(Database(url, what="report photos")),
            lambda: PostgresCapDeadLetters(Database(url, what="cap dead letters")),
        )


ADAPTERS: dict[str, Callable[[Path], AbstractContextManager[Side]]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(ADAPTERS))
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    """Factories of one adapter's photo store and dead-letter store (reopened: durable)."""
    with ADAPTERS[request.param](tmp_path) as made:
        yield made


def test_photos_are_stored_replaced_and_durable(side: Side) -> None:
    photos = side[0]()
    assert photos.get("R1") is None
    photos.put("R1", b"\xff\xd8one", T0)
    photos.put("R1", b"\xff\xd8two", T0)
    photos.close()
    again = side[0]()
    try:
        assert again.get("R1") == b"\xff\xd8two"
    finally:
        again.close()


def test_cap_dead_letters_are_kept_and_counted(side: Side) -> None:
    dead = side[1]()
    try:
        dead.add(at=T0, source="feed-a", reason="invalid", detail="bad" * 1000, raw=b"<x/>")
        dead.add(at=T0, source="feed-a", reason="invalid", detail="again", raw=b"<y/>")
        dead.add(at=T0, source="feed-b", reason="too_large", detail="big", raw=b"")
        assert dead.counters() == {"feed-a": {"invalid": 2}, "feed-b": {"too_large": 1}}
        recent = dead.recent(limit=2)
        assert [(d["source"], d["detail"]) for d in recent] == [
            ("feed-b", "big"),
            ("feed-a", "again"),
        ]
        assert len(dead.recent()[-1]["detail"]) == 2000
    finally:
        dead.close()


def test_client_hits_are_limited_shared_and_forgotten(side: Side) -> None:
    a, b = side[0](), side[0]()  # two processes on one store
    try:
        assert a.secret() == b.secret() and len(a.secret()) == 32
        assert a.client_hit("k", now=1000.0, span_s=3600, limit=2)
        assert b.client_hit("k", now=1001.0, span_s=3600, limit=2)
        assert not a.client_hit("k", now=1002.0, span_s=3600, limit=2)
        assert not b.client_hit("k", now=1003.0, span_s=3600, limit=2)
        assert a.client_hit("other", now=1003.0, span_s=3600, limit=2)
        assert b.client_hit("k", now=4601.0, span_s=3600, limit=2)  # the first hour is over
    finally:
        a.close()
        b.close()


def test_photos_are_deleted_by_id_and_by_age(side: Side) -> None:
    photos = side[0]()
    try:
        photos.put("R1", b"\xff\xd8one", T0)
        photos.put("R2", b"\xff\xd8two", T0 + timedelta(days=10))
        photos.put("R3", b"\xff\xd8three", T0 + timedelta(days=20))
        photos.delete(["R3"], before=T0 + timedelta(days=1))
        assert photos.get("R1") is None and photos.get("R3") is None
        assert photos.get("R2") == b"\xff\xd8two"
    finally:
        photos.close()
