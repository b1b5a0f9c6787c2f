"""Stations and units of a city, from files; each snapped to the road graph or refused.

Stations come from CSV (columns ``station`` or ``id``, ``name``, ``lat``, ``lon``,
optional ``address``) or GeoJSON (Point features; the id is the ``station``/``id``
property, or the number in a name such as "Fire Station #15"). Units come from
YAML::

    units:
      - {id: E07, type: engine, station: "7"}          # home = the station
      - {id: M55, type: medic_als, lat: 37.76, lon: -122.41, callsign: Medic 55}

A station or unit home farther from the road graph than the configured snap
distance is an error naming it and the distance: a unit that cannot be placed
on a road can never be recommended, so it is refused, not silently dropped.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError, GeoError
from vigil.core.geometry import LatLon
from vigil.core.ids import UnitId
from vigil.geo.network import RoadNetwork

_NUMBER = re.compile(r"#\s*(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class StationRecord:
    """A station as read from the city's file."""

    id: str
    name: str
    location: LatLon
    address: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    """A station or unit home snapped to the road graph."""

    id: str
    name: str
    location: LatLon
    on_road: LatLon
    distance_m: float


def _station_id(raw: str) -> str:
    """Return a station id without leading zeros ("07" and "7" are one station)."""
    raw = raw.strip()
    return raw.lstrip("0") or raw if raw.isdigit() else raw


def read_stations(path: Path) -> list[StationRecord]:
    """Read stations from CSV or GeoJSON; ConfigError names the line or feature and field."""
    if not path.is_file():
        raise ConfigError(f"stations file {path} does not exist", field="stations")
    if path.suffix.lower() in (".geojson", ".json"):
        return _read_geojson(path)
    out: list[StationRecord] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        id_col = cols.get("station") or cols.get("id") or cols.get("station_id")
        missing = [c for c in ("lat", "lon") if c not in cols]
        if id_col is None or missing:
            raise ConfigError(
                f"{path.name}: a stations CSV needs 'station' (or 'id'), 'lat' and 'lon' columns",
                field="stations",
            )
        for i, row in enumerate(reader, start=2):
            sid = _station_id(row[id_col] or "")
            if not sid:
                raise ConfigError(f"{path.name} line {i}: empty station id", field="stations")
            try:
                where = LatLon(float(row[cols["lat"]]), float(row[cols["lon"]]))
            except (ValueError, GeoError) as err:
                raise ConfigError(
                    f"{path.name} line {i}: station {sid}: bad lat/lon "
                    f"{row[cols['lat']]!r}, {row[cols['lon']]!r}",
                    field="stations",
                ) from err
            name = row.get(cols.get("name", ""), "") or f"Station {sid}"
            address = row.get(cols.get("address", ""), "") or ""
            out.append(StationRecord(id=sid, name=name, location=where, address=address))
    _no_duplicates(out, path)
    return out


def _read_geojson(path: Path) -> list[StationRecord]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path.name}: not readable GeoJSON: {err}", field="stations") from err
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise ConfigError(f"{path.name}: not a GeoJSON FeatureCollection", field="stations")
    out: list[StationRecord] = []
    for i, feat in enumerate(features):
        props = feat.get("properties") or {}
        geom = feat.get("geometry") or {}
        name = str(props.get("name") or props.get("common_name") or "")
        raw_id = props.get("station") or props.get("station_id") or props.get("id")
        if raw_id is None and (m := _NUMBER.search(name)) is not None:
            raw_id = m.group(1)
        if raw_id is None:
            raise ConfigError(
                f"{path.name} feature {i}: no station id ('station'/'id' property, "
                "or a number like '#15' in the name)",
                field="stations",
            )
        sid = _station_id(str(raw_id))
        coords = geom.get("coordinates") if geom.get("type") == "Point" else None
        try:
            where = LatLon(float(coords[1]), float(coords[0]))  # type: ignore[index]
        except (TypeError, IndexError, ValueError, GeoError) as err:
            raise ConfigError(
                f"{path.name} feature {i}: station {sid} has no valid Point geometry",
                field="stations",
            ) from err
        out.append(
            StationRecord(
                id=sid,
                name=name or f"Station {sid}",
                location=where,
                address=str(props.get("address") or ""),
            )
        )
    _no_duplicates(out, path)
    return out


def _no_duplicates(stations: list[StationRecord], path: Path) -> None:
    seen: set[str] = set()
    for s in stations:
        if s.id in seen:
            raise ConfigError(f"{path.name}: station {s.id} is listed twice", field="stations")
        seen.add(s.id)


# ---------------------------------------------------------------- units
class UnitSpec(BaseModel):
    """One unit of the city's fleet, as written in the units file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Unit id, e.g. E07.")
    type: str = Field(min_length=1, description="Unit type from the catalogue (engine, ...).")
    callsign: str | None = Field(default=None, description="Radio callsign; default the id.")
    station: str | None = Field(default=None, description="Home station id.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Home latitude.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Home longitude.")

    @model_validator(mode="after")
    def _has_home(self) -> UnitSpec:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.station is None and self.lat is None:
            raise ValueError("a unit needs a home: 'station' or 'lat'/'lon'")
        return self


class UnitsFile(BaseModel):
    """The units file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    units: tuple[UnitSpec, ...] = Field(description="The fleet.")


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRecord:
    """A unit with its resolved home."""

    id: UnitId
    type: str
    callsign: str
    station: str | None
    home: LatLon


def read_units(
    path: Path,
    stations: list[StationRecord],
    *,
    skip_stations: set[str] | frozenset[str] = frozenset(),
) -> list[UnitRecord]:
    """Read the units file; ConfigError names the unit and field (unknown station, ...).

    Units based at a station in ``skip_stations`` are left out (the caller lists them).
    """
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
        spec = UnitsFile(**(data or {}))
    except OSError as err:
        raise ConfigError(f"cannot read units file {path}: {err}", field="units") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: not valid YAML: {err}", field="units") from err
    except PydanticValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigError(f"{path.name}: " + "; ".join(lines), field="units") from err
    by_id = {s.id: s for s in stations}
    out: list[UnitRecord] = []
    seen: set[str] = set()
    for u in spec.units:
        if u.id in seen:
            raise ConfigError(f"{path.name}: unit {u.id} is listed twice", field="units")
        seen.add(u.id)
        station = _station_id(u.station) if u.station is not None else None
        if u.lat is not None and u.lon is not None:
            home = LatLon(u.lat, u.lon)
        elif station is not None and station in by_id:
            home = by_id[station].location
        else:
            raise ConfigError(
                f"{path.name}: unit {u.id}: station {u.station!r} is not in the stations file",
                field="units",
            )
        out.append(
            UnitRecord(
                id=UnitId(u.id),
                type=u.type,
                callsign=u.callsign or u.id,
                station=station,
                home=home,
            )
        )
    return out


def place(network: RoadNetwork, items: list[tuple[str, str, LatLon]], *, what: str) -> list[Placed]:
    """Snap (id, name, location) items to the road; GeoError names every one too far."""
    limit = network.settings.max_snap_distance_m
    placed: list[Placed] = []
    too_far: list[str] = []
    for item_id, name, where in items:
        snap = network.snapper.snap(where, max_distance_m=math.inf)
        d = snap.distance_m
        if d > limit:
            too_far.append(f"{what} {item_id} ({name}) is {d:.0f} m from the nearest road")
            continue
        placed.append(
            Placed(id=item_id, name=name, location=where, on_road=snap.on_road, distance_m=d)
        )
    if too_far:
        raise GeoError(
            "; ".join(too_far) + f" (limit geo.max_snap_distance_m = {limit:.0f} m)",
            field=what,
        )
    return placed
