"""Benchmark the travel-time model against real SFFD responses, cross-validated by day.

Imports the shared SFFD *Calls for Service* files into a fresh history store,
builds the Mission extract's road graph, selects engine/truck responses that
plausibly drove from their home station (``vigil.geo.calibrate.select_responses``),
and cross-validates by day: each day's ETAs come from a model fitted on the other
days only, computed on the dispatcher's own code path. Reports, for Vigil
uncalibrated (posted limits with the configured speed factors, what Vigil did
before), the US country defaults (no fitting), Vigil calibrated, and the
straight-line and Manhattan baselines (each with its own overhead and speed fitted
on the training days): n, median ETA/actual ratio, median and mean absolute error,
share within ±60 s / ±120 s, Spearman rank correlation. 95% bootstrap intervals
(2,000 resamples of the held-out responses) go with the calibrated figures and the
rank-correlation gain over straight line. CPU seconds, not wall time: the machine
is shared.

Writes benchmarks/results/eta_calibration.json and docs/perf/eta_calibration.png.

    .venv/bin/python benchmarks/eta_calibration.py [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vigil.city.stations import read_stations  # noqa: E402
from vigil.geo.calibrate import calibrate, plot, select_responses  # noqa: E402
from vigil.geo.network import load_network  # noqa: E402
from vigil.geo.settings import DEFAULT_SPEED_FACTORS, GeoSettings  # noqa: E402
from vigil.geo.travel import default_model, posted_model  # noqa: E402
from vigil.history import HistoryStore  # noqa: E402

DATA = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data"))
HISTORY = ("cad/sffd_calls_2016-12-31_to_2017-01-03.csv", "cad/sffd_calls_fires_2009_2019.csv")
RATIO_TARGET = (0.95, 1.05)
MAE_TARGET_S = 60.0


def bootstrap(
    eta: np.ndarray, actual: np.ndarray, straight: np.ndarray, *, n: int = 2000
) -> dict[str, list[float]]:
    """Return 95% percentile intervals of the calibrated figures over resampled responses."""
    rng = np.random.default_rng(11)
    ok = np.isfinite(eta) & np.isfinite(straight)
    e, a, s = eta[ok], actual[ok], straight[ok]
    ratio, mae, rho, gain = [], [], [], []
    for _ in range(n):
        i = rng.integers(0, e.size, e.size)
        ratio.append(float(np.median(e[i] / a[i])))
        mae.append(float(np.abs(e[i] - a[i]).mean()))
        r_cal = float(spearmanr(e[i], a[i]).statistic)
        r_str = float(spearmanr(s[i], a[i]).statistic)
        rho.append(r_cal)
        gain.append(r_cal - r_str)

    def ci(x: list[float]) -> list[float]:
        return [round(float(np.percentile(x, 2.5)), 3), round(float(np.percentile(x, 97.5)), 3)]

    return {
        "median_ratio": ci(ratio),
        "mae_s": ci(mae),
        "spearman": ci(rho),
        "spearman_gain_over_straight_line": ci(gain),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5, help="folds of whole days (at most the days)")
    args = ap.parse_args()
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="vigil-eta-bench-") as tmp:
        store = HistoryStore(Path(tmp) / "history")
        imports = [store.import_file(DATA / h, "sffd", tz=None, progress=True) for h in HISTORY]
        cpu_import = time.process_time() - cpu0
        network = load_network(
            GeoSettings(osm_file=DATA / "osm" / "sf_mission_2014.osm", cache_dir=Path(tmp) / "geo"),
            progress=True,
        )
        stations = {s.id: s.location for s in read_stations(DATA / "cad" / "sffd_stations.csv")}
        con = store.connect()
        try:
            selection = select_responses(con, network, stations, tz="America/Los_Angeles")
        finally:
            con.close()
        cpu1 = time.process_time()
        prior = default_model("US")
        report = calibrate(
            network,
            selection,
            prior=prior,
            uncalibrated={
                "vigil_uncalibrated": posted_model(DEFAULT_SPEED_FACTORS),
                "us_defaults": prior,
            },
            k=args.folds,
            history=tuple(Path(h).name for h in HISTORY),
            name="sf-mission-fitted",
            progress=True,
        )
        cpu_calibrate = time.process_time() - cpu1
    out: dict[str, Any] = report.to_json()
    actual = np.asarray(report.actual)
    out["bootstrap_95"] = bootstrap(
        np.asarray(report.held_out["vigil_calibrated"]),
        actual,
        np.asarray(report.held_out["straight_line"]),
    )
    cal = report.methods["vigil_calibrated"]
    out["targets"] = {
        "median_ratio_0.95_1.05": RATIO_TARGET[0] <= cal.median_ratio <= RATIO_TARGET[1],
        "mae_le_60s": cal.mae_s <= MAE_TARGET_S,
        "spearman_above_straight_line": cal.spearman > report.methods["straight_line"].spearman,
    }
    out["imports"] = [
        {"source": r.source, "rows": r.rows_read, "imported": r.imported, "rejected": r.rejected}
        for r in imports
    ]
    out["cpu_s"] = {
        "import": round(cpu_import, 2),
        "calibrate": round(cpu_calibrate, 2),
        "total": round(time.process_time() - cpu0, 2),
    }
    out["graph"] = {
        "nodes": network.report.nodes,
        "edges": network.report.edges,
        "osm": "sf_mission_2014.osm",
    }
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "eta_calibration.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(report, REPO / "docs" / "perf" / "eta_calibration.png")

    print(
        f"responses: {out['considered']:,} considered, {out['used']} used, {report.days} days, {report.folds} folds by day"
    )
    print(
        f"{'method':<20} {'n':>4} {'ratio':>6} {'medAE':>6} {'MAE':>6} {'±60s':>5} {'±120s':>6} {'Spearman':>8}"
    )
    for name, m in report.methods.items():
        print(
            f"{name:<20} {m.n:>4} {m.median_ratio:6.3f} {m.median_abs_err_s:6.1f} {m.mae_s:6.1f} {m.within_60s:5.0%} {m.within_120s:6.0%} {m.spearman:8.3f}"
        )
    print("bootstrap 95%:", out["bootstrap_95"])
    print("targets:", out["targets"])
    print(
        "model:",
        report.model.describe(),
        {k: report.model.to_json()[k] for k in ("overhead_s", "speeds_kmh", "speed_factors")},
    )
    print("CPU seconds:", out["cpu_s"])


if __name__ == "__main__":
    main()
