"""Calibration recovers known parameters from a synthetic history on the Mission graph."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.conftest import shared_file
from tests.unit.history.test_store import sffd_row, write_sffd
from vigil.city.stations import read_stations
from vigil.core.geometry import LatLon
from vigil.geo import RoadNetwork
from vigil.geo.calibrate import calibrate, day_folds, metrics, select_responses
from vigil.geo.eta import TravelTimes
from vigil.geo.travel import TravelModel, default_model, posted_model
from vigil.history import HistoryStore

LA = ZoneInfo("America/Los_Angeles")
# The US defaults' speeds x 0.55: with a few hundred responses the fit has one speed scale.
SCALE = 0.55
TRUTH = TravelModel(
    name="truth",
    country="US",
    speeds_kmh={k: v * SCALE for k, v in default_model("US").speeds_kmh.items()},
    intersection_delay_s=0.0,
    overhead_s=60.0,
    speed_factors={"engine": 1.0, "ladder": 0.8},
)


def _fmt(t: datetime) -> str:
    return t.astimezone(LA).strftime("%m/%d/%Y %I:%M:%S %p")


def synthetic_history(
    network: RoadNetwork, tmp_path: Path, n: int = 320
) -> tuple[Path, dict[str, LatLon]]:
    """Write an SFFD-format file of drives from stations, timed by TRUTH with noise."""
    stations = {
        s.id: s.location
        for s in read_stations(shared_file("cad/sffd_stations.csv"))
        if s.id in {"6", "7", "9", "11", "24", "25", "26", "29", "32", "37"}
    }
    truth = TravelTimes(network, TRUTH, cache=False)
    rng = np.random.default_rng(7)
    g = network.graph
    ids = sorted(stations)
    rows: list[dict[str, str]] = []
    start = datetime(2017, 3, 1, 0, 0, tzinfo=LA)
    while len(rows) < n:
        i = len(rows)
        station = ids[i % len(ids)]
        kind = "TRUCK" if rng.random() < 0.3 else "ENGINE"
        node = int(rng.integers(g.n_nodes))
        target = LatLon(float(g.lat[node]), float(g.lon[node]))
        eta = truth.eta(stations[station], target, "ladder" if kind == "TRUCK" else "engine")
        actual = eta.seconds * math.exp(rng.normal(0, 0.15))
        if rng.random() < 0.05:
            actual *= 2.5  # a few stops on the way: the robust loss must shrug them off
        # Eight days, each unit at most once every few hours: always back in quarters.
        en_route = start + timedelta(days=i % 8, hours=(i // 8) % 20, minutes=int(rng.integers(50)))
        unit = f"{kind[0]}{int(station):02d}"
        rows.append(
            sffd_row(
                RowID=f"syn-{i}",
                **{
                    "Call Number": f"C{i}",
                    "Unit ID": unit,
                    "Unit Type": kind,
                    "Received DtTm": _fmt(en_route - timedelta(seconds=120)),
                    "Entry DtTm": _fmt(en_route - timedelta(seconds=100)),
                    "Dispatch DtTm": _fmt(en_route - timedelta(seconds=60)),
                    "Response DtTm": _fmt(en_route),
                    "On Scene DtTm": _fmt(en_route + timedelta(seconds=round(actual))),
                    "Transport DtTm": "",
                    "Hospital DtTm": "",
                    "Available DtTm": _fmt(en_route + timedelta(seconds=round(actual) + 900)),
                    "Location": f"({target.lat}, {target.lon})",
                },
            )
        )
    return write_sffd(tmp_path / "synthetic.csv", rows), stations


@pytest.mark.slow
def test_calibration_recovers_known_parameters(mission: RoadNetwork, tmp_path: Path) -> None:
    path, stations = synthetic_history(mission, tmp_path)
    store = HistoryStore(tmp_path / "h")
    store.import_file(path, "sffd", tz=None, progress=False)
    con = store.connect()
    try:
        sel = select_responses(con, mission, stations, tz="America/Los_Angeles")
    finally:
        con.close()
    # Responses of one unit close together are (rightly) excluded as not from quarters.
    assert len(sel.observed) >= 200, sel.excluded
    assert set(sel.excluded) <= {"not back in quarters after the previous response"}
    report = calibrate(
        mission,
        sel,
        prior=default_model("US"),
        uncalibrated={"vigil_uncalibrated": posted_model({"engine": 1.2, "ladder": 1.15})},
        k=4,
    )
    m = report.model
    assert m.overhead_s == pytest.approx(60.0, rel=0.10)
    assert m.speed_factors["ladder"] == pytest.approx(0.8, rel=0.10)
    for group, speed in TRUTH.speeds_kmh.items():
        assert m.speeds_kmh[group] == pytest.approx(speed, rel=0.10)
    cal = report.methods["vigil_calibrated"]
    assert 0.95 <= cal.median_ratio <= 1.05
    assert cal.spearman > report.methods["straight_line"].spearman
    assert cal.mae_s < report.methods["vigil_uncalibrated"].mae_s
    assert report.folds == 4 and report.days == 8
    assert m.interval is not None and m.interval.log_low < 0 < m.interval.log_high
    assert m.interval.coverage_held_out is not None
    assert 0.65 <= m.interval.coverage_held_out <= 0.95
    assert m.provenance is not None and m.provenance.fitted_on == len(sel.observed)
    body = report.to_json()
    assert {"n", "median_ratio", "mae_s", "spearman", "spearman_straight_line"} <= body.keys()


def test_day_folds_keep_days_whole() -> None:
    days = ["d1", "d2", "d1", "d3", "d2", "d4", "d5", "d6"]
    folds = day_folds(days, 3)
    by_day: dict[str, set[int]] = {}
    for d, f in zip(days, folds, strict=True):
        by_day.setdefault(d, set()).add(f)
    assert all(len(v) == 1 for v in by_day.values())
    assert set(folds) == {0, 1, 2}
    assert day_folds(["a", "a", "b"], 5) == [0, 0, 1]


def test_metrics_by_hand() -> None:
    m = metrics(np.array([100.0, 200.0, 330.0, np.nan]), np.array([100.0, 100.0, 300.0, 50.0]))
    assert m.n == 3
    assert m.median_ratio == pytest.approx(1.1)
    assert m.mae_s == pytest.approx((0 + 100 + 30) / 3)
    assert m.within_60s == pytest.approx(2 / 3)
    assert m.within_120s == pytest.approx(1.0)
    assert m.spearman == pytest.approx(math.sqrt(3) / 2)  # actual has a tie
