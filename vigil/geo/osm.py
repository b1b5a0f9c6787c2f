"""Read an OpenStreetMap file (.osm.pbf or .osm XML) into plain records.

One streaming pass with pyosmium (it reads both formats with one code path and
assembles multipolygons, which pyrosm cannot do for XML): highway ways with their
node ids and coordinates, addresses, named places, emergency stations and the
few polygons a basemap needs. Library errors become ``ConfigError`` here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import osmium.osm

from vigil.core.errors import ConfigError

WAY_TAGS = (
    "highway",
    "name",
    "ref",
    "oneway",
    "junction",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "emergency",
    "service",
    "area",
)

STATION_KINDS = ("fire_station", "police", "hospital")

PLACE_KEYS = ("place", "amenity", "shop", "tourism", "leisure", "historic", "office", "railway")


@dataclass(frozen=True, slots=True, kw_only=True)
class HighwayWay:
    """A way tagged highway=*, with node ids and coordinates in order."""

    osm_id: int
    node_ids: list[int]
    lats: list[float]
    lons: list[float]
    tags: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressRecord:
    """An address point (node or building centroid)."""

    street: str
    housenumber: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceRecord:
    """A named feature that people call by name (square, school, station, ...)."""

    name: str
    category: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StationRecord:
    """A fire station, police station or hospital."""

    osm_ref: str
    name: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaRecord:
    """An outer ring of a basemap polygon as [lon, lat] pairs."""

    category: str
    name: str
    ring: list[list[float]]


@dataclass(slots=True, kw_only=True)
class OsmExtract:
    """Everything Vigil keeps from one OSM file."""

    ways: list[HighwayWay] = field(default_factory=list)
    addresses: list[AddressRecord] = field(default_factory=list)
    places: list[PlaceRecord] = field(default_factory=list)
    stations: list[StationRecord] = field(default_factory=list)
    areas: list[AreaRecord] = field(default_factory=list)


def _area_category(tags: osmium.osm.TagList) -> str | None:
    if "building" in tags:
        return "building"
    if tags.get("natural") == "water" or tags.get("waterway") == "riverbank":
        return "water"
    if tags.get("leisure") in ("park", "garden") or tags.get("landuse") in (
        "grass",
        "forest",
        "recreation_ground",
        "cemetery",
    ):
        return "park"
    return None


def _ring_centroid(ring: list[list[float]]) -> tuple[float, float]:
    """Return (lat, lon) of a ring's vertex mean (adequate for building-sized rings)."""
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    lon = sum(p[0] for p in pts) / len(pts)
    lat = sum(p[1] for p in pts) / len(pts)
    return lat, lon


def _collect_point(
    out: OsmExtract, tags: osmium.osm.TagList, ref: str, lat: float, lon: float
) -> None:
    street = tags.get("addr:street") or tags.get("addr:place")
    number = tags.get("addr:housenumber")
    if street and number:
        out.addresses.append(AddressRecord(street=street, housenumber=number, lat=lat, lon=lon))
    amenity = tags.get("amenity")
    name = tags.get("name")
    if amenity in STATION_KINDS:
        out.stations.append(
            StationRecord(osm_ref=ref, name=name or "", kind=amenity, lat=lat, lon=lon)
        )
    if name:
        for key in PLACE_KEYS:
            if key in tags:
                out.places.append(
                    PlaceRecord(name=name, category=f"{key}={tags[key]}", lat=lat, lon=lon)
                )
                break


def read_osm(path: Path, *, on_progress: Callable[[int], None] | None = None) -> OsmExtract:
    """Read the records Vigil needs from an OSM file; raise ConfigError if unreadable."""
    if not path.is_file():
        raise ConfigError(f"OSM file {path} does not exist", field="osm_file")
    if path.stat().st_size == 0:
        raise ConfigError(f"OSM file {path} is empty", field="osm_file")
    out = OsmExtract()
    count = 0
    try:
        processor = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_areas()
            .with_filter(osmium.filter.EmptyTagFilter())
        )
        for obj in processor:
            count += 1
            if on_progress is not None and count % 10_000 == 0:
                on_progress(10_000)
            if isinstance(obj, osmium.osm.Node):
                loc = obj.location
                if loc.valid():
                    _collect_point(out, obj.tags, f"node/{obj.id}", loc.lat, loc.lon)
            elif isinstance(obj, osmium.osm.Way):
                if "highway" in obj.tags:
                    _collect_way(out, obj)
            elif isinstance(obj, osmium.osm.Area):
                _collect_area(out, obj)
    except RuntimeError as err:
        raise ConfigError(f"cannot read OSM file {path}: {err}", field="osm_file") from err
    if count == 0:
        raise ConfigError(f"OSM file {path} holds no tagged objects", field="osm_file")
    return out


def _collect_way(out: OsmExtract, way: osmium.osm.Way) -> None:
    node_ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    for node in way.nodes:
        loc = node.location
        # Extracts clip ways at their border: keep the longest run of known nodes.
        if not loc.valid():
            if len(node_ids) >= 2:
                break
            node_ids, lats, lons = [], [], []
            continue
        node_ids.append(node.ref)
        lats.append(loc.lat)
        lons.append(loc.lon)
    if len(node_ids) < 2:
        return
    tags = {key: way.tags[key] for key in WAY_TAGS if key in way.tags}
    out.ways.append(HighwayWay(osm_id=way.id, node_ids=node_ids, lats=lats, lons=lons, tags=tags))


def _collect_area(out: OsmExtract, area: osmium.osm.Area) -> None:
    tags = area.tags
    category = _area_category(tags)
    interesting = (
        category is not None
        or tags.get("amenity") in STATION_KINDS
        or "addr:housenumber" in tags
        or "name" in tags
    )
    if not interesting:
        return
    rings = [[[n.lon, n.lat] for n in ring] for ring in area.outer_rings()]
    rings = [r for r in rings if len(r) >= 4]
    if not rings:
        return
    ring = max(rings, key=len)
    if category is not None:
        out.areas.append(AreaRecord(category=category, name=tags.get("name") or "", ring=ring))
    # Closed highway ways (squares, roundabouts) are not places or addresses.
    if "highway" in tags:
        return
    lat, lon = _ring_centroid(ring)
    kind = "way" if area.from_way() else "relation"
    _collect_point(out, tags, f"{kind}/{area.orig_id()}", lat, lon)
