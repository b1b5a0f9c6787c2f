"""The `city:` section of the settings: who the city is and where its own files are."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class CitySettings(BaseModel):
    """The city's identity and its stations, units and history files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", description="City name, for reports and the UI.")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of the city (history import, time-of-day factors); None: "
        "the history format's own zone.",
    )
    stations: Path | None = Field(
        default=None, description="Stations file (CSV or GeoJSON): id, name, lat, lon."
    )
    units: Path | None = Field(default=None, description="Units file (YAML): id, type, station.")
    stations_inside_extract: bool = Field(
        default=False,
        description="Use only the stations inside the OSM extract's bounding box (a district "
        "extract of a city-wide stations file); the others are listed when left out.",
    )
    history_format: str = Field(
        default="sffd",
        description="Format of the city's CAD exports: 'sffd' or a column-mapping YAML path.",
    )
