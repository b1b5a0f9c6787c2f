"""Hand-built response tables for the analytics tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from vigil.analytics.source import COLUMN_NAMES, create_responses_table

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float | None) -> datetime | None:
    """Return T0 + seconds (None stays None)."""
    return None if seconds is None else T0 + timedelta(seconds=seconds)


def response(**fields: Any) -> tuple[object, ...]:
    """Return one responses row; times given as seconds after T0."""
    defaults: dict[str, Any] = {
        "response_id": fields.get("response_id", f"{fields['incident_id']}-{fields['unit_id']}"),
        "call_id": fields["incident_id"],
        "unit_type": "ENGINE",
        "call_type": "Structure Fire",
        "priority": "3",
        "station_area": "01",
        "zone": "Z1",
        "battalion": "B01",
        "source": "test",
    }
    row = {**defaults, **fields}
    for name in (
        "received_at",
        "entry_at",
        "dispatch_at",
        "en_route_at",
        "on_scene_at",
        "transport_at",
        "hospital_at",
        "available_at",
    ):
        row[name] = at(row.get(name))
    return tuple(row.get(name) for name in COLUMN_NAMES)


def table(rows: list[tuple[object, ...]]) -> duckdb.DuckDBPyConnection:
    """Return a connection whose `responses` table holds rows."""
    con = duckdb.connect()
    create_responses_table(con)
    if rows:
        con.executemany(
            f"INSERT INTO responses VALUES ({', '.join('?' for _ in COLUMN_NAMES)})", rows
        )
    return con


@pytest.fixture
def connect() -> Iterator[Any]:
    opened: list[duckdb.DuckDBPyConnection] = []

    def make(rows: list[tuple[object, ...]]) -> duckdb.DuckDBPyConnection:
        con = table(rows)
        opened.append(con)
        return con

    yield make
    for con in opened:
        con.close()
