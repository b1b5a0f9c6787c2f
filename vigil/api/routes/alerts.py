"""HTTP: draft public alerts written by rules (approval comes with the alerts module)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from vigil.alerts.drafts import AlertDrafted, list_drafts
from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import VIEWERS

router = APIRouter(tags=["alerts"])


class DraftOut(BaseModel):
    """A draft public alert (CAP 1.2 fields), awaiting a supervisor's approval."""

    id: str
    status: str
    drafted_at: datetime
    drafted_by: str
    headline: str
    description: str
    instruction: str
    event: str = Field(description="CAP <event>.")
    category: str
    urgency: str
    severity: str
    certainty: str
    area_desc: str
    polygon: str | None = Field(description='CAP <polygon>: "lat,lon lat,lon ...".')
    circle: str | None = Field(description='CAP <circle>: "lat,lon radius_km".')
    rule: str | None
    evidence: list[str]
    incident_id: str | None


@router.get("/alerts/drafts")
def drafts(app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]) -> list[DraftOut]:
    """List draft public alerts, newest first (approval and publishing come later)."""
    out: list[DraftOut] = []
    for rec in reversed(list_drafts(app.store)):
        d = rec.event
        assert isinstance(d, AlertDrafted)
        out.append(
            DraftOut(
                id=d.draft_id,
                status=d.status,
                drafted_at=rec.at,
                drafted_by=rec.actor,
                headline=d.headline,
                description=d.description,
                instruction=d.instruction,
                event=d.cap_event,
                category=d.category,
                urgency=d.urgency,
                severity=d.severity,
                certainty=d.certainty,
                area_desc=d.area_desc,
                polygon=d.polygon,
                circle=d.circle,
                rule=d.rule,
                evidence=list(d.evidence),
                incident_id=d.incident_id,
            )
        )
    return out
