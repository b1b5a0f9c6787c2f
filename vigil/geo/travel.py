"""The one travel-time model: what dispatch, the CLI, the simulator and explanations use.

An ETA is::

    eta = overhead_s + time_of_day(at) x road_time / speed_factor[unit_type]

where ``road_time`` is the fastest path on the road graph whose edge times are
``length / speed_kmh[road group]`` plus ``intersection_delay_s`` at every
junction the path passes (or, for the ``posted`` road model, the posted limit
or the class default, which is what Vigil did before calibration). A handful of
parameters, each with a meaning a city engineer can check:

- ``overhead_s``: leaving the station, reaching the door and parking;
- ``speeds_kmh``: typical speed on freeways, arterials, local streets and service roads;
- ``intersection_delay_s``: slowing for a junction;
- ``speed_factors``: a unit type faster (>1) or slower (<1) than an engine;
- ``time_of_day``: optional factor per band of hours (e.g. a slower rush hour).

``interval`` is the calibrated 80% band from the cross-validation residuals
(log of actual / predicted), and ``provenance`` says what the model was fitted on.
Defaults by country and their sources: ``docs/travel-times.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
from numpy.typing import NDArray

from vigil.core.errors import ConfigError
from vigil.geo.graph import RoadGraph
from vigil.geo.settings import GeoSettings

F64 = NDArray[np.float64]
MODEL_FORMAT = 1

# Few groups, so a few hundred responses can fit them; every OSM class belongs to one.
ROAD_GROUPS: dict[str, str] = {
    "motorway": "freeway",
    "motorway_link": "freeway",
    "trunk": "freeway",
    "trunk_link": "freeway",
    "primary": "arterial",
    "primary_link": "arterial",
    "secondary": "arterial",
    "secondary_link": "arterial",
    "tertiary": "local",
    "tertiary_link": "local",
    "unclassified": "local",
    "residential": "local",
    "living_street": "local",
    "road": "local",
    "service": "service",
}
GROUPS: tuple[str, ...] = ("freeway", "arterial", "local", "service")


def road_group(highway: str) -> str:
    """Return the speed group of an OSM highway class (unknown classes count as local)."""
    return ROAD_GROUPS.get(highway, "local")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeBand:
    """A factor on road time for the hours [start_hour, end_hour) local time."""

    start_hour: int
    end_hour: int
    factor: float

    def contains(self, hour: int) -> bool:
        """Return whether a local hour falls in the band (bands may wrap midnight)."""
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True, slots=True, kw_only=True)
class EtaInterval:
    """A calibrated band: actual / eta fell in [exp(low), exp(high)] for ``level`` of
    held-out responses (the cross-validation residuals)."""

    level: float
    log_low: float
    log_high: float
    n: int
    coverage_held_out: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """What a fitted model was fitted on, how, and how well it did on held-out days."""

    fitted_on: int
    fitted_at: str
    method: str
    history: tuple[str, ...] = ()
    osm_sha256: str = ""
    days: int = 0
    folds: int = 0
    cv: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TravelModel:
    """Parameters of the travel-time model (see the module docstring)."""

    name: str
    country: str = ""
    road: Literal["posted", "model"] = "model"
    speeds_kmh: dict[str, float] = field(default_factory=dict)
    intersection_delay_s: float = 0.0
    overhead_s: float = 0.0
    speed_factors: dict[str, float] = field(default_factory=dict)
    time_of_day: tuple[TimeBand, ...] = ()
    timezone: str = "UTC"
    interval: EtaInterval | None = None
    provenance: Provenance | None = None
    sources: str = ""

    def __post_init__(self) -> None:
        if self.road == "model":
            missing = [g for g in GROUPS if g not in self.speeds_kmh]
            if missing:
                raise ConfigError(f"model {self.name}: no speed for {', '.join(missing)}")
        for key, value in (*self.speeds_kmh.items(), *self.speed_factors.items()):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"model {self.name}: {key} must be positive, got {value}")
        if self.overhead_s < 0 or self.intersection_delay_s < 0:
            raise ConfigError(f"model {self.name}: overhead and delays cannot be negative")

    # ------------------------------------------------------------ identity
    @property
    def version(self) -> str:
        """Return a short digest of every parameter: two models with one version agree."""
        payload = json.dumps(self._params(), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def _params(self) -> dict[str, object]:
        d = asdict(self)
        for key in ("name", "interval", "provenance", "sources"):
            d.pop(key)
        return d

    def edge_key(self) -> str:
        """Return a digest of what changes the road graph's edge weights."""
        if self.road == "posted":
            return "posted"
        payload = json.dumps(
            {"speeds": sorted(self.speeds_kmh.items()), "delay": self.intersection_delay_s}
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    # ------------------------------------------------------------ weights
    def edge_times(self, graph: RoadGraph) -> F64:
        """Return the time in seconds to drive each edge of the graph under this model."""
        if self.road == "posted":
            return graph.time_s
        speed = np.asarray(
            [self.speeds_kmh[road_group(h)] / 3.6 for h in graph.way_highway], np.float64
        )
        times = graph.length_m / speed[graph.way]
        if self.intersection_delay_s > 0:
            times = times + self.intersection_delay_s * junctions(graph)[graph.dst]
        return np.asarray(times, np.float64)

    # ------------------------------------------------------------ ETAs
    def speed_factor(self, unit_type: str | None) -> float:
        """Return the unit type's factor on road time (1 when the type is not listed)."""
        return self.speed_factors.get(unit_type or "", 1.0)

    def time_factor(self, at: datetime | None) -> float:
        """Return the time-of-day factor at an instant (1 without bands or without a time)."""
        if not self.time_of_day or at is None:
            return 1.0
        hour = at.astimezone(ZoneInfo(self.timezone)).hour
        return next((b.factor for b in self.time_of_day if b.contains(hour)), 1.0)

    def eta_s(self, road_s: float, unit_type: str | None, at: datetime | None = None) -> float:
        """Return the ETA in seconds for a road time computed on this model's weights."""
        return self.overhead_s + road_s * self.time_factor(at) / self.speed_factor(unit_type)

    def interval_s(self, eta_s: float) -> tuple[float, float] | None:
        """Return the calibrated band around an ETA, or None for an uncalibrated model."""
        if self.interval is None:
            return None
        return eta_s * math.exp(self.interval.log_low), eta_s * math.exp(self.interval.log_high)

    def describe(self) -> str:
        """Return one line saying which model this is, for explanations."""
        p = self.provenance
        if p is None:
            return f"travel model {self.name} v{self.version} (defaults, not calibrated)"
        mae = p.cv.get("mae_s")
        err = f", held-out MAE {mae:.0f} s" if mae is not None else ""
        return (
            f"travel model {self.name} v{self.version}, fitted on {p.fitted_on} responses "
            f"({p.fitted_at[:10]}){err}"
        )

    def with_fit(self, **changes: object) -> TravelModel:
        """Return a copy with some parameters replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

    # ------------------------------------------------------------ files
    def to_json(self) -> dict[str, object]:
        """Return the model as plain JSON values."""
        out = asdict(self)
        out["format"] = MODEL_FORMAT
        out["version"] = self.version
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TravelModel:
        """Read a model written by ``to_json``; ConfigError names what is wrong."""
        if data.get("format", MODEL_FORMAT) != MODEL_FORMAT:
            raise ConfigError(f"travel model format {data.get('format')} is not {MODEL_FORMAT}")
        try:
            return msgspec.convert(dict(data), cls)
        except msgspec.ValidationError as err:
            raise ConfigError(f"not a valid travel model: {err}", field="model") from err

    def save(self, path: Path) -> None:
        """Write the model as JSON (atomically)."""
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", "utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TravelModel:
        """Read a model file; ConfigError if it is missing or malformed."""
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read travel model {path}: {err}", field="model") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a travel model is a JSON object", field="model")
        return cls.from_json(data)


def junctions(graph: RoadGraph) -> F64:
    """Return 1.0 for nodes where three or more road segments meet, else 0.0."""
    a = np.minimum(graph.src, graph.dst).astype(np.int64)
    b = np.maximum(graph.src, graph.dst).astype(np.int64)
    pairs = np.unique(a * graph.n_nodes + b)
    ends = np.concatenate((pairs // graph.n_nodes, pairs % graph.n_nodes))
    degree = np.bincount(ends, minlength=graph.n_nodes)
    return (degree >= 3).astype(np.float64)


# ---------------------------------------------------------------- defaults
# Speeds and overheads a city starts from before it calibrates; each value and its
# source is in docs/travel-times.md. They are priors, not measurements of the city.
_US_SPEEDS = {"freeway": 88.0, "arterial": 48.0, "local": 40.0, "service": 16.0}
_EU_SPEEDS = {"freeway": 100.0, "arterial": 50.0, "local": 30.0, "service": 15.0}
# RAND / ISO fire-engine travel-time relation T = 0.65 + 1.7 D (minutes, miles):
# 0.65 min = 39 s of fixed time per response.
_OVERHEAD_S = 39.0

COUNTRY_DEFAULTS: dict[str, dict[str, float]] = {
    "US": _US_SPEEDS,
    "CA": _US_SPEEDS,
    "EU": _EU_SPEEDS,
}


def default_model(country: str) -> TravelModel:
    """Return the uncalibrated model for a country (ISO 3166 alpha-2; EU rules elsewhere)."""
    code = country.upper()
    key = code if code in COUNTRY_DEFAULTS else "EU"
    return TravelModel(
        name=f"default-{key.lower()}",
        country=code,
        road="model",
        speeds_kmh=dict(COUNTRY_DEFAULTS[key]),
        intersection_delay_s=0.0,
        overhead_s=_OVERHEAD_S,
        sources="docs/travel-times.md#defaults",
    )


def posted_model(speed_factors: Mapping[str, float] | None = None) -> TravelModel:
    """Return the pre-calibration model: posted limits (or class defaults), no overhead."""
    return TravelModel(
        name="posted-limits",
        road="posted",
        speed_factors=dict(speed_factors or {}),
        sources="docs/travel-times.md#posted",
    )


def model_for(settings: GeoSettings) -> TravelModel:
    """Return the travel model a deployment uses: the fitted file, else the country's
    defaults, else the posted limits with the configured speed factors."""
    if settings.travel_model is not None:
        return TravelModel.load(settings.travel_model)
    if settings.country is not None:
        return default_model(settings.country)
    return posted_model(settings.speed_factors)
