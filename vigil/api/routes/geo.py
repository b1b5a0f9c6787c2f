"""Geocoding for the call form: address search and reverse lookup of a map click."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from vigil.api.schemas import Location
from vigil.api.security import Allow, AppDep, Principal
from vigil.app import App
from vigil.audit.roles import OPERATORS
from vigil.core.errors import StoreError
from vigil.core.geometry import LatLon
from vigil.geo.geocode import Geocoder

router = APIRouter(tags=["geo"])


class GeocodeOut(BaseModel):
    """One candidate place for a searched text."""

    label: str
    location: Location
    confidence: float
    kind: Literal["address", "intersection", "place", "street"]


class ReverseOut(BaseModel):
    """The nearest address (or street) to a point."""

    label: str
    location: Location
    distance_m: float
    kind: Literal["address", "intersection", "place", "street"]


def _geocoder(app: App) -> Geocoder:
    if app.geocoder is None:
        raise StoreError("the road network is not loaded; geocoding is unavailable")
    return app.geocoder


@router.get("/geo/geocode")
def geocode(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(OPERATORS))],
    q: Annotated[str, Query(min_length=1, max_length=300, description="Address or place.")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[GeocodeOut]:
    """Return candidate places for a text, best first (the call-taker confirms one)."""
    return [
        GeocodeOut(
            label=m.label,
            location=Location(lat=m.location.lat, lon=m.location.lon),
            confidence=round(m.confidence, 3),
            kind=m.kind,
        )
        for m in _geocoder(app).geocode(q, limit=limit)
    ]


@router.get("/geo/reverse")
def reverse(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(OPERATORS))],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> ReverseOut:
    """Return the nearest address, or else the street, to a point (e.g. a map click)."""
    m = _geocoder(app).reverse(LatLon(lat, lon))
    return ReverseOut(
        label=m.label,
        location=Location(lat=m.location.lat, lon=m.location.lon),
        distance_m=round(m.distance_m, 1),
        kind=m.kind,
    )
