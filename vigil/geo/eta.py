"""ETAs under the travel-time model: the one code path for dispatch, ``vigil geo eta``,
``vigil geo route``, calibration and the simulator.

``TravelTimes(network, model)`` holds the road network re-weighted for the model
(its own contraction hierarchy, cached) and turns road times into ETAs with the
model's overhead, unit-type and time-of-day factors and its calibrated interval.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from vigil.core.errors import GeoError, ValidationError, VigilError
from vigil.core.geometry import LatLon
from vigil.geo.network import RoadNetwork, Route, reweight
from vigil.geo.snap import Snap
from vigil.geo.travel import TravelModel


class ModelEta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An ETA under the travel model, with its calibrated band when the model has one."""

    seconds: float
    road_seconds: float
    metres: float
    low_s: float | None = None
    high_s: float | None = None


class TravelTimes:
    """The road network under one travel model."""

    def __init__(
        self,
        network: RoadNetwork,
        model: TravelModel,
        *,
        progress: bool = False,
        cache: bool = True,
    ) -> None:
        self.model = model
        self.network = reweight(network, model, progress=progress, cache=cache)

    def snap(self, point: LatLon) -> Snap:
        """Snap a point to the road; GeoError with the distance if too far."""
        return self.network.snap(point)

    def _eta(
        self, road_s: float, metres: float, unit_type: str | None, at: datetime | None
    ) -> ModelEta:
        seconds = self.model.eta_s(road_s, unit_type, at)
        band = self.model.interval_s(seconds)
        return ModelEta(
            seconds=seconds,
            road_seconds=road_s,
            metres=metres,
            low_s=None if band is None else band[0],
            high_s=None if band is None else band[1],
        )

    def etas_to_snapped(
        self,
        target: Snap,
        sources: Mapping[str, Snap],
        unit_types: Mapping[str, str | None],
        *,
        at: datetime | None = None,
    ) -> dict[str, ModelEta]:
        """Return the ETA from every snapped source to the target (one search).

        Unreachable sources are omitted.
        """
        road = self.network.etas_to_snapped(target, sources)
        return {
            key: self._eta(e.seconds, e.metres, unit_types.get(key), at) for key, e in road.items()
        }

    def eta(
        self, origin: LatLon, target: LatLon, unit_type: str | None, *, at: datetime | None = None
    ) -> ModelEta:
        """Return the ETA of one pair; GeoError if an end cannot be snapped or reached."""
        origin_snap = self.snap(origin)
        target_snap = self.snap(target)
        got = self.etas_to_snapped(target_snap, {"o": origin_snap}, {"o": unit_type}, at=at)
        if "o" not in got:
            raise GeoError("no legal route between the points", field="to")
        return got["o"]

    def route(
        self, origin: LatLon, target: LatLon, unit_type: str | None, *, at: datetime | None = None
    ) -> Route:
        """Return the fastest route with its ETA under the model (seconds include overhead)."""
        found = self.network.route(origin, target)
        return dataclasses.replace(found, seconds=self.model.eta_s(found.seconds, unit_type, at))


# ---------------------------------------------------------------- batch pairs
PAIR_COLUMNS = ("from_lat", "from_lon", "to_lat", "to_lon", "unit_type")


@dataclass(frozen=True, slots=True, kw_only=True)
class PairResult:
    """One row of a batch: the pair as read and its ETA, or the reason there is none."""

    line: int
    row: dict[str, str]
    eta: ModelEta | None
    reason: str = ""


def eta_pairs(travel: TravelTimes, rows: Iterable[tuple[int, dict[str, str]]]) -> list[PairResult]:
    """Return the ETA of every (line, row) pair, on exactly the dispatcher's path.

    Pairs are grouped by destination so each destination costs one search, as a
    recommendation does; a pair whose end cannot be snapped gets a reason instead.
    """
    out: list[PairResult | None] = []
    groups: dict[tuple[float, float], list[tuple[int, Snap, str | None]]] = {}
    targets: dict[tuple[float, float], Snap] = {}
    pending: list[tuple[int, int, dict[str, str]]] = []
    for line, row in rows:
        try:
            origin = _point(row, "from")
            target = _point(row, "to")
        except VigilError as err:
            out.append(PairResult(line=line, row=row, eta=None, reason=str(err)))
            continue
        try:
            o_snap = travel.snap(origin)
        except GeoError as err:
            out.append(PairResult(line=line, row=row, eta=None, reason=f"from: {err.message}"))
            continue
        key = (target.lat, target.lon)
        if key not in targets:
            try:
                targets[key] = travel.snap(target)
            except GeoError as err:
                out.append(PairResult(line=line, row=row, eta=None, reason=f"to: {err.message}"))
                continue
        unit_type = (row.get("unit_type") or "").strip() or None
        groups.setdefault(key, []).append((len(out), o_snap, unit_type))
        pending.append((len(out), line, row))
        out.append(None)
    etas: dict[int, ModelEta] = {}
    for key, members in groups.items():
        got = travel.etas_to_snapped(
            targets[key],
            {str(i): snap for i, snap, _ in members},
            {str(i): utype for i, _, utype in members},
        )
        etas.update({int(k): v for k, v in got.items()})
    for i, line, row in pending:
        eta = etas.get(i)
        out[i] = PairResult(
            line=line, row=row, eta=eta, reason="" if eta is not None else "no legal route"
        )
    return [r for r in out if r is not None]


def _point(row: Mapping[str, str], end: str) -> LatLon:
    lat_s, lon_s = row.get(f"{end}_lat", ""), row.get(f"{end}_lon", "")
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as err:
        raise ValidationError(
            f"{end}_lat/{end}_lon {lat_s!r}, {lon_s!r} are not numbers", field=f"{end}_lat"
        ) from err
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValidationError(f"{end}_lat/{end}_lon must be finite", field=f"{end}_lat")
    return LatLon(lat, lon)


def read_pairs(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Read a PAIRS.csv (from_lat,from_lon,to_lat,to_lon,unit_type); ValidationError if a
    column is missing."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in PAIR_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationError(
                f"{path.name} lacks the column(s) {', '.join(missing)}", field=missing[0]
            )
        return [(i + 2, dict(row)) for i, row in enumerate(reader)]


def write_etas(path: Path, results: list[PairResult], fieldnames: list[str]) -> None:
    """Write the pairs with eta_s (and its band) or, when there is none, the reason."""
    cols = [*fieldnames, "eta_s", "eta_low_s", "eta_high_s", "metres", "reason"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in results:
            e = r.eta
            w.writerow(
                {
                    **r.row,
                    "eta_s": "" if e is None else f"{e.seconds:.1f}",
                    "eta_low_s": "" if e is None or e.low_s is None else f"{e.low_s:.1f}",
                    "eta_high_s": "" if e is None or e.high_s is None else f"{e.high_s:.1f}",
                    "metres": "" if e is None else f"{e.metres:.0f}",
                    "reason": r.reason,
                }
            )
