"""A city fitted from its records: write it, run it, validate it on held-out days, ask what-if.

This is the I/O side of `vigil.sim.fit` (pure statistics) and `vigil.sim.validate`
(pure comparison): it reads stations, builds the ETA function the platform's
dispatcher uses, writes the fitted scenario with its catalogue, rules and
diagnostics, and runs the simulator against an in-process platform.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from vigil.core.errors import ConfigError, VigilError
from vigil.core.geometry import LatLon
from vigil.geo.eta import TravelTimes
from vigil.geo.network import RoadNetwork
from vigil.geo.settings import GeoSettings
from vigil.geo.travel import TravelModel, default_model, model_for, posted_model
from vigil.sim.fit import CityFit, EtaFn, FitOptions, catalogue_dict, diagnostics_dict, fit_city
from vigil.sim.fit import scenario_dict as fitted_scenario
from vigil.sim.scenario import Scenario, load_scenario
from vigil.sim.summary import Summary, percentile
from vigil.sim.validate import Intervals, ValidationReport, build_report, first_unit_intervals

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Station:
    """A station of the city (from its stations file)."""

    id: str
    name: str
    location: LatLon


def read_stations(path: Path) -> list[Station]:
    """Read stations from CSV (station|id, name, lat, lon) or GeoJSON points."""
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read stations file {path}: {err}") from err
    out: list[Station] = []
    if path.suffix.lower() in {".geojson", ".json"}:
        for i, feature in enumerate(json.loads(text).get("features", [])):
            props = feature.get("properties") or {}
            lon, lat = feature["geometry"]["coordinates"][:2]
            sid = str(props.get("station") or props.get("id") or i + 1)
            out.append(Station(id=sid, name=str(props.get("name", sid)), location=LatLon(lat, lon)))
        return out
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        sid = (row.get("station") or row.get("id") or "").strip()
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{path}:{line}: station needs numeric lat and lon") from err
        if not sid:
            raise ConfigError(f"{path}:{line}: station has no id (column station or id)")
        out.append(
            Station(id=sid, name=(row.get("name") or sid).strip(), location=LatLon(lat, lon))
        )
    return out


def extent(network: RoadNetwork) -> tuple[float, float, float, float]:
    """Return the road network's bounding box (min_lat, min_lon, max_lat, max_lon)."""
    g = network.graph
    return float(g.lat.min()), float(g.lon.min()), float(g.lat.max()), float(g.lon.max())


def inside(stations: Sequence[Station], network: RoadNetwork, max_snap_m: float) -> list[Station]:
    """Return the stations within the extent that snap onto the road network."""
    min_lat, min_lon, max_lat, max_lon = extent(network)
    out = []
    for s in stations:
        if not (min_lat <= s.location.lat <= max_lat and min_lon <= s.location.lon <= max_lon):
            continue
        try:
            snap = network.snap(s.location)
        except VigilError:
            continue
        if snap.distance_m <= max_snap_m:
            out.append(s)
    return out


def area_of(
    every: Sequence[Station], simulated: Sequence[Station]
) -> tuple[tuple[float, float, bool], ...]:
    """Return every station as (lat, lon, simulated?) for the first-due-area test."""
    ids = {s.id for s in simulated}
    return tuple((s.location.lat, s.location.lon, s.id in ids) for s in every)


def travel_eta(network: RoadNetwork, geo: GeoSettings) -> EtaFn:
    """Return the ETA the platform's dispatcher computes with these geo settings.

    It is the dispatcher's own code path (`vigil.geo.eta.TravelTimes` under the
    deployment's travel model), so a factor fitted against it is what the simulated
    platform will multiply.
    """
    travel = TravelTimes(network, model_for(geo))

    def eta(origin: LatLon, target: LatLon, unit_type: str) -> float | None:
        try:
            return travel.eta(origin, target, unit_type).seconds
        except VigilError:
            return None

    return eta


#: Station-housed unit types whose drives from home calibrate the travel model, named
#: as the fitted catalogue names them (so the model's unit factors apply in the run).
HOUSED_TYPES = {"ENGINE": "engine", "TRUCK": "truck"}


def calibrate_travel(
    conn: Any,
    network: RoadNetwork,
    stations: Sequence[Station],
    options: FitOptions,
    geo: GeoSettings,
    *,
    name: str = "fitted",
) -> TravelModel:
    """Fit the travel model to the drives from home of the fitted period only.

    The same calibration as `vigil geo calibrate` (country defaults as the prior,
    cross-validated by day), restricted to the responses `fit_city` uses: inside the
    period, outside every held-out window, so a validation never sees its own days.
    """
    from vigil.geo.calibrate import calibrate, select_responses  # noqa: PLC0415 - scipy fit

    if geo.country is None:
        raise ConfigError(
            "calibrating travel needs geo.country (its defaults are the prior)", field="country"
        )
    selection = select_responses(
        conn,
        network,
        {s.id: s.location for s in stations},
        tz=options.tz,
        unit_types=HOUSED_TYPES,
    )

    def fitted_period(at: datetime) -> bool:
        return options.start <= at < options.end and not any(
            start <= at < end for start, end in options.holdout
        )

    kept = [o for o in selection.observed if fitted_period(o.at)]
    excluded = dict(selection.excluded)
    excluded["outside the fitted period"] = len(selection.observed) - len(kept)
    selection = dataclasses.replace(selection, observed=kept, excluded=excluded)
    prior = default_model(geo.country)
    days = len({o.day for o in kept})
    report = calibrate(
        network,
        selection,
        prior=prior,
        uncalibrated={"vigil_uncalibrated": posted_model(geo.speed_factors)},
        k=max(2, min(5, days)),
        name=name,
    )
    return report.model


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedFiles:
    """Where a fitted city was written."""

    scenario: Path
    catalogue: Path
    rules: Path
    diagnostics: Path


def write_city(
    fit: CityFit,
    options: FitOptions,
    out: Path,
    *,
    name: str,
    osm_file: Path,
    stations: Sequence[Station],
    start: datetime,
    duration_s: float,
    geo: GeoSettings | None = None,
    site: str = "city",
) -> FittedFiles:
    """Write the fitted scenario, its catalogue, an empty rule file and the diagnostics."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.name.removesuffix(".yaml").removesuffix(".yml")
    files = FittedFiles(
        scenario=out,
        catalogue=out.with_name(f"{stem}.catalogue.yaml"),
        rules=out.with_name(f"{stem}.rules.yaml"),
        diagnostics=out.with_name(f"{stem}.diagnostics.json"),
    )
    files.catalogue.write_text(
        "# Incident kinds (call type at priority) and unit types fitted by `vigil sim fit`.\n"
        + yaml.safe_dump(catalogue_dict(fit), sort_keys=True),
        "utf-8",
    )
    files.rules.write_text(
        "# A fitted city starts with no rules; add the city's own.\n"
        f"timezone: {options.tz}\nrules: []\n",
        "utf-8",
    )
    scenario = fitted_scenario(
        fit,
        name=name,
        start=start,
        duration_s=duration_s,
        osm_file=str(osm_file),
        catalogue_file=files.catalogue.name,
        rules_file=files.rules.name,
        site=site,
        travel_model=str(geo.travel_model.resolve()) if geo and geo.travel_model else None,
        country=geo.country if geo else None,
        stations=[
            {
                "id": s.id,
                "name": s.name,
                "kind": "fire_station",
                "lat": s.location.lat,
                "lon": s.location.lon,
            }
            for s in stations
        ],
    )
    files.scenario.write_text(
        "# Fitted by `vigil sim fit` from the city's own records; diagnostics beside it.\n"
        + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True),
        "utf-8",
    )
    files.diagnostics.write_text(
        json.dumps(diagnostics_dict(fit, options), indent=2, default=str) + "\n", "utf-8"
    )
    load_scenario(files.scenario)  # what we wrote must load
    return files


def run_scenario(
    scenario: Scenario, *, seed: int, data_dir: Path | None = None, progress: bool = False
) -> Summary:
    """Run a scenario headless (virtual clock) and return the summary from the log."""
    from vigil.sim.runner import RunOptions, SimRun  # noqa: PLC0415 - starts a platform

    with tempfile.TemporaryDirectory(prefix="vigil-sim-") as tmp:
        sim = SimRun(
            scenario, RunOptions(seed=seed, data_dir=data_dir or Path(tmp), progress=progress)
        )
        return sim.run().summary


def run_and_export(scenario: Scenario, *, seed: int, data_dir: Path) -> tuple[Summary, Any]:
    """Run a scenario and return its summary and its log exported as ``responses``."""
    from vigil.analytics.source import LiveLogSource  # noqa: PLC0415
    from vigil.app import build  # noqa: PLC0415
    from vigil.config import load_settings  # noqa: PLC0415

    summary = run_scenario(scenario, seed=seed, data_dir=data_dir)
    app = build(load_settings(None, data_dir=data_dir))
    try:
        return summary, LiveLogSource(app.store).connect()
    finally:
        app.close()


def holdout_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Split [start, end) into whole local days (the folds of leave-one-day-out)."""
    days = []
    t = start
    while t < end:
        days.append((t, min(end, t + timedelta(days=1))))
        t += timedelta(days=1)
    return days


@dataclass(frozen=True, slots=True, kw_only=True)
class Validation:
    """A validation run: the report and the samples behind it."""

    report: ValidationReport
    real: Intervals
    sim: Intervals
    folds: list[dict[str, Any]]


def validate_holdout(
    conn: Any,
    *,
    base: FitOptions,
    windows: Sequence[tuple[datetime, datetime]],
    network: RoadNetwork,
    osm_file: Path,
    stations: Sequence[Station],
    geo: GeoSettings,
    work_dir: Path,
    all_stations: Sequence[Station] = (),
    replications: int = 1,
    seed: int = 1,
    say: Say | None = None,
) -> Validation:
    """Fit on everything but each window, simulate the window, compare with what happened.

    Each window is one fold: the city is fitted with that window held out, then the
    window is simulated `replications` times; the real and simulated intervals of
    all folds are pooled for the report. With `all_stations` (the whole city's), only
    calls in the first-due areas of the simulated stations count, on both sides.
    When the deployment has no fitted travel model but a country, each fold first
    calibrates one on its own training days (`calibrate_travel`), as a city would.
    """
    tell = say or (lambda _m: None)
    work_dir.mkdir(parents=True, exist_ok=True)
    area = area_of(all_stations, stations)
    by_id = {s.id: s.location for s in stations}
    logs: list[Any] = []
    folds: list[dict[str, Any]] = []
    for i, (start, end) in enumerate(windows):
        options = FitOptions(
            start=base.start,
            end=base.end,
            tz=base.tz,
            bbox=base.bbox,
            holdout=(*base.holdout, (start, end)),
            area_stations=area or base.area_stations,
            min_n=base.min_n,
            max_interval_s=base.max_interval_s,
        )
        tell(f"fold {i + 1}/{len(windows)}: fitting without {start:%Y-%m-%d %H:%M}")
        fold_geo, travel_model = geo, model_for(geo).describe()
        if geo.travel_model is None and geo.country is not None:
            model = calibrate_travel(conn, network, stations, options, geo, name=f"fold-{i + 1}")
            model.save(work_dir / f"fold-{i + 1}.travel.json")
            fold_geo = geo.model_copy(
                update={"travel_model": work_dir / f"fold-{i + 1}.travel.json"}
            )
            travel_model = f"calibrated on the fold's own days: {model.describe()}"
            tell(f"fold {i + 1}/{len(windows)}: travel model {travel_model}")
        fit = fit_city(conn, options, stations=by_id, eta=travel_eta(network, fold_geo))
        files = write_city(
            fit,
            options,
            work_dir / f"fold-{i + 1}.yaml",
            name=f"held-out fold {i + 1}",
            osm_file=osm_file,
            stations=stations,
            start=start,
            duration_s=(end - start).total_seconds(),
            geo=fold_geo,
        )
        scenario = load_scenario(files.scenario)
        for r in range(replications):
            tell(f"fold {i + 1}/{len(windows)}: simulating (replication {r + 1})")
            summary, log = run_and_export(
                scenario, seed=seed + 1000 * r + i, data_dir=work_dir / f"run-{i + 1}-{r + 1}"
            )
            logs.append(log)
            folds.append(
                {
                    "window": [start.isoformat(), end.isoformat()],
                    "replication": r + 1,
                    "calls": summary.calls,
                    "wall_s": summary.timing.get("wall_seconds"),
                    "speedup": summary.timing.get("speedup"),
                    "travel_model": travel_model,
                }
            )
    real = first_unit_intervals(
        [conn],
        windows,
        base.bbox,
        area_stations=area or base.area_stations,
        max_interval_s=base.max_interval_s,
    )
    world = (-90.0, -180.0, 90.0, 180.0)  # every simulated call is in the city
    sim = first_unit_intervals(logs, windows, world, max_interval_s=base.max_interval_s)
    report = build_report(real, sim, windows=windows, replications=replications)
    return Validation(report=report, real=real, sim=sim, folds=folds)


# ------------------------------------------------------------------ what-if


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One thing a what-if changes."""

    close_station: str | None = None  # its units are gone
    demand_factor: float = 1.0
    add_station: tuple[str, float, float, str, int] | None = None  # id, lat, lon, type, units

    def describe(self) -> str:
        """Return the change in words."""
        parts = []
        if self.close_station:
            parts.append(f"station {self.close_station} closed")
        if self.demand_factor != 1.0:
            parts.append(f"demand x{self.demand_factor:g}")
        if self.add_station:
            sid, _, _, utype, units = self.add_station
            parts.append(f"station {sid} added with {units} {utype}")
        return ", ".join(parts) or "no change"


def apply_change(scenario: Scenario, change: Change) -> Scenario:
    """Return the scenario with the change applied (pure)."""
    data = scenario.model_dump(mode="python")
    if change.demand_factor != 1.0:
        data["demand"]["calls_per_hour"] *= change.demand_factor
    if change.close_station:
        sid = change.close_station
        if sid not in {s["id"] for s in data["stations"]["extra"]}:
            raise ConfigError(f"what-if: no station {sid!r} in the scenario")
        fleet = []
        for line in data["fleet"]:
            kept = [s for s in line["stations"] if s != sid]
            if line["stations"] and not kept:
                continue  # the units housed there are gone with it
            line["stations"] = kept  # units spread over several stations stay, elsewhere
            fleet.append(line)
        data["fleet"] = fleet
        data["stations"]["extra"] = [s for s in data["stations"]["extra"] if s["id"] != sid]
    if change.add_station:
        sid, lat, lon, utype, units = change.add_station
        data["stations"]["extra"].append(
            {
                "id": sid,
                "name": f"What-if station {sid}",
                "kind": "fire_station",
                "lat": lat,
                "lon": lon,
            }
        )
        data["fleet"].append(
            {"type": utype, "count": units, "prefix": f"W{sid}"[:11] + "U", "stations": [sid]}
        )
    return Scenario.model_validate(data)


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIf:
    """The change in p90 total response time, with its confidence interval."""

    change: str
    replications: int
    paired: bool
    base_p90: list[float]
    changed_p90: list[float]
    effect_s: float
    ci95: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "change": self.change,
            "replications": self.replications,
            "paired": self.paired,
            "base_p90_total_s": [round(v, 1) for v in self.base_p90],
            "changed_p90_total_s": [round(v, 1) for v in self.changed_p90],
            "effect_p90_total_s": round(self.effect_s, 1),
            "ci95": [round(self.ci95[0], 1), round(self.ci95[1], 1)],
            "method": "difference of p90 total response between runs with and without the "
            "change; paired runs share seeds (common random numbers); t interval over "
            "replications",
        }


def effect(
    base: Sequence[float], changed: Sequence[float], *, paired: bool
) -> tuple[float, tuple[float, float]]:
    """Return the mean effect and its 95 % t interval (paired or Welch)."""
    b, c = np.asarray(base, dtype=float), np.asarray(changed, dtype=float)
    if paired:
        d = c - b
        mean = float(d.mean())
        if d.size < 2 or float(d.std(ddof=1)) == 0.0:
            return mean, (mean, mean)
        half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
        return mean, (mean - half, mean + half)
    mean = float(c.mean() - b.mean())
    vb, vc = b.var(ddof=1) / b.size, c.var(ddof=1) / c.size
    se = math.sqrt(vb + vc)
    if se == 0.0:
        return mean, (mean, mean)
    dof = (vb + vc) ** 2 / (vb**2 / (b.size - 1) + vc**2 / (c.size - 1))
    half = float(stats.t.ppf(0.975, dof) * se)
    return mean, (mean - half, mean + half)


def what_if(
    scenario: Scenario,
    change: Change,
    *,
    replications: int,
    paired: bool = True,
    seed: int = 1,
    run: Callable[[Scenario, int], Summary] | None = None,
    say: Say | None = None,
) -> WhatIf:
    """Run the scenario with and without the change and estimate the effect on p90 total."""
    if replications < 2:
        raise ConfigError("a what-if needs at least 2 replications for a confidence interval")
    tell = say or (lambda _m: None)
    play = run or (lambda sc, s: run_scenario(sc, seed=s))
    changed = apply_change(scenario, change)
    base_p90: list[float] = []
    changed_p90: list[float] = []
    for r in range(replications):
        tell(f"replication {r + 1}/{replications}")
        base_seed = seed + r
        changed_seed = base_seed if paired else seed + replications + r
        for sc, s, out in ((scenario, base_seed, base_p90), (changed, changed_seed, changed_p90)):
            totals = list(play(sc, s).samples.get("total", ()))
            out.append(percentile(totals, 90) if totals else math.nan)
    mean, ci = effect(base_p90, changed_p90, paired=paired)
    return WhatIf(
        change=change.describe(),
        replications=replications,
        paired=paired,
        base_p90=base_p90,
        changed_p90=changed_p90,
        effect_s=mean,
        ci95=ci,
    )
