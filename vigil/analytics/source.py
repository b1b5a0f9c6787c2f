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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
from numpy.typing import NDArray

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


def responses_from_log(records: Iterable[Recorded]) -> LogExport:
    """Return one row (in `COLUMN_NAMES` order) per unit assignment found in the log.

    The call's ``received_at`` is the first call's reception (an incident a rule
    opened has no call: its opening time is used, as in the simulator summary).
    Free text (notes, descriptions, addresses) is never copied. Areas are left
    empty here (`Areas.fill` assigns them); the registered homes of the fleet's
    stations come back with the rows, for cities without a stations file.
    """
    incidents: dict[str, _Incident] = {}
    units: dict[str, tuple[str, str | None]] = {}  # unit -> (type, station)
    homes: dict[str, list[tuple[float, float]]] = {}  # station -> its units' registered homes
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
            if ev.station and ev.location is not None:
                homes.setdefault(ev.station, []).append((ev.location.lat, ev.location.lon))
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
        priority = None if inc.priority is None else str(inc.priority)
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
                    priority,
                    r.sequence,
                    inc.lat,
                    inc.lon,
                    station,
                    inc.disposition,
                    received,
                    r.dispatch_at,
                    r.en_route_at,
                    r.on_scene_at,
                    r.transport_at,
                    r.hospital_at,
                    r.available_at,
                    r.seq,
                )
            )
    station_homes = tuple(
        (name, sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        for name, pts in sorted(homes.items())
    )
    return LogExport(rows=rows, registered_stations=station_homes)


_ROW_FIELDS = (
    "response_id",
    "call_id",
    "incident_id",
    "unit_id",
    "unit_type",
    "call_type",
    "priority",
    "unit_sequence",
    "lat",
    "lon",
    "origin_station",
    "disposition",
    "received_at",
    "dispatch_at",
    "en_route_at",
    "on_scene_at",
    "transport_at",
    "hospital_at",
    "available_at",
    "line",
)


@dataclass(frozen=True, slots=True)
class LogExport:
    """The log's unit responses (rows in `_ROW_FIELDS` order) and its fleet's station homes."""

    rows: list[tuple[object, ...]]
    registered_stations: tuple[tuple[str, float, float], ...]

    def columns(self) -> dict[str, Any]:
        """Return the rows as columns (timestamps as UTC datetime64), for one bulk load."""
        if not self.rows:
            return {}
        cols: dict[str, Any] = {
            name: list(values)
            for name, values in zip(_ROW_FIELDS, zip(*self.rows, strict=True), strict=True)
        }
        cols["final_priority"] = cols["priority"]
        cols["entry_at"] = cols["received_at"]
        cols["source"] = ["log"] * len(self.rows)
        for name, values in list(cols.items()):
            if name.endswith("_at"):
                cols[name] = _utc_datetime64(values)
        for name in ("lat", "lon"):
            cols[name] = np.array([np.nan if x is None else x for x in cols[name]], np.float64)
        return cols


def _utc_datetime64(values: list[datetime | None]) -> NDArray[np.datetime64]:
    return np.array(
        [None if t is None else t.astimezone(UTC).replace(tzinfo=None) for t in values],
        dtype="datetime64[us]",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Areas:
    """How the live log's incidents get their areas, from what the city config defines.

    The imported history takes its areas from the CAD's own columns (SFFD: the
    ``Station Area`` of the incident's location, its battalion, its district). The
    live log has a location per incident, so:

    * ``station_area``: the first-due area, i.e. the station nearest the incident
      (straight-line distance; the city's stations file, or, without one, the mean
      registered home of each station's units);
    * ``zone``: the first configured zone (rule files' ``zones``, by name) that
      contains the incident;
    * ``battalion``: the station area's battalion when the mapping is given.
    """

    stations: tuple[tuple[str, float, float], ...] = ()  # (id, lat, lon)
    zones: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()  # (name, ring of lat, lon)
    battalions: tuple[tuple[str, str], ...] = ()  # (station id, battalion)

    def assign(
        self,
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        *,
        fallback_stations: tuple[tuple[str, float, float], ...] = (),
    ) -> dict[str, NDArray[np.object_]]:
        """Return station_area, zone and battalion for every point (None where unknown)."""
        n = len(lat)
        out = {k: np.full(n, None, dtype=object) for k in ("station_area", "zone", "battalion")}
        located = ~(np.isnan(lat) | np.isnan(lon))
        stations = self.stations or fallback_stations
        if stations and located.any():
            s_lat = np.array([s[1] for s in stations])
            s_lon = np.array([s[2] for s in stations])
            ids = np.array([s[0] for s in stations], dtype=object)
            idx = np.flatnonzero(located)
            for chunk in np.array_split(idx, max(1, len(idx) // 50_000)):
                d2 = (lat[chunk, None] - s_lat) ** 2 + (
                    (lon[chunk, None] - s_lon) * np.cos(np.radians(lat[chunk, None]))
                ) ** 2
                out["station_area"][chunk] = ids[np.argmin(d2, axis=1)]
            if self.battalions:
                of = dict(self.battalions)
                out["battalion"][idx] = [of.get(str(a)) for a in out["station_area"][idx]]
        for name, ring in reversed(self.zones):  # the first listed zone wins on overlap
            out["zone"][located & _inside(lat, lon, ring)] = name
        return out


def _inside(
    lat: NDArray[np.float64], lon: NDArray[np.float64], ring: tuple[tuple[float, float], ...]
) -> NDArray[np.bool_]:
    """Return which points lie inside the polygon (ray casting, vectorised over points)."""
    inside = np.zeros(len(lat), dtype=bool)
    j = len(ring) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(len(ring)):
            yi, xi = ring[i]
            yj, xj = ring[j]
            if yi != yj:
                crosses = ((yi > lat) != (yj > lat)) & (
                    lon < (xj - xi) * (lat - yi) / (yj - yi) + xi
                )
                inside ^= crosses
            j = i
    return inside


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
    areas: Areas = field(default_factory=Areas)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Export the log into an in-memory ``responses`` table (one bulk load)."""
        con = duckdb.connect()
        export = responses_from_log(self.store.read())
        cols = export.columns()
        if not cols:
            create_responses_table(con)
            return con
        cols.update(
            self.areas.assign(
                cols["lat"], cols["lon"], fallback_stations=export.registered_stations
            )
        )
        load_columns(con, cols)
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


def city_areas(
    stations: Path | None,
    zones: Mapping[str, tuple[tuple[float, float], ...]] | None = None,
) -> Areas:
    """Return the areas the city config defines: its stations file and its zones (by name)."""
    from vigil.city.stations import read_stations  # noqa: PLC0415 - only live exports read it

    found = tuple(
        (s.id, s.location.lat, s.location.lon)
        for s in (read_stations(stations) if stations else ())
    )
    return Areas(stations=found, zones=tuple(sorted((zones or {}).items())))
