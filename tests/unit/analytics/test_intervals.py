"""Interval definitions on hand-built timelines, including missing and out-of-order times."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from tests.unit.analytics.conftest import response
from vigil.analytics.intervals import INTERVALS, STATUSES
from vigil.analytics.kpi import kpi_report, measure
from vigil.analytics.settings import AnalyticsSettings

Connect = Callable[[list[tuple[object, ...]]], duckdb.DuckDBPyConnection]
SETTINGS = AnalyticsSettings()


def _measured(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, float | None]]:
    labels = measure(con, SETTINGS)
    rows = con.execute(
        "SELECT interval, unit_type, status, value_s FROM measured ORDER BY ALL"
    ).fetchall()
    return {(INTERVALS[i].name, labels["unit_type"][u]): (STATUSES[s], v) for i, u, s, v in rows}


def test_a_complete_timeline(connect: Connect) -> None:
    con = connect(
        [
            response(
                incident_id="A",
                unit_id="E1",
                received_at=0,
                dispatch_at=50,
                en_route_at=110,
                on_scene_at=350,
                available_at=900,
            )
        ]
    )
    m = _measured(con)
    assert m[("call_processing", "ENGINE")] == ("included", 50.0)
    assert m[("turnout", "ENGINE")] == ("included", 60.0)
    assert m[("travel", "ENGINE")] == ("included", 240.0)
    assert m[("total", "ENGINE")] == ("included", 350.0)


def test_per_incident_intervals_use_first_dispatched_and_first_arriving(connect: Connect) -> None:
    con = connect(
        [
            # E1 dispatched first but arrives second; T2 arrives first.
            response(
                incident_id="A",
                unit_id="E1",
                received_at=0,
                dispatch_at=40,
                en_route_at=100,
                on_scene_at=500,
            ),
            response(
                incident_id="A",
                unit_id="T2",
                unit_type="TRUCK",
                received_at=10,
                dispatch_at=70,
                en_route_at=90,
                on_scene_at=300,
            ),
        ]
    )
    m = _measured(con)
    assert m[("call_processing", "ENGINE")] == ("included", 40.0)  # first dispatched: E1
    assert m[("travel", "TRUCK")] == ("included", 210.0)  # first arriving: T2, 90 -> 300
    assert m[("total", "TRUCK")] == ("included", 300.0)  # earliest call (0) -> first on scene
    assert m[("turnout", "ENGINE")] == ("included", 60.0)
    assert m[("turnout", "TRUCK")] == ("included", 20.0)


def test_missing_cancelled_negative_and_too_long_are_excluded_and_counted(connect: Connect) -> None:
    con = connect(
        [
            # Missing dispatch time: no call processing or turnout.
            response(
                incident_id="M",
                unit_id="E1",
                received_at=0,
                dispatch_at=None,
                en_route_at=60,
                on_scene_at=300,
            ),
            # Cancelled en route: went en route, never arrived.
            response(
                incident_id="C",
                unit_id="E2",
                received_at=0,
                dispatch_at=30,
                en_route_at=80,
                on_scene_at=None,
                available_at=200,
            ),
            # Out of order: en route recorded before dispatch; on scene before en route.
            response(
                incident_id="O",
                unit_id="E3",
                received_at=0,
                dispatch_at=100,
                en_route_at=40,
                on_scene_at=20,
            ),
            # A unit marked en route hours late.
            response(
                incident_id="L",
                unit_id="E4",
                received_at=0,
                dispatch_at=30,
                en_route_at=9000,
                on_scene_at=9100,
            ),
            # And one good timeline.
            response(
                incident_id="G",
                unit_id="M5",
                unit_type="MEDIC",
                received_at=0,
                dispatch_at=45,
                en_route_at=95,
                on_scene_at=400,
            ),
        ]
    )
    report = kpi_report(con, SETTINGS, source="test")
    ex = report.exclusions
    assert ex["call_processing"] == {
        "included": 4,
        "missing": 1,
        "cancelled_en_route": 0,
        "negative": 0,
        "too_long": 0,
    }
    assert ex["turnout"] == {
        "included": 2,
        "missing": 1,
        "cancelled_en_route": 0,
        "negative": 1,
        "too_long": 1,
    }
    assert ex["travel"] == {
        "included": 3,
        "missing": 0,
        "cancelled_en_route": 1,
        "negative": 1,
        "too_long": 0,
    }
    assert ex["total"] == {
        "included": 3,
        "missing": 0,
        "cancelled_en_route": 1,
        "negative": 0,
        "too_long": 1,
    }
    turnout = report.overall("turnout")
    assert turnout is not None and turnout.n == 2
    assert turnout.mean_s.value == (50.0 + 50.0) / 2
    # The EMS unit is held to 60 s, the engine to 80 s: both within.
    assert turnout.compliance is not None and turnout.compliance.value == 1.0


def test_breakdowns_hours_in_the_local_time_zone(connect: Connect) -> None:
    con = connect(
        [
            response(
                incident_id="A",
                unit_id="E1",
                received_at=0,
                dispatch_at=50,
                en_route_at=110,
                on_scene_at=350,
            )
        ]
    )
    # T0 is 12:00 UTC = 04:00 in San Francisco (PST).
    local = kpi_report(con, AnalyticsSettings(timezone="America/Los_Angeles"), source="t")
    hours = {r.group for r in local.select(interval="travel", breakdown="hour")}
    assert hours == {"4"}
    periods = {r.group for r in local.select(interval="travel", breakdown="period")}
    assert periods == {"2024-03-01"}
    areas = {r.group for r in local.select(interval="travel", breakdown="area")}
    assert areas == {"01"}


def test_unrecorded_groups_are_named_not_dropped(connect: Connect) -> None:
    con = connect(
        [
            response(
                incident_id="A",
                unit_id="E1",
                received_at=0,
                dispatch_at=50,
                en_route_at=110,
                on_scene_at=350,
                station_area=None,
            )
        ]
    )
    report = kpi_report(con, SETTINGS, source="t")
    assert [r.group for r in report.select(interval="travel", breakdown="area")] == ["(unrecorded)"]


def test_empty_source(connect: Connect) -> None:
    report = kpi_report(connect([]), SETTINGS, source="t")
    assert report.rows == () and report.exclusions["travel"]["included"] == 0
