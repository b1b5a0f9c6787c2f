"""Road network, snapping, ETAs, routes, geocoding and stations from OpenStreetMap.

Public API (all re-exported here)::

    GeoSettings(osm_file=None, cache_dir=None, max_snap_distance_m=250.0,
                speed_factors={...}, default_speed_kmh={...}, include_private=True,
                min_speed_kmh=5.0)
    load_network(settings: GeoSettings, *, progress: bool = False) -> RoadNetwork
        # built once per (file SHA-256, build settings), cached under settings.cache_dir

    RoadNetwork
        .snap(point: LatLon) -> Snap                      # GeoError with the distance if too far
        .snap_many(points: list[LatLon]) -> list[Snap]
        .etas_to(target: LatLon, sources: Mapping[str, LatLon], *,
                 speed_factor: Mapping[str, float] | None = None) -> dict[str, Eta]
                 # one PHAST search per call; unsnappable/unreachable sources omitted
        .etas_to_snapped(target: Snap, sources: Mapping[str, Snap], *,
                 speed_factor: Mapping[str, float] | None = None) -> dict[str, Eta]
        .route(origin: LatLon, target: LatLon, *, speed_factor: float = 1.0) -> Route
                 # NoRouteError if none; Route.geometry is a GeoJSON LineString
        .bbox -> BBox, .center -> LatLon, .report -> BuildReport
        .road_features() -> list[dict[str, object]]       # GeoJSON, properties highway/name
        .basemap_features() -> list[dict[str, object]]    # buildings/water/parks polygons

    Eta(seconds: float, metres: float)
    Route(seconds: float, metres: float, geometry: dict[str, object])

    Geocoder(network: RoadNetwork)
        .geocode(text: str, *, limit: int = 5) -> list[GeocodeMatch]   # best first
        .reverse(point: LatLon) -> ReverseMatch
    GeocodeMatch(location: LatLon, label: str, confidence: float,
                 kind: "address" | "intersection" | "place" | "street")
    ReverseMatch(label: str, distance_m: float, location: LatLon, kind: ...)
    is_ambiguous(matches: list[GeocodeMatch]) -> bool

    stations(network: RoadNetwork, *, kinds=("fire_station", "police", "hospital"))
        -> list[Station]   # Station(id, name, kind, location (on road), mapped_at,
                           #         snap_distance_m)

    Geocoder.nearest(point) -> ReverseMatch | None      # a label, never raises (cached)

Travel times (one model, one code path; docs/travel-times.md)::

    TravelModel(name, country, road="model"|"posted", speeds_kmh={freeway, arterial,
                local, service}, intersection_delay_s, overhead_s, speed_factors,
                time_of_day, interval, provenance)           # vigil.geo.travel
        .eta_s(road_s, unit_type, at) -> float, .interval_s(eta) -> (low, high) | None
        .version, .describe(), .save(path), TravelModel.load(path)
    default_model(country) / posted_model(speed_factors) / model_for(GeoSettings)
    TravelTimes(network, model)                               # vigil.geo.eta
        .eta(origin, target, unit_type, at=None) -> ModelEta(seconds, road_seconds,
              metres, low_s, high_s)
        .etas_to_snapped(target_snap, {key: snap}, {key: unit_type}, at=None)
        .route(origin, target, unit_type, at=None) -> Route (seconds include overhead)
    calibrate / select_responses / metrics                    # vigil.geo.calibrate

The CLI is ``vigil.cli.geo.app`` (``build``, ``route``, ``geocode``, ``eta``,
``calibrate``).
"""

from vigil.geo.geocode import GeocodeMatch, Geocoder, ReverseMatch, is_ambiguous
from vigil.geo.graph import BuildReport
from vigil.geo.network import Eta, RoadNetwork, Route, load_network
from vigil.geo.settings import GeoSettings
from vigil.geo.snap import Snap
from vigil.geo.stations import Station, stations

__all__ = [
    "BuildReport",
    "Eta",
    "GeoSettings",
    "GeocodeMatch",
    "Geocoder",
    "ReverseMatch",
    "RoadNetwork",
    "Route",
    "Snap",
    "Station",
    "is_ambiguous",
    "load_network",
    "stations",
]
