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
"""

from __future__ import annotations

import argparse
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
from vigil.sim.fit import FitOptions
from vigil.sim.fitted import (
    extent,
    holdout_days,
    inside,
    read_stations,
    run_scenario,
    validate_holdout,
)
from vigil.sim.scenario import load_scenario
from vigil.sim.validate import plot_report

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = Path(__file__).with_name("results")
TZ = "America/Los_Angeles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tz = ZoneInfo(TZ)
    history = SHARED / "cad" / "sffd_calls_2016-12-31_to_2017-01-03.csv"
    osm = SHARED / "osm" / "sf_mission_2014.osm"
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="vigil-simval-") as tmp:
        work = Path(tmp)
        store = HistoryStore(work / "history")
        store.import_file(history, "sffd", tz=TZ, progress=False)
        conn = store.connect()
        network = load_network(GeoSettings(osm_file=osm), progress=True)
        every = read_stations(SHARED / "cad" / "sffd_stations.csv")
        stations = inside(every, network, 250)
        start, end = datetime(2016, 12, 31, tzinfo=tz), datetime(2017, 1, 4, tzinfo=tz)
        base = FitOptions(start=start, end=end, tz=TZ, bbox=extent(network))
        started = time.perf_counter()
        validation = validate_holdout(
            conn,
            base=base,
            windows=holdout_days(start, end),
            network=network,
            osm_file=osm,
            stations=stations,
            # no fitted travel model: each fold calibrates one on its three training days
            geo=GeoSettings(osm_file=osm, country="US"),
            work_dir=work / "folds",
            replications=args.replications,
            all_stations=every,
            say=print,
        )
        validation_wall = time.perf_counter() - started
        report = validation.report
        print(report.render())
        RESULTS.mkdir(exist_ok=True)
        plot_report(report, validation.real, validation.sim, RESULTS / "sim_validation.png")
        out: dict[str, Any] = {
            "city": "San Francisco, Mission district (OSM 2014 extract), SFFD stations",
            "history": history.name,
            **report.to_json(),
            "method": "leave-one-day-out: fit on three days (travel model calibrated on their "
            "drives from home, run cards as the mixes of units the calls drew), simulate the "
            "fourth through the whole platform, pool the four held-out days; calls in the "
            "first-due areas of the stations on the road network (statistics: "
            "vigil.sim.validate)",
            "folds": validation.folds,
            "validation_wall_s": round(validation_wall, 1),
        }
        if not args.skip_speed:
            fold = load_scenario(work / "folds" / "fold-1.yaml")
            data = fold.model_dump(mode="json")
            data["devices"] = [
                {"name": "noise", "kind": "noise_meter", "count": 1500, "interval_s": [30, 60]},
                {"name": "smoke", "kind": "smoke_panel", "count": 500, "interval_s": [30, 60]},
            ]
            data["duration"] = 86_400
            speed_scenario = type(fold).model_validate(data)
            cpu_before = time.process_time()
            summary = run_scenario(speed_scenario, seed=7, progress=True)
            out["speedup"] = summary.timing.get("speedup")
            out["speed_run"] = {
                "devices": 2000,
                "calls": summary.calls,
                "observations_stored": summary.extra.get("observations_stored"),
                "wall_s": summary.timing.get("wall_seconds"),
                "cpu_s_benchmark_process": round(time.process_time() - cpu_before, 1),
            }
            print(f"speed: one simulated day with 2,000 devices at x{out['speedup']} real time")
        out["cpu_s"] = round(time.process_time() - cpu0, 1)
        out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out["machine"] = {"cpus": 2, "python": platform.python_version(), "shared_load": True}
        (RESULTS / "sim_validation.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")
        print(f"written {RESULTS / 'sim_validation.json'}")


if __name__ == "__main__":
    main()
