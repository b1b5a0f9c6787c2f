"""One interface over both sources of response records: imported CAD history and the live log.

Every analysis reads a DuckDB connection exposing a view ``responses``, one row
per unit response, with the columns of `RESPONSE_COLUMNS` (timestamps are
TIMESTAMPTZ in UTC). `vigil.history.store.HistoryStore` provides it for an
imported city history; `LiveLogSource` exports the platform's own event log to
the same shape (and, on request, to Parquet for other tools).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np

from vigil.core.events import Recorded
from vigil.history.store import SCHEMA
from vigil.incidents.events import CallReceived, IncidentClosed, IncidentOpened
from vigil.units.events import UnitAssigned, UnitRegistered, UnitReleased, UnitStatusChanged
from vigil.units.model import UnitStatus

# The analysis store's columns, less those that only record an import's provenance
# (`vigil.history.store.SCHEMA` is the one definition of the responses shape).
RESPONSE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, kind)
    for name, kind in SCHEMA
    if name not in {"address", "format", "source_sha256", "imported_at"}
)
COLUMN_NAMES = tuple(name for name, _ in RESPONSE_COLUMNS)


class ResponseSource(Protocol):
    """Anything that can open a DuckDB connection exposing the ``responses`` view."""

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open a connection with the ``responses`` view (the caller closes it)."""
        ...


def create_responses_table(con: duckdb.DuckDBPyConnection, name: str = "responses") -> None:
    """Create an empty table with the response columns (for exports and tests)."""
    cols = ", ".join(f"{n} {t}" for n, t in RESPONSE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")


@dataclass(frozen=True, slots=True)
class ParquetSource:
    """Responses stored as Parquet (an export of the live log, or any tool's output)."""

    path: Path

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory connection viewing the Parquet file(s)."""
        con = duckdb.connect()
        literal = str(self.path).replace("'", "''")
        con.execute(f"CREATE VIEW responses AS SELECT * FROM read_parquet('{literal}')")  # noqa: S608 - a quoted path literal
        return con


@dataclass(slots=True)
class _Response:
    incident_id: str
    unit_id: str
    dispatch_at: datetime
    en_route_at: datetime | None = None
    on_scene_at: datetime | None = None
    transport_at: datetime | None = None
    hospital_at: datetime | None = None
    available_at: datetime | None = None
    sequence: int = 1
    seq: int = 0


@dataclass(slots=True)
class _Incident:
    type: str | None = None
    priority: int | None = None
    opened_at: datetime | None = None
    received_at: datetime | None = None
    call_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    disposition: str | None = None
    responses: list[_Response] = field(default_factory=list)


def responses_from_log(records: Iterable[Recorded]) -> list[tuple[object, ...]]:
    """Return one row (in `COLUMN_NAMES` order) per unit assignment found in the log.

    The call's ``received_at`` is the first call's reception (an incident a rule
    opened has no call: its opening time is used, as in the simulator summary).
    Free text (notes, descriptions, addresses) is never copied.
    """
    incidents: dict[str, _Incident] = {}
    units: dict[str, tuple[str, str | None]] = {}  # unit -> (type, station)
    open_response: dict[str, _Response] = {}  # unit -> its current response
    for rec in records:
        ev = rec.event
        if isinstance(ev, IncidentOpened):
            inc = incidents.setdefault(ev.incident_id, _Incident())
            inc.type, inc.priority, inc.opened_at = ev.type, ev.priority, rec.at
            if ev.location is not None:
                inc.lat, inc.lon = ev.location.lat, ev.location.lon
        elif isinstance(ev, CallReceived):
            inc = incidents.setdefault(ev.incident_id, _Incident())
            if inc.received_at is None or ev.received_at < inc.received_at:
                inc.received_at, inc.call_id = ev.received_at, ev.call_id
        elif isinstance(ev, IncidentClosed):
            incidents.setdefault(ev.incident_id, _Incident()).disposition = ev.disposition
        elif isinstance(ev, UnitRegistered):
            units[ev.unit_id] = (ev.type, ev.station)
        elif isinstance(ev, UnitAssigned):
            inc = incidents.setdefault(ev.incident_id, _Incident())
            resp = _Response(
                incident_id=ev.incident_id,
                unit_id=ev.unit_id,
                dispatch_at=rec.at,
                sequence=len(inc.responses) + 1,
                seq=rec.seq,
            )
            inc.responses.append(resp)
            open_response[ev.unit_id] = resp
        elif isinstance(ev, UnitStatusChanged | UnitReleased):
            _status(open_response, ev, rec.at)
    rows: list[tuple[object, ...]] = []
    for incident_id, inc in incidents.items():
        received = inc.received_at or inc.opened_at
        for r in inc.responses:
            unit_type, station = units.get(r.unit_id, (None, None))
            rows.append(
                (
                    f"log:{r.seq}",
                    inc.call_id,
                    incident_id,
                    r.unit_id,
                    unit_type,
                    inc.type,
                    None,
                    None if inc.priority is None else str(inc.priority),
                    None if inc.priority is None else str(inc.priority),
                    r.sequence,
                    None,
                    None,
                    None,
                    inc.lat,
                    inc.lon,
                    station,
                    inc.disposition,
                    received,
                    received,
                    r.dispatch_at,
                    r.en_route_at,
                    r.on_scene_at,
                    r.transport_at,
                    r.hospital_at,
                    r.available_at,
                    "log",
                    r.seq,
                )
            )
    return rows


def _status(
    open_response: dict[str, _Response], ev: UnitStatusChanged | UnitReleased, at: datetime
) -> None:
    resp = open_response.get(ev.unit_id)
    if isinstance(ev, UnitReleased):
        # Closing (or cancelling) an incident frees its units without a status report.
        if resp is not None and resp.incident_id == ev.incident_id:
            resp.available_at = resp.available_at or at
            del open_response[ev.unit_id]
        return
    if resp is None or (ev.incident_id is not None and ev.incident_id != resp.incident_id):
        return
    if ev.new is UnitStatus.EN_ROUTE and resp.en_route_at is None:
        resp.en_route_at = at
    elif ev.new is UnitStatus.ON_SCENE and resp.on_scene_at is None:
        resp.on_scene_at = at
    elif ev.new is UnitStatus.TRANSPORTING and resp.transport_at is None:
        resp.transport_at = at
    elif ev.new is UnitStatus.AT_HOSPITAL and resp.hospital_at is None:
        resp.hospital_at = at
    elif ev.new in (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE):
        resp.available_at = at
        del open_response[ev.unit_id]


class RecordLog(Protocol):
    """The part of the event store the export reads."""

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterable[Recorded]:
        """Yield recorded events in log order."""
        ...


@dataclass(frozen=True, slots=True)
class LiveLogSource:
    """The platform's own event log, exported to the responses shape on connect."""

    store: RecordLog

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Export the log into an in-memory ``responses`` table."""
        con = duckdb.connect()
        create_responses_table(con)
        rows = responses_from_log(self.store.read())
        if rows:
            marks = ", ".join("?" for _ in COLUMN_NAMES)
            con.executemany(f"INSERT INTO responses VALUES ({marks})", rows)  # noqa: S608 - placeholders only
        return con

    def export(self, path: Path) -> int:
        """Write the log's responses to a Parquet file; return the row count."""
        con = self.connect()
        try:
            literal = str(path).replace("'", "''")
            con.execute(f"COPY responses TO '{literal}' (FORMAT parquet)")
            row = con.execute("SELECT count(*) FROM responses").fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()


def load_columns(
    con: duckdb.DuckDBPyConnection, columns: Mapping[str, Any], name: str = "responses"
) -> int:
    """Create table `name` from column arrays (datetime64 taken as UTC); absent columns NULL."""
    import pandas as pd  # noqa: PLC0415 - only bulk loads pay for pandas

    frame = pd.DataFrame(
        {
            k: pd.to_datetime(v, utc=True) if np.asarray(v).dtype.kind == "M" else v
            for k, v in columns.items()
        }
    )
    con.register("_load", frame)
    select = ", ".join(
        f"CAST(_load.{n} AS {t}) AS {n}" if n in columns else f"CAST(NULL AS {t}) AS {n}"
        for n, t in RESPONSE_COLUMNS
    )
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM _load")  # noqa: S608 - names are ours
    con.unregister("_load")
    return len(frame)
