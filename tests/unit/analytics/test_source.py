"""The live log's export: one bulk load, areas filled from the city's stations and zones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

from vigil.analytics.kpi import kpi_report
from vigil.analytics.settings import AnalyticsSettings
from vigil.analytics.source import Areas, LiveLogSource
from vigil.core.events import Event, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, EventId, IncidentId, UnitId
from vigil.incidents.events import CallReceived, IncidentOpened
from vigil.incidents.model import Agency
from vigil.units.events import UnitAssigned, UnitRegistered, UnitStatusChanged
from vigil.units.model import UnitStatus

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NORTH = LatLon(60.20, 24.94)  # near station "1"
SOUTH = LatLon(60.15, 24.94)  # near station "2"
STATIONS = (("1", 60.21, 24.94), ("2", 60.14, 24.94))
SOUTH_ZONE = ("harbour", ((60.10, 24.90), (60.10, 25.00), (60.17, 25.00), (60.17, 24.90)))


class FakeLog:
    """An in-memory log of recorded events."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []

    def add(self, seconds: float, event: Event) -> None:
        seq = len(self.records) + 1
        self.records.append(
            Recorded(
                seq=seq,
                id=EventId(f"e{seq}"),
                at=T0 + timedelta(seconds=seconds),
                actor="test",
                cause=None,
                event=event,
                prev_hash="",
                hash="",
            )
        )

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        yield from (r for r in self.records if r.seq > after_seq)


def incident(log: FakeLog, n: int, at: LatLon, t: float, unit: str) -> None:
    iid = f"I{n}"
    log.add(
        t,
        IncidentOpened(
            incident_id=IncidentId(iid),
            type="medical",
            priority=2,
            agency=Agency.EMS,
            location=at,
            address="secret street 1",
            description="caller says her name is Jane",
        ),
    )
    log.add(
        t,
        CallReceived(
            incident_id=IncidentId(iid),
            call_id=CallId(f"C{n}"),
            received_at=T0 + timedelta(seconds=t),
            location=at,
            accuracy_m=None,
            address=None,
            nature="fall",
            notes="private",
            has_personal_data=True,
        ),
    )
    log.add(t + 50, UnitAssigned(unit_id=UnitId(unit), incident_id=IncidentId(iid)))
    log.add(
        t + 110,
        UnitStatusChanged(
            unit_id=UnitId(unit),
            old=UnitStatus.AVAILABLE,
            new=UnitStatus.EN_ROUTE,
            incident_id=IncidentId(iid),
        ),
    )
    log.add(
        t + 400,
        UnitStatusChanged(
            unit_id=UnitId(unit),
            old=UnitStatus.EN_ROUTE,
            new=UnitStatus.ON_SCENE,
            incident_id=IncidentId(iid),
        ),
    )
    log.add(
        t + 900,
        UnitStatusChanged(
            unit_id=UnitId(unit),
            old=UnitStatus.ON_SCENE,
            new=UnitStatus.AVAILABLE,
            incident_id=IncidentId(iid),
        ),
    )


def fleet(log: FakeLog) -> None:
    for uid, station, where in (("M1", "1", NORTH), ("M2", "2", SOUTH)):
        log.add(
            0,
            UnitRegistered(
                unit_id=UnitId(uid),
                callsign=uid,
                agency=Agency.EMS,
                type="medic_als",
                capabilities=(),
                station=station,
                location=where,
            ),
        )


def scene() -> FakeLog:
    log = FakeLog()
    fleet(log)
    for n in range(3):
        incident(log, n, NORTH, 100 + 1000 * n, "M1")
    for n in range(3, 5):
        incident(log, n, SOUTH, 100 + 1000 * n, "M2")
    return log


def test_areas_come_from_the_configured_stations_and_zones() -> None:
    areas = Areas(stations=STATIONS, zones=(SOUTH_ZONE,), battalions=(("1", "B1"), ("2", "B2")))
    con = LiveLogSource(scene(), areas=areas).connect()
    rows = con.execute(
        "SELECT incident_id, station_area, zone, battalion, unit_id, origin_station "
        "FROM responses ORDER BY incident_id"
    ).fetchall()
    assert [r[1] for r in rows] == ["1", "1", "1", "2", "2"]
    assert [r[2] for r in rows] == [None, None, None, "harbour", "harbour"]
    assert [r[3] for r in rows] == ["B1", "B1", "B1", "B2", "B2"]
    assert {r[5] for r in rows} == {"1", "2"}


def test_without_a_stations_file_the_fleet_homes_define_station_areas() -> None:
    con = LiveLogSource(scene()).connect()
    areas = con.execute("SELECT station_area FROM responses ORDER BY incident_id").fetchall()
    assert [a[0] for a in areas] == ["1", "1", "1", "2", "2"]


def test_the_bulk_load_keeps_types_times_and_no_free_text() -> None:
    con = LiveLogSource(scene(), areas=Areas(stations=STATIONS)).connect()
    types = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE responses)").fetchall()
    )
    assert types["received_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["lat"] == "DOUBLE"
    assert types["unit_sequence"] == "INTEGER"
    row = con.execute(
        "SELECT epoch(en_route_at) - epoch(dispatch_at), epoch(on_scene_at) - epoch(received_at)"
        " FROM responses WHERE incident_id = 'I0'"
    ).fetchone()
    assert row == (60.0, 400.0)
    text = " ".join(str(v) for r in con.execute("SELECT * FROM responses").fetchall() for v in r)
    assert "Jane" not in text and "secret" not in text and "private" not in text
    report = kpi_report(con, AnalyticsSettings(), source="log", breakdowns=["area"])
    travel = {r.group: r.n for r in report.select(interval="travel", breakdown="area")}
    assert travel == {"1": 3, "2": 2}


def test_an_empty_log_gives_an_empty_relation() -> None:
    con = LiveLogSource(FakeLog()).connect()
    assert con.execute("SELECT count(*) FROM responses").fetchone() == (0,)


def test_points_inside_a_zone_polygon() -> None:
    from vigil.analytics.source import _inside  # noqa: PLC0415 - the vectorised helper itself

    ring = ((0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0))
    lat = np.array([1.0, 3.0, 1.0, -0.5])
    lon = np.array([1.0, 1.0, 2.5, 1.0])
    assert list(_inside(lat, lon, ring)) == [True, False, False, False]


def test_an_incident_without_a_location_has_no_area() -> None:
    log = scene()
    log.add(
        9000,
        IncidentOpened(
            incident_id=IncidentId("I9"),
            type="medical",
            priority=2,
            agency=Agency.EMS,
            location=None,
            address=None,
            description="",
        ),
    )
    log.add(9050, UnitAssigned(unit_id=UnitId("M1"), incident_id=IncidentId("I9")))
    con = LiveLogSource(log, areas=Areas(stations=STATIONS, zones=(SOUTH_ZONE,))).connect()
    row = con.execute(
        "SELECT lat IS NULL, station_area, zone FROM responses WHERE incident_id = 'I9'"
    ).fetchone()
    assert row == (True, None, None)
