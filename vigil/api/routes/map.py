"""The offline basemap (the city's own OSM roads, buildings, water, parks) and map settings."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.app import App
from vigil.audit.roles import VIEWERS
from vigil.core.errors import StoreError

router = APIRouter(tags=["map"])


@dataclass(frozen=True, slots=True)
class Basemap:
    """The basemap encoded once per network: JSON, its gzip, and an ETag."""

    network_id: int
    body: bytes
    gzipped: bytes
    etag: str


def build_basemap(app: App) -> Basemap:
    """Encode the network's roads and areas as two GeoJSON FeatureCollections."""
    network = app.network
    if network is None:
        raise StoreError("the road network is not loaded; the offline basemap is unavailable")
    b = network.bbox
    doc: dict[str, Any] = {
        "bbox": [b.west, b.south, b.east, b.north],
        "roads": {"type": "FeatureCollection", "features": network.road_features()},
        "areas": {"type": "FeatureCollection", "features": network.basemap_features()},
        "attribution": "© OpenStreetMap contributors (ODbL)",
    }
    body = msgspec.json.encode(doc)
    return Basemap(
        network_id=id(network),
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


@router.get(
    "/map/basemap",
    dependencies=[Depends(Public())],
    responses={200: {"content": {"application/json": {}}, "description": "Basemap layers."}},
)
def basemap(request: Request, app: AppDep) -> Response:
    """Return the city's roads (by class, with names), buildings, water and parks as GeoJSON."""
    cached: Basemap | None = getattr(request.app.state, "basemap", None)
    if cached is None or cached.network_id != id(app.network):
        cached = build_basemap(app)
        request.app.state.basemap = cached
    headers = {
        "ETag": cached.etag,
        "Cache-Control": "public, max-age=3600",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == cached.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            cached.gzipped,
            media_type="application/json",
            headers={**headers, "Content-Encoding": "gzip"},
        )
    return Response(cached.body, media_type="application/json", headers=headers)


class MapConfigOut(BaseModel):
    """What the UI needs to draw the map."""

    tile_url: str | None
    basemap: bool
    bbox: list[float] | None
    center: list[float] | None


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
