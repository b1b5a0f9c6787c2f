"""A city's own data: its stations and units from files, and onboarding (`vigil city init`).

Public API::

    read_stations(path) -> list[StationRecord]          # CSV or GeoJSON
    read_units(path, stations) -> list[UnitRecord]       # YAML
    place(network, [(id, name, LatLon)], what=...) -> list[Placed]
        # GeoError naming every item farther than geo.max_snap_distance_m, with its distance
    CitySettings                                         # the `city:` section of the config
    init_city(...) -> CityReport                          # build the graph, snap, write the config
"""

from vigil.city.settings import CitySettings
from vigil.city.stations import (
    Placed,
    StationRecord,
    UnitRecord,
    place,
    read_stations,
    read_units,
)

__all__ = [
    "CitySettings",
    "Placed",
    "StationRecord",
    "UnitRecord",
    "place",
    "read_stations",
    "read_units",
]
