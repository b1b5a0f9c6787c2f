"""Is the fitted San Francisco simulator like the real city, on days it was not fitted on?

Imports the shared SFFD four-day history (31 Dec 2016 - 3 Jan 2017, all call types)
into a temporary analysis store, and for each day fits the Mission-district city on
the other three days, simulates the held-out day through the whole platform, and
pools the first-unit intervals of the four held-out days against the real ones.
Then it times one simulated day of the fitted city with 2,000 devices reporting
(the speed target). Prints a table and writes benchmarks/results/sim_validation.json
and benchmarks/results/sim_validation.png.

    .venv/bin/python benchmarks/sim_validation.py                 # 4 folds, 2 replications
    .venv/bin/python benchmarks/sim_validation.py --replications 1 --skip-speed
    .venv/bin/python benchmarks/sim_validation.py --speed-only     # keeps the saved validation
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from vigil.geo import GeoSettings, load_network
from vigil.history.store import HistoryStore
from vigil.sim.fit import FitOptions, fit_city
from vigil.sim.fitted import (
    Station,
    area_of,
    calibrate_travel,
    extent,
    holdout_days,
    inside,
    read_stations,
    run_scenario,
    travel_eta,
    validate_holdout,
    write_city,
)
from vigil.sim.scenario import Scenario, load_scenario
from vigil.sim.validate import plot_report

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = Path(__file__).with_name("results")
TZ = "America/Los_Angeles"


def _speed(scenario: Scenario, out: dict[str, Any]) -> None:
    """Time one simulated day of the fitted city with 2,000 devices reporting."""
    data = scenario.model_dump(mode="json")
    data["devices"] = [
        {"name": "noise", "kind": "noise_meter", "count": 1500, "interval_s": [30, 60]},
        {"name": "smoke", "kind": "smoke_panel", "count": 500, "interval_s": [30, 60]},
    ]
    data["duration"] = 86_400
    speed_scenario = type(scenario).model_validate(data)
    load_before = os.getloadavg()[0]
    cpu_before = time.process_time()
    summary = run_scenario(speed_scenario, seed=7, progress=True)
    cpu_s = time.process_time() - cpu_before
    out["speedup"] = summary.timing.get("speedup")
    out["speed_run"] = {
        "devices": 2000,
        "calls": summary.calls,
        "observations_stored": summary.extra.get("observations_stored"),
        "wall_s": summary.timing.get("wall_seconds"),
        "cpu_s_benchmark_process": round(cpu_s, 1),
        "simulated_s_per_cpu_s": round(86_400 / cpu_s, 1) if cpu_s else None,
        "load_average_before": round(load_before, 1),
        "load_average_after": round(os.getloadavg()[0], 1),
    }
    print(f"speed: one simulated day with 2,000 devices at x{out['speedup']} real time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only the speed run (fitted on all four days); keeps the saved validation",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tz = ZoneInfo(TZ)
    history = SHARED / "cad" / "sffd_calls_2016-12-31_to_2017-01-03.csv"
    osm = SHARED / "osm" / "sf_mission_2014.osm"
    saved = RESULTS / "sim_validation.json"
    out: dict[str, Any] = (
        json.loads(saved.read_text("utf-8")) if args.speed_only and saved.exists() else {}
    )
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="vigil-simval-") as tmp:
        work = Path(tmp)
        store = HistoryStore(work / "history")
        store.import_file(history, "sffd", tz=TZ, progress=False)
        conn = store.connect()
        geo = GeoSettings(osm_file=osm, country="US")  # no fitted model: calibrated per fit
        network = load_network(geo, progress=True)
        every = read_stations(SHARED / "cad" / "sffd_stations.csv")
        stations = inside(every, network, 250)
        start, end = datetime(2016, 12, 31, tzinfo=tz), datetime(2017, 1, 4, tzinfo=tz)
        base = FitOptions(start=start, end=end, tz=TZ, bbox=extent(network))
        if not args.speed_only:
            _validate(conn, base, network, osm, stations, every, geo, work, args, out, history)
        if not args.skip_speed:
            _speed(_fitted_city(conn, base, network, osm, stations, every, geo, work), out)
        out["cpu_s"] = round(time.process_time() - cpu0, 1)
        out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["machine"] = {"cpus": 2, "python": platform.python_version(), "shared_load": True}
        RESULTS.mkdir(exist_ok=True)
        saved.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
        print(f"written {saved}")


def _validate(
    conn: Any,
    base: FitOptions,
    network: Any,
    osm: Path,
    stations: list[Station],
    every: list[Station],
    geo: GeoSettings,
    work: Path,
    args: argparse.Namespace,
    out: dict[str, Any],
    history: Path,
) -> None:
    started = time.perf_counter()
    validation = validate_holdout(
        conn,
        base=base,
        windows=holdout_days(base.start, base.end),
        network=network,
        osm_file=osm,
        stations=stations,
        geo=geo,  # each fold calibrates its travel model on its three training days
        work_dir=work / "folds",
        replications=args.replications,
        all_stations=every,
        say=print,
    )
    report = validation.report
    print(report.render())
    RESULTS.mkdir(exist_ok=True)
    plot_report(report, validation.real, validation.sim, RESULTS / "sim_validation.png")
    out.update(
        {
            "city": "San Francisco, Mission district (OSM 2014 extract), SFFD stations",
            "history": history.name,
            **report.to_json(),
            "method": "leave-one-day-out: fit on three days (travel model calibrated on their "
            "drives from home, run cards as the mixes of units the calls drew, dispatch lag "
            "per unit type), simulate the fourth through the whole platform, pool the four "
            "held-out days; calls in the first-due areas of the stations on the road network "
            "(statistics: vigil.sim.validate)",
            "folds": validation.folds,
            "validation_wall_s": round(time.perf_counter() - started, 1),
        }
    )


def _fitted_city(
    conn: Any,
    base: FitOptions,
    network: Any,
    osm: Path,
    stations: list[Station],
    every: list[Station],
    geo: GeoSettings,
    work: Path,
) -> Scenario:
    """Fit the city on all four days (as `vigil sim fit` would) for the speed run."""
    options = dataclasses.replace(base, area_stations=area_of(every, stations))
    model = calibrate_travel(conn, network, stations, options, geo)
    model.save(work / "city.travel.json")
    geo = geo.model_copy(update={"travel_model": work / "city.travel.json"})
    fit = fit_city(
        conn, options, stations={s.id: s.location for s in stations}, eta=travel_eta(network, geo)
    )
    files = write_city(
        fit,
        options,
        work / "city.yaml",
        name="San Francisco (Mission), fitted on four days",
        osm_file=osm,
        stations=stations,
        start=base.start,
        duration_s=86_400,
        geo=geo,
    )
    return load_scenario(files.scenario)


if __name__ == "__main__":
    main()
