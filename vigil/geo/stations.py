"""Fire stations, police stations and hospitals from OSM, placed on the road network."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vigil.core.errors import GeoError
from vigil.core.geometry import LatLon
from vigil.geo.network import RoadNetwork

StationKind = Literal["fire_station", "police", "hospital"]
STATION_KINDS: tuple[StationKind, ...] = ("fire_station", "police", "hospital")


@dataclass(frozen=True, slots=True, kw_only=True)
class Station:
    """A station from OSM; ``location`` is its point on the nearest drivable road."""

    id: str
    name: str
    kind: StationKind
    location: LatLon
    mapped_at: LatLon
    snap_distance_m: float


def stations(
    network: RoadNetwork, *, kinds: Iterable[StationKind] = STATION_KINDS
) -> list[Station]:
    """Return the network's stations of the given kinds; stations off the network are left out."""
    wanted = set(kinds)
    out: list[Station] = []
    for rec in network.data.stations:
        kind = rec.kind
        if kind not in wanted or kind not in STATION_KINDS:
            continue
        mapped = LatLon(rec.lat, rec.lon)
        try:
            snap = network.snap(mapped)
        except GeoError:
            continue
        out.append(
            Station(
                id=f"osm:{rec.osm_ref}",
                name=rec.name or f"{kind.replace('_', ' ')} {rec.osm_ref}",
                kind=kind,
                location=snap.on_road,
                mapped_at=mapped,
                snap_distance_m=snap.distance_m,
            )
        )
    return sorted(out, key=lambda s: (s.kind, s.name, s.id))
