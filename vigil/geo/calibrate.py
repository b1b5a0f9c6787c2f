"""Fit the travel-time model to a city's own responses, cross-validated by day.

1. **Select** unit responses that plausibly drove from their home station: a
   station-housed unit type, a known station in the stations file, both ends on
   the road graph, en-route and on-scene times in order, the unit back in
   quarters after its previous response, and a physically possible drive. Every
   exclusion is counted by reason.
2. **Decompose** each response's road path (metres per road group, junctions
   passed) and **fit** the few parameters (overhead, a speed scale or one speed
   per road group, junction delay, unit-type factors) by robust least squares
   (Cauchy loss on log(ETA / actual), scale 25%) with a weak prior towards the
   country defaults, so a parameter the data cannot identify (e.g. freeway speed
   in a district with no freeway) stays at its default instead of running off.
   Paths are re-derived under the fitted weights and the fit repeated (the
   fastest path depends on the weights).
3. **Cross-validate by day**: days are split into k folds; each fold's ETAs come
   from a model fitted on the other days only and are computed on the
   dispatcher's own code path (``TravelTimes``). The same folds score the
   straight-line and Manhattan baselines (each with its own fitted overhead and
   speed) and the uncalibrated models.
4. The held-out residuals give the model's 80% interval; its coverage is checked
   fold by fold (band from the other folds' residuals, tested on this one).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.stats import spearmanr
from tqdm import tqdm

from vigil.core.errors import GeoError, ValidationError
from vigil.core.geometry import EARTH_RADIUS_M, LatLon
from vigil.geo.eta import TravelTimes
from vigil.geo.network import RoadNetwork, reweight
from vigil.geo.snap import Snap
from vigil.geo.travel import (
    GROUPS,
    EtaInterval,
    Provenance,
    TravelModel,
    junctions,
    road_group,
)

F64 = NDArray[np.float64]

# Robust loss scale of the baselines' fit: beyond a minute, linear.
HUBER_SCALE_S = 60.0
# Robust loss on log(ETA / actual): a response more than ~25% off weighs less and less
# (Cauchy; a CAD export has gross errors, e.g. "on scene" pressed late, that a Huber
# loss still lets pull the fit).
ROBUST_SCALE_LOG = 0.25
# Below this many responses: one speed scale and the prior's junction delay.
MIN_FOR_DETAIL = 1000
# Prior widths: a factor of two on a speed or unit factor, two minutes of overhead and
# ten seconds of junction delay each cost as much as one response off by the robust
# scale.
PRIOR_LOG_SIGMA = math.log(2.0)
PRIOR_OVERHEAD_SIGMA_S = 120.0
PRIOR_DELAY_SIGMA_S = 10.0
FIT_ROUNDS = 2
# A unit type gets its own factor only with this many responses; others share 1.0.
MIN_PER_UNIT_TYPE = 30
# Physical plausibility of a drive from the station.
MAX_STRAIGHT_KMH = 120.0
MAX_TRAVEL_S = 1800.0
# Time a unit needs to be back in quarters after its previous response: the road
# detour over the straight line and an urban return speed (not an emergency drive).
RETURN_DETOUR = 1.3
RETURN_KMH = 25.0
RETURN_MARGIN_S = 120.0
INTERVAL_LEVEL = 0.8

# SFFD's unit types as Vigil's catalogue names them; a city passes its own mapping.
DEFAULT_UNIT_TYPES: dict[str, str] = {"ENGINE": "engine", "TRUCK": "ladder"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """One selected response: a drive from a station to an incident and its real time."""

    response_id: str
    unit_id: str
    unit_type: str
    station: str
    day: str
    at: datetime
    origin: Snap
    target: Snap
    actual_s: float
    straight_m: float
    manhattan_m: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The responses used and, for every other one, why not."""

    observed: list[Observed]
    considered: int
    excluded: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Agreement of ETAs with real travel times."""

    n: int
    median_ratio: float
    median_abs_err_s: float
    mae_s: float
    p90_abs_err_s: float
    within_60s: float
    within_120s: float
    spearman: float
    bias_s: float

    def to_json(self) -> dict[str, float]:
        """Return the figures rounded for a report."""
        return {
            "n": self.n,
            "median_ratio": round(self.median_ratio, 3),
            "median_abs_err_s": round(self.median_abs_err_s, 1),
            "mae_s": round(self.mae_s, 1),
            "p90_abs_err_s": round(self.p90_abs_err_s, 1),
            "within_60s": round(self.within_60s, 3),
            "within_120s": round(self.within_120s, 3),
            "spearman": round(self.spearman, 3),
            "bias_s": round(self.bias_s, 1),
        }


def metrics(eta: F64, actual: F64) -> Metrics:
    """Return how well ETAs match real times (ratio is ETA / actual)."""
    ok = np.isfinite(eta) & np.isfinite(actual) & (actual > 0)
    e, a = eta[ok], actual[ok]
    if e.size == 0:
        nan = float("nan")
        return Metrics(
            n=0,
            median_ratio=nan,
            median_abs_err_s=nan,
            mae_s=nan,
            p90_abs_err_s=nan,
            within_60s=nan,
            within_120s=nan,
            spearman=nan,
            bias_s=nan,
        )
    err = np.abs(e - a)
    rho = spearmanr(e, a).statistic if e.size > 2 else float("nan")
    return Metrics(
        n=int(e.size),
        median_ratio=float(np.median(e / a)),
        median_abs_err_s=float(np.median(err)),
        mae_s=float(err.mean()),
        p90_abs_err_s=float(np.percentile(err, 90)),
        within_60s=float((err <= 60).mean()),
        within_120s=float((err <= 120).mean()),
        spearman=float(rho),
        bias_s=float(np.median(e - a)),
    )


# ---------------------------------------------------------------- selection
_QUERY = """
SELECT response_id, unit_id, unit_type, origin_station, lat, lon, received_at,
       dispatch_at, en_route_at, on_scene_at,
       lag(available_at) OVER w AS prev_available_at,
       lag(dispatch_at) OVER w AS prev_dispatch_at,
       lag(lat) OVER w AS prev_lat, lag(lon) OVER w AS prev_lon
FROM responses {where}
WINDOW w AS (PARTITION BY unit_id ORDER BY dispatch_at, received_at)
ORDER BY received_at, response_id
"""


def _haversine(a: LatLon, b: LatLon) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _manhattan(a: LatLon, b: LatLon) -> float:
    north = _haversine(a, LatLon(b.lat, a.lon))
    east = _haversine(LatLon(b.lat, a.lon), b)
    return north + east


def _why_not(  # noqa: PLR0911, PLR0912 - one reason per check, in order
    row: tuple[Any, ...], stations: Mapping[str, LatLon], unit_types: Mapping[str, str]
) -> str | None:
    """Return why a response cannot be a drive from its home station, or None."""
    (_, _, utype, station, lat, lon, _, dispatch, en_route, on_scene, *prev) = row
    prev_avail, prev_dispatch, prev_lat, prev_lon = prev
    if utype not in unit_types:
        return f"unit type {utype} is not housed at a station"
    if station is None:
        return "home station unknown"
    home = stations.get(str(station))
    if home is None:
        return "home station not in the stations file"
    if lat is None or lon is None:
        return "no incident location"
    if en_route is None or on_scene is None:
        return "no en-route or on-scene time"
    actual = (on_scene - en_route).total_seconds()
    if actual <= 0:
        return "on scene not after en route"
    if dispatch is not None and en_route < dispatch:
        return "en route before dispatch"
    if prev_dispatch is not None and dispatch is not None:
        if prev_avail is None:
            if (dispatch - prev_dispatch).total_seconds() < 3 * 3600:
                return "previous response still open: unit may not be in quarters"
        elif prev_lat is not None and prev_lon is not None:
            back = _haversine(LatLon(prev_lat, prev_lon), home) * RETURN_DETOUR
            need = back / (RETURN_KMH / 3.6) + RETURN_MARGIN_S
            if (dispatch - prev_avail).total_seconds() < need:
                return "not back in quarters after the previous response"
    if actual > MAX_TRAVEL_S:
        return f"longer than {MAX_TRAVEL_S / 60:.0f} min: not a direct drive"
    if _haversine(home, LatLon(float(lat), float(lon))) / actual * 3.6 > MAX_STRAIGHT_KMH:
        return f"faster than {MAX_STRAIGHT_KMH:.0f} km/h in a straight line"
    return None


def select_responses(
    con: duckdb.DuckDBPyConnection,
    network: RoadNetwork,
    stations: Mapping[str, LatLon],
    *,
    tz: str,
    unit_types: Mapping[str, str] = DEFAULT_UNIT_TYPES,
    sources: Sequence[str] = (),
) -> Selection:
    """Return the responses that plausibly drove from their home station, and why not others.

    ``sources`` restricts the store's responses to those imported from these file names.
    """
    zone = ZoneInfo(tz)
    excluded: Counter[str] = Counter()
    observed: list[Observed] = []
    station_snaps: dict[str, Snap | None] = {}
    where = "WHERE source IN (SELECT unnest($1::VARCHAR[]))" if sources else ""
    query = _QUERY.format(where=where)
    rows = (
        con.execute(query, [list(sources)]).fetchall() if sources else con.execute(query).fetchall()
    )
    for row in rows:
        why = _why_not(row, stations, unit_types)
        if why is not None:
            excluded[why] += 1
            continue
        rid, unit_id, utype, station, lat, lon, _, _, en_route, on_scene = row[:10]
        key = str(station)
        home = stations[key]
        if key not in station_snaps:
            try:
                station_snaps[key] = network.snap(home)
            except GeoError:
                station_snaps[key] = None
        origin = station_snaps[key]
        if origin is None:
            excluded["station off the road graph"] += 1
            continue
        target = LatLon(float(lat), float(lon))
        try:
            target_snap = network.snap(target)
        except GeoError:
            excluded["incident off the road graph"] += 1
            continue
        observed.append(
            Observed(
                response_id=str(rid),
                unit_id=str(unit_id),
                unit_type=unit_types[utype],
                station=key,
                day=en_route.astimezone(zone).date().isoformat(),
                at=en_route.astimezone(UTC),
                origin=origin,
                target=target_snap,
                actual_s=(on_scene - en_route).total_seconds(),
                straight_m=_haversine(home, target),
                manhattan_m=_manhattan(home, target),
            )
        )
    return Selection(observed=observed, considered=len(rows), excluded=dict(excluded.most_common()))


# ---------------------------------------------------------------- path features
@dataclass(frozen=True, slots=True)
class Features:
    """Per response: metres per road group (columns in GROUPS order) and junctions passed."""

    metres: F64
    junctions: F64
    reachable: NDArray[np.bool_]


def path_features(network: RoadNetwork, obs: Sequence[Observed]) -> Features:
    """Decompose each response's fastest path on the network's current weights."""
    g = network.graph
    group_of_way = np.asarray([GROUPS.index(road_group(h)) for h in g.way_highway], np.int64)
    edge_group = group_of_way[g.way]
    junction = junctions(g)
    metres = np.zeros((len(obs), len(GROUPS)))
    passed = np.zeros(len(obs))
    reachable = np.zeros(len(obs), bool)
    by_station: dict[str, list[int]] = {}
    for i, o in enumerate(obs):
        by_station.setdefault(o.station, []).append(i)
    for idx in by_station.values():
        paths = network.paths_from(obs[idx[0]].origin, [obs[i].target for i in idx])
        for i, p in zip(idx, paths, strict=True):
            if p is None:
                continue
            reachable[i] = True
            np.add.at(metres[i], edge_group[p.edges], g.length_m[p.edges])
            for e, share in ((p.first_edge, p.first_share), (p.last_edge, p.last_share)):
                if e >= 0:
                    metres[i, edge_group[e]] += share * g.length_m[e]
            passed[i] = float(junction[g.dst[p.edges]].sum())
    return Features(metres=metres, junctions=passed, reachable=reachable)


# ---------------------------------------------------------------- fitting
@dataclass(frozen=True, slots=True, kw_only=True)
class _Layout:
    """Where each parameter sits in the optimiser's vector:
    [overhead, (junction delay), log speeds per group..., log unit factors...]."""

    types: tuple[str, ...]  # unit types with their own factor (the reference has 1.0)
    fixed_delay: float | None  # the junction delay when the data cannot identify it
    base_speeds: F64 | None  # one common scale on these speeds, not one speed per group

    @property
    def speeds_at(self) -> int:
        return 1 if self.fixed_delay is not None else 2

    @property
    def n_speeds(self) -> int:
        return 1 if self.base_speeds is not None else len(GROUPS)


def _unpack(x: F64, layout: _Layout) -> tuple[float, F64, float, dict[str, float]]:
    k = layout.speeds_at
    delay = layout.fixed_delay if layout.fixed_delay is not None else float(x[1])
    if layout.base_speeds is not None:
        speeds = layout.base_speeds * math.exp(x[k])
    else:
        speeds = np.exp(x[k : k + len(GROUPS)])
    f0 = k + layout.n_speeds
    factors = {t: float(math.exp(x[f0 + j])) for j, t in enumerate(layout.types)}
    return float(x[0]), speeds, delay, factors


def _predict(x: F64, layout: _Layout, feats: Features, types: Sequence[str]) -> F64:
    overhead, speeds, delay, factors = _unpack(x, layout)
    road = feats.metres @ (3.6 / speeds) + delay * feats.junctions
    f = np.asarray([factors.get(t, 1.0) for t in types])
    return np.asarray(overhead + road / f, np.float64)


def fit_parameters(
    feats: Features,
    actual: F64,
    types: Sequence[str],
    prior: TravelModel,
    *,
    start: TravelModel | None = None,
) -> TravelModel:
    """Return the prior with overhead, speeds, junction delay and unit factors fitted
    (the optimiser starts from ``start``, by default the prior).

    The loss is Cauchy on log(ETA / actual): travel-time errors grow with the trip,
    and the median of the log ratio is what makes the median ratio 1. With fewer
    than ``MIN_FOR_DETAIL`` responses, the data cannot tell a road group's speed
    from another's, nor junction delay from street speed (they trade off), so one
    common scale on the prior's speeds is fitted and the junction delay is held at
    the prior; with more, each group gets its own speed and the delay is fitted.
    """
    counts = Counter(types)
    reference = counts.most_common(1)[0][0] if counts else ""
    own = tuple(sorted(t for t, n in counts.items() if n >= MIN_PER_UNIT_TYPE and t != reference))
    ok = feats.reachable & np.isfinite(actual) & (actual > 0)
    detail = int(ok.sum()) >= MIN_FOR_DETAIL
    fit_delay = detail
    base = np.asarray([prior.speeds_kmh[gr] for gr in GROUPS])
    layout = _Layout(
        types=own,
        fixed_delay=None if fit_delay else prior.intersection_delay_s,
        base_speeds=None if detail else base,
    )

    def vector(m: TravelModel) -> F64:
        speeds = np.asarray([m.speeds_kmh[gr] for gr in GROUPS])
        return np.concatenate(
            (
                [m.overhead_s],
                [m.intersection_delay_s] if fit_delay else [],
                np.log(speeds) if detail else [float(np.log(speeds / base).mean())],
                np.log([m.speed_factors.get(t, 1.0) for t in own]),
            )
        )

    prior_x = vector(prior)
    sigma = np.concatenate(
        (
            [PRIOR_OVERHEAD_SIGMA_S],
            [PRIOR_DELAY_SIGMA_S] if fit_delay else [],
            [PRIOR_LOG_SIGMA] * (layout.n_speeds + len(own)),
        )
    )
    log_actual = np.log(actual[ok])

    def residuals(x: F64) -> F64:
        pred = _predict(x, layout, feats, types)[ok]
        data = (np.log(np.maximum(pred, 1e-6)) - log_actual) / ROBUST_SCALE_LOG
        return np.concatenate((data, (x - prior_x) / sigma))

    lower = np.concatenate(
        (
            [0.0],
            [0.0] if fit_delay else [],
            np.log([3.0] * len(GROUPS)) if detail else [math.log(0.1)],
            np.log([0.3] * len(own)),
        )
    )
    upper = np.concatenate(
        (
            [600.0],
            [60.0] if fit_delay else [],
            np.log([150.0] * len(GROUPS)) if detail else [math.log(3.0)],
            np.log([3.0] * len(own)),
        )
    )
    x0 = np.clip(vector(start or prior), lower + 1e-9, upper - 1e-9)
    res = least_squares(residuals, x0, bounds=(lower, upper), loss="cauchy", f_scale=1.0)
    overhead, speeds, delay, factors = _unpack(res.x, layout)
    return prior.with_fit(
        road="model",
        overhead_s=round(overhead, 2),
        intersection_delay_s=round(delay, 3),
        speeds_kmh={gr: round(float(v), 3) for gr, v in zip(GROUPS, speeds, strict=True)},
        speed_factors={
            **dict.fromkeys(counts, 1.0),
            **{t: round(v, 4) for t, v in factors.items()},
        },
    )


def fit_model(
    network: RoadNetwork, obs: Sequence[Observed], prior: TravelModel, *, rounds: int = FIT_ROUNDS
) -> TravelModel:
    """Fit the model, re-deriving the paths under each round's weights."""
    actual = np.asarray([o.actual_s for o in obs])
    types = [o.unit_type for o in obs]
    if prior.road != "model":
        raise ValidationError("calibration needs a prior with road speeds", field="prior")
    model = prior
    for _ in range(rounds):
        feats = path_features(reweight(network, model, cache=False), obs)
        model = fit_parameters(feats, actual, types, prior, start=model)
    return model


def _fit_line(dist: F64, actual: F64) -> tuple[float, float]:
    """Fit actual = overhead + dist / speed robustly (for the baselines)."""

    def residuals(x: F64) -> F64:
        return np.asarray(x[0] + dist / x[1] - actual, np.float64)

    res = least_squares(
        residuals,
        np.array([60.0, 8.0]),
        bounds=([0.0, 0.5], [600.0, 60.0]),
        loss="huber",
        f_scale=HUBER_SCALE_S,
    )
    return float(res.x[0]), float(res.x[1])


def predict(travel: TravelTimes, obs: Sequence[Observed]) -> F64:
    """Return ETAs for the observations on the dispatcher's code path (NaN if unreachable)."""
    out = np.full(len(obs), np.nan)
    for i, o in enumerate(obs):
        got = travel.etas_to_snapped(o.target, {"u": o.origin}, {"u": o.unit_type}, at=o.at)
        if "u" in got:
            out[i] = got["u"].seconds
    return out


# ---------------------------------------------------------------- cross-validation
def day_folds(days: Sequence[str], k: int) -> list[int]:
    """Return a fold index per observation: whole days per fold, days dealt in order."""
    unique = sorted(set(days))
    folds = min(k, len(unique))
    of_day = {d: i % folds for i, d in enumerate(unique)}
    return [of_day[d] for d in days]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationReport:
    """Everything a calibration found: the model, the selection and the held-out figures."""

    model: TravelModel
    selection: Selection
    folds: int
    days: int
    methods: dict[str, Metrics]
    held_out: dict[str, list[float]]
    actual: list[float]
    fold_models: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON values (without the per-response arrays)."""
        cal = self.methods["vigil_calibrated"]
        return {
            "n": cal.n,
            "median_ratio": round(cal.median_ratio, 3),
            "mae_s": round(cal.mae_s, 1),
            "spearman": round(cal.spearman, 3),
            "spearman_straight_line": round(self.methods["straight_line"].spearman, 3),
            "folds": self.folds,
            "days": self.days,
            "considered": self.selection.considered,
            "used": len(self.selection.observed),
            "excluded": self.selection.excluded,
            "methods": {k: m.to_json() for k, m in self.methods.items()},
            "interval": None
            if self.model.interval is None
            else {
                "level": self.model.interval.level,
                "ratio_low": round(math.exp(self.model.interval.log_low), 3),
                "ratio_high": round(math.exp(self.model.interval.log_high), 3),
                "coverage_held_out": self.model.interval.coverage_held_out,
            },
            "model": self.model.to_json(),
            "fold_models": self.fold_models,
        }


def _band(log_resid: F64) -> tuple[float, float]:
    lo = (1 - INTERVAL_LEVEL) / 2
    return float(np.quantile(log_resid, lo)), float(np.quantile(log_resid, 1 - lo))


def calibrate(
    network: RoadNetwork,
    selection: Selection,
    *,
    prior: TravelModel,
    uncalibrated: Mapping[str, TravelModel],
    k: int = 5,
    history: tuple[str, ...] = (),
    name: str = "calibrated",
    progress: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CalibrationReport:
    """Cross-validate by day, then fit the final model on every selected response."""
    obs = selection.observed
    if len(obs) < 10:
        raise ValidationError(
            f"only {len(obs)} responses qualify for calibration (need 10 or more); "
            f"excluded: {selection.excluded}",
            field="history",
        )
    actual = np.asarray([o.actual_s for o in obs])
    fold = np.asarray(day_folds([o.day for o in obs], k))
    n_folds = int(fold.max()) + 1
    if n_folds < 2:
        raise ValidationError("cross-validation by day needs responses on two days or more")
    held: dict[str, F64] = {
        name: np.full(len(obs), np.nan)
        for name in ("vigil_calibrated", "straight_line", "manhattan")
    }
    straight = np.asarray([o.straight_m for o in obs])
    manhattan = np.asarray([o.manhattan_m for o in obs])
    fold_models: list[dict[str, Any]] = []
    with tqdm(total=n_folds + 1, desc="calibrate (folds by day)", disable=not progress) as bar:
        for f in range(n_folds):
            train = [o for o, ff in zip(obs, fold, strict=True) if ff != f]
            test_idx = np.flatnonzero(fold == f)
            model = fit_model(network, train, prior)
            travel = TravelTimes(network, model, cache=False)
            held["vigil_calibrated"][test_idx] = predict(travel, [obs[i] for i in test_idx])
            tr = fold != f
            for base, dist in (("straight_line", straight), ("manhattan", manhattan)):
                o, v = _fit_line(dist[tr], actual[tr])
                held[base][test_idx] = o + dist[test_idx] / v
            fold_models.append(
                {
                    "fold": f,
                    "days": sorted({obs[i].day for i in test_idx}),
                    "n_test": len(test_idx),
                    "overhead_s": model.overhead_s,
                    "speeds_kmh": model.speeds_kmh,
                    "intersection_delay_s": model.intersection_delay_s,
                    "speed_factors": model.speed_factors,
                }
            )
            bar.update()
        final = fit_model(network, obs, prior)
        bar.update()
    for label, model in uncalibrated.items():
        held[label] = predict(TravelTimes(network, model, cache=False), obs)
    methods = {label: metrics(v, actual) for label, v in held.items()}
    cal = held["vigil_calibrated"]
    ok = np.isfinite(cal)
    log_resid = np.log(actual[ok] / cal[ok])
    low, high = _band(log_resid)
    # Coverage on held-out folds: the band from the other folds' residuals.
    inside = []
    fold_ok = fold[ok]
    for f in range(n_folds):
        other = log_resid[fold_ok != f]
        this = log_resid[fold_ok == f]
        if other.size >= 5 and this.size:
            lo_f, hi_f = _band(other)
            inside.append(((this >= lo_f) & (this <= hi_f)).astype(float))
    coverage = float(np.concatenate(inside).mean()) if inside else None
    m = methods["vigil_calibrated"]
    final = final.with_fit(
        name=name,
        interval=EtaInterval(
            level=INTERVAL_LEVEL,
            log_low=round(low, 4),
            log_high=round(high, 4),
            n=int(ok.sum()),
            coverage_held_out=None if coverage is None else round(coverage, 3),
        ),
        provenance=Provenance(
            fitted_on=len(obs),
            fitted_at=now().isoformat(timespec="seconds"),
            method=f"Cauchy loss on log(ETA/actual) (scale {ROBUST_SCALE_LOG}) with a prior "
            f"towards {prior.name}; {n_folds}-fold cross-validation by day",
            history=history,
            osm_sha256=network.data.source_sha256,
            days=len({o.day for o in obs}),
            folds=n_folds,
            cv={k2: float(v) for k2, v in m.to_json().items()},
        ),
    )
    return CalibrationReport(
        model=final,
        selection=selection,
        folds=n_folds,
        days=len({o.day for o in obs}),
        methods=methods,
        held_out={k2: v.tolist() for k2, v in held.items()},
        actual=actual.tolist(),
        fold_models=fold_models,
    )


def plot(report: CalibrationReport, path: Path) -> None:
    """Save a calibration plot: ETA against actual travel time, held-out, per method."""
    import matplotlib as mpl  # noqa: PLC0415 - plotting is optional and slow to import

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    actual = np.asarray(report.actual)
    names = [
        n
        for n in ("vigil_uncalibrated", "vigil_calibrated", "straight_line")
        if n in report.held_out
    ]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 5), squeeze=False)
    top = float(np.nanpercentile(actual, 99)) * 1.1
    for ax, name in zip(axes[0], names, strict=True):
        eta = np.asarray(report.held_out[name])
        m = report.methods[name]
        ax.scatter(actual, eta, s=8, alpha=0.5)
        ax.plot([0, top], [0, top], color="black", lw=1, label="ETA = actual")
        if name == "vigil_calibrated" and report.model.interval is not None:
            iv = report.model.interval
            xs = np.linspace(1, top, 50)
            ax.fill_between(
                xs,
                xs / math.exp(iv.log_high),
                xs / math.exp(iv.log_low),
                alpha=0.15,
                label=f"{iv.level:.0%} band",
            )
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("actual travel time (s): on scene - en route")
        ax.set_ylabel("ETA (s)")
        ax.set_title(
            f"{name}: n={m.n}, median ratio {m.median_ratio:.2f}\n"
            f"MAE {m.mae_s:.0f} s, Spearman {m.spearman:.2f}"
        )
        ax.legend(loc="upper left")
    fig.suptitle("Held-out days (cross-validated by day)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
