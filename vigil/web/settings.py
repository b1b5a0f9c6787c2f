"""Configuration of the command-centre UI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UiSettings(BaseModel):
    """Web UI settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tile_url: str | None = Field(
        default=None,
        description="Raster/vector tile URL template of a city tile server; None draws the "
        "offline basemap from the city's own OSM data.",
    )
    field_avl_interval_s: float = Field(
        default=10.0,
        ge=1.0,
        le=600.0,
        description="How often the field unit app sends the phone's position (AVL), seconds.",
    )
