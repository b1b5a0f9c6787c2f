"""Data the command centre's panels need beyond the domain endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import VIEWERS
from vigil.core.geometry import haversine_m
from vigil.core.ids import DeviceId
from vigil.ingest.model import Device
from vigil.rules.rule import Rule

router = APIRouter(tags=["panels"])


class ReadingOut(BaseModel):
    """One accepted reading."""

    stream: str
    value: float
    unit: str
    observed_at: datetime


class WatcherOut(BaseModel):
    """A loaded rule that evaluates this device's readings."""

    ref: str = Field(description="name@vN")
    description: str
    stream: str
    scope: str = Field(description="'everywhere', 'zone <name>' or 'circle'.")


class DeviceRecentOut(BaseModel):
    """A device's recent readings and the rules that watch it (the Devices panel's detail)."""

    device_id: DeviceId
    readings: list[ReadingOut] = Field(description="Newest first.")
    watched_by: list[WatcherOut]


def watches(rule: Rule, device: Device) -> bool:
    """Return whether a rule evaluates readings of this device (kind, then scope)."""
    if rule.match[0] != device.kind:
        return False
    if rule.scope_zone is not None and rule.scope_zone.name != device.zone:
        return False
    c = rule.scope_circle
    return c is None or haversine_m(c.center, device.location) <= c.radius_m


@router.get("/devices/{device_id}/recent")
def device_recent(
    device_id: DeviceId,
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    limit: Annotated[int, Query(ge=1, le=500, description="How many readings.")] = 60,
) -> DeviceRecentOut:
    """Return a device's newest readings and the loaded rules that watch it."""
    device = app.ingest.registry.get(device_id)
    readings = app.ingest.observations.recent(device_id, limit=limit)
    return DeviceRecentOut(
        device_id=device_id,
        readings=[
            ReadingOut(stream=r.stream, value=r.value, unit=r.unit, observed_at=r.observed_at)
            for r in readings
        ],
        watched_by=[
            WatcherOut(
                ref=f"{r.name}@v{r.version}",
                description=r.description,
                stream=r.match[1],
                scope=f"zone {r.scope_zone.name}"
                if r.scope_zone
                else ("circle" if r.scope_circle else "everywhere"),
            )
            for r in app.rules.rules.rules
            if watches(r, device)
        ],
    )
