"""The comparison of real and simulated first-unit intervals (vigil.sim.validate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np

from vigil.sim.validate import Intervals, build_report, first_unit_intervals

T0 = datetime(2017, 1, 3, 8, tzinfo=UTC)
WINDOW = [(T0, T0 + timedelta(days=1))]
WORLD = (-90.0, -180.0, 90.0, 180.0)
COLUMNS = (
    "response_id varchar, call_id varchar, unit_id varchar, unit_type varchar, "
    "call_type varchar, priority varchar, unit_sequence integer, lat double, lon double, "
    "received_at timestamptz, dispatch_at timestamptz, en_route_at timestamptz, "
    "on_scene_at timestamptz"
)


def _log(rows: list[tuple[Any, ...]]) -> Any:
    con = duckdb.connect()
    con.execute(f"create table responses ({COLUMNS})")
    con.executemany(f"insert into responses values ({', '.join('?' * 13)})", rows)
    return con


def _response(
    call: str, unit: str, utype: str, kind: str, prio: str, turnout: float, travel: float
) -> tuple[Any, ...]:
    dispatch = T0 + timedelta(seconds=60)
    en_route = dispatch + timedelta(seconds=turnout)
    return (
        f"{call}-{unit}",
        call,
        unit,
        utype,
        kind,
        prio,
        1,
        37.75,
        -122.42,
        T0,
        dispatch,
        en_route,
        en_route + timedelta(seconds=travel),
    )


def test_the_first_unit_to_arrive_gives_the_intervals_and_variants_join_their_kind() -> None:
    real = _log(
        [
            # the engine turns out slower but arrives first: its turnout and travel count
            _response("1", "E1", "ENGINE", "Medical Incident", "3", 70, 100),
            _response("1", "M1", "MEDIC", "Medical Incident", "3", 10, 400),
            _response("2", "P1", "PRIVATE", "Medical Incident", "2", 30, 300),
        ]
    )
    sim = _log(
        [
            _response("a", "E1", "engine", "medical_incident_p3", "1", 70, 100),
            # a run-card variant of the same real kind (vigil.sim.fit.variant)
            _response("b", "P1", "private", "medical_incident_v2_p2", "3", 30, 300),
        ]
    )
    r = first_unit_intervals([real], WINDOW, WORLD)
    s = first_unit_intervals([sim], WINDOW, WORLD)
    assert r.calls == s.calls == 2
    assert sorted(r.samples["turnout"].tolist()) == [30.0, 70.0]
    assert r.first_unit_types == {"engine": 1, "private": 1}
    assert set(r.by_kind) == set(s.by_kind) == {"medical_incident_p3", "medical_incident_p2"}
    assert s.by_kind["medical_incident_p2"]["travel"].tolist() == [300.0]


def _intervals(rng: np.random.Generator, scale: float, n: int) -> Intervals:
    samples = {
        name: rng.lognormal(np.log(m * scale), 0.5, n)
        for name, m in (("call_processing", 100), ("turnout", 50), ("travel", 180), ("total", 400))
    }
    return Intervals(
        samples=samples,
        calls=n,
        first_unit_types={"engine": n},
        first_unit_sent_later=0,
        by_kind={},
    )


def test_verdicts_tell_a_faithful_simulation_from_a_fast_one() -> None:
    rng = np.random.default_rng(4)
    real = _intervals(rng, 1.0, 3000)
    report = build_report(real, _intervals(rng, 1.0, 3000), windows=WINDOW, replications=1)
    assert {c.verdict for c in report.intervals.values()} == {"faithful"}
    fast = build_report(real, _intervals(rng, 0.5, 3000), windows=WINDOW, replications=1)
    assert {c.verdict for c in fast.intervals.values()} == {"not faithful"}
    assert all(c.ks > c.ks_null_p95 for c in fast.intervals.values())
