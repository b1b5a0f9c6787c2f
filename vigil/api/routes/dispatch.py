"""Recommendations and routes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from vigil.api.schemas import Location
from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import DISPATCH, UNIT_REPORTERS, VIEWERS
from vigil.core.ids import IncidentId, UnitId
from vigil.dispatch.service import Recommendation
from vigil.geo.network import Route

router = APIRouter(tags=["dispatch"])


class ChoiceOut(BaseModel):
    """A recommended unit."""

    unit_id: UnitId
    callsign: str
    type: str
    covers: str
    eta_s: float
    eta_low_s: float | None = Field(
        default=None, description="Low end of the calibrated 80% band (None: uncalibrated)."
    )
    eta_high_s: float | None = Field(
        default=None, description="High end of the calibrated 80% band (None: uncalibrated)."
    )
    metres: float
    why: str
    route: dict[str, Any] | None


class ShortfallOut(BaseModel):
    """A run-card line that cannot be covered."""

    capability: str
    needed: int
    covered: int
    why: str


class RecommendationOut(BaseModel):
    """Units to send, with ETAs, routes and reasons."""

    incident_id: IncidentId
    incident_type: str
    run_card: list[dict[str, Any]]
    covered: bool
    chosen: list[ChoiceOut]
    shortfalls: list[ShortfallOut]
    already_assigned: list[str]
    considered: int
    unreachable: list[str]
    no_position: list[str]
    compute_ms: float
    method: str
    model: str = Field(
        default="", description="The travel model behind the ETAs: name, version, fitted on."
    )
    model_version: str = Field(default="", description="Digest of the model's parameters.")


class StepOut(BaseModel):
    """One turn-by-turn instruction: the manoeuvre onto a street, then how far along it."""

    maneuver: str = Field(
        description="depart, continue, slight_left/right, left/right, sharp_left/right or arrive."
    )
    street: str = Field(description="OSM name or ref of the street; empty if it has none.")
    metres: float
    seconds: float
    location: Location = Field(description="Where the manoeuvre happens.")


class RouteOut(BaseModel):
    """A route as GeoJSON with its drive time, length and turn-by-turn steps."""

    unit_id: UnitId
    incident_id: IncidentId
    eta_s: float
    metres: float
    geometry: dict[str, Any]
    steps: list[StepOut] = Field(default_factory=list)

    @classmethod
    def of(cls, unit_id: UnitId, incident_id: IncidentId, r: Route) -> RouteOut:
        """Return the API form of a route."""
        return cls(
            unit_id=unit_id,
            incident_id=incident_id,
            eta_s=r.seconds,
            metres=r.metres,
            geometry=r.geometry,
            steps=[
                StepOut(
                    maneuver=s.maneuver,
                    street=s.street,
                    metres=round(s.metres, 1),
                    seconds=round(s.seconds, 1),
                    location=Location(lat=s.lat, lon=s.lon),
                )
                for s in r.steps
            ],
        )


def _out(rec: Recommendation, routes: dict[UnitId, dict[str, Any]]) -> RecommendationOut:
    """Return the API form: the recommendation's own fields by name, plus what the API adds."""
    data = asdict(rec)  # nested choices and shortfalls too
    for choice in data["chosen"]:
        choice["route"] = routes.get(choice["unit_id"])
    data["run_card"] = [{"capability": c, "count": n} for c, n in rec.run_card]
    data["covered"] = not rec.shortfalls
    return RecommendationOut.model_validate(data)


@router.get("/incidents/{incident_id}/recommendations")
def recommendations(
    incident_id: IncidentId,
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(DISPATCH))],
    routes: bool = True,
) -> RecommendationOut:
    """Rank every available unit by drive time and cover the incident's run card."""
    rec = app.dispatch.recommend(incident_id)
    geometry = (
        {c.unit_id: app.dispatch.route(incident_id, c.unit_id).geometry for c in rec.chosen}
        if routes
        else {}
    )
    return _out(rec, geometry)


@router.get("/incidents/{incident_id}/routes/{unit_id}")
def route(
    incident_id: IncidentId,
    unit_id: UnitId,
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS | UNIT_REPORTERS))],
) -> RouteOut:
    """Return the fastest legal route from a unit to an incident, with turn-by-turn steps."""
    return RouteOut.of(unit_id, incident_id, app.dispatch.route(incident_id, unit_id))
