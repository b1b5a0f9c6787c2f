"""The offline basemap (the city's own OSM roads, buildings, water, parks) and map settings."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.app import App
from vigil.audit.roles import VIEWERS
from vigil.core.errors import StoreError

router = APIRouter(tags=["map"])


BasemapLayer = Literal["all", "roads", "areas"]


@dataclass(frozen=True, slots=True)
class Encoded:
    """One JSON document encoded once: the body, its gzip, and an ETag."""

    body: bytes
    gzipped: bytes
    etag: str


def encode(doc: object) -> Encoded:
    """Encode a document as JSON, gzip it once and derive a strong ETag."""
    body = msgspec.json.encode(doc)
    return Encoded(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


@dataclass(frozen=True, slots=True)
class Basemap:
    """The basemap encoded once per network: the whole document and each layer alone.

    The UI hands the per-layer URLs (bare FeatureCollections) to MapLibre, whose
    worker fetches and parses them off the page's main thread.
    """

    network_id: int
    layers: dict[str, Encoded]


def build_basemap(app: App) -> Basemap:
    """Encode the network's roads and areas as GeoJSON FeatureCollections."""
    network = app.network
    if network is None:
        raise StoreError("the road network is not loaded; the offline basemap is unavailable")
    b = network.bbox
    roads = {"type": "FeatureCollection", "features": network.road_features()}
    areas = {"type": "FeatureCollection", "features": network.basemap_features()}
    doc: dict[str, Any] = {
        "bbox": [b.west, b.south, b.east, b.north],
        "roads": roads,
        "areas": areas,
        "attribution": ATTRIBUTION,
    }
    return Basemap(
        network_id=id(network),
        layers={"all": encode(doc), "roads": encode(roads), "areas": encode(areas)},
    )


ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"


@router.get(
    "/map/basemap",
    dependencies=[Depends(Public())],
    responses={200: {"content": {"application/json": {}}, "description": "Basemap layers."}},
)
def basemap(request: Request, app: AppDep, layer: BasemapLayer = "all") -> Response:
    """Return the city's roads (by class, with names), buildings, water and parks as GeoJSON.

    ``layer=all`` (default) answers ``{bbox, roads, areas, attribution}``;
    ``layer=roads`` or ``layer=areas`` answers that FeatureCollection alone.
    """
    cached: Basemap | None = getattr(request.app.state, "basemap", None)
    if cached is None or cached.network_id != id(app.network):
        cached = build_basemap(app)
        request.app.state.basemap = cached
    enc = cached.layers[layer]
    headers = {
        "ETag": enc.etag,
        "Cache-Control": "public, max-age=3600",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == enc.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            enc.gzipped,
            media_type="application/json",
            headers={**headers, "Content-Encoding": "gzip"},
        )
    return Response(enc.body, media_type="application/json", headers=headers)


class MapConfigOut(BaseModel):
    """What the UI needs to draw the map."""

    tile_url: str | None
    basemap: bool
    bbox: list[float] | None
    center: list[float] | None
    attribution: str = ATTRIBUTION


@router.get("/map/config")
def map_config(app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]) -> MapConfigOut:
    """Return the tile server (if any), whether the offline basemap exists, and the extent."""
    network = app.network
    if network is None:
        return MapConfigOut(
            tile_url=app.settings.ui.tile_url, basemap=False, bbox=None, center=None
        )
    b, c = network.bbox, network.center
    return MapConfigOut(
        tile_url=app.settings.ui.tile_url,
        basemap=True,
        bbox=[b.west, b.south, b.east, b.north],
        center=[c.lon, c.lat],
    )
