"""HTTP: the command centre's alerts — drafts, composing, two-person approval, map areas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from vigil.alerts.cap import CapArea, CapInfo
from vigil.alerts.drafts import AlertDrafted, list_drafts
from vigil.alerts.feed import geojson
from vigil.alerts.service import Alert
from vigil.api.security import Allow, AppDep, CommandId, Principal
from vigil.audit.roles import DISPATCH, SUPERVISORS, VIEWERS
from vigil.core.errors import NotFoundError
from vigil.core.ids import IncidentId
from vigil.core.text import clean_text

router = APIRouter(tags=["alerts"])

Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
Category = Literal[
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
]  # fmt: skip


class DraftOut(BaseModel):
    """A draft public alert (CAP 1.2 fields) written by a rule."""

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
    incident_id: IncidentId | None


class _CleanText(BaseModel):
    """Every text field refuses control, bidirectional and invisible characters.

    They would reach the log and the CAP XML (which cannot even hold most C0
    controls: composing such an alert was a 500, found by schemathesis).
    """

    @field_validator("*", mode="after")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value)
        if isinstance(value, list):
            return [clean_text(v) if isinstance(v, str) else v for v in value]
        return value


class AreaIn(_CleanText):
    """A CAP <area>: a description plus polygons and/or circles (from a zone or drawn)."""

    desc: str = Field(min_length=1, max_length=500, description="CAP <areaDesc>.")
    polygons: list[str] = Field(
        default_factory=list, max_length=20, description='Closed rings "lat,lon lat,lon ...".'
    )
    circles: list[str] = Field(
        default_factory=list, max_length=20, description='"lat,lon radius_km".'
    )


class InfoIn(_CleanText):
    """One CAP <info> block: one per language."""

    language: str = Field(default="en-US", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    categories: list[Category] = Field(min_length=1, description="CAP <category> values.")
    event: str = Field(min_length=1, max_length=200, description="CAP <event>, e.g. Flood warning.")
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    headline: str = Field(default="", max_length=160)
    description: str = Field(default="", max_length=10_000)
    instruction: str = Field(default="", max_length=10_000)
    web: str | None = Field(default=None, description="Absolute URL with more information.")
    expires: datetime | None = Field(default=None, description="Default: alerts.default_expiry_h.")
    areas: list[AreaIn] = Field(min_length=1, max_length=20)

    def model(self) -> CapInfo:
        """Return the domain's CapInfo."""
        return CapInfo(
            language=self.language,
            categories=tuple(self.categories),
            event=self.event,
            urgency=self.urgency,
            severity=self.severity,
            certainty=self.certainty,
            headline=self.headline,
            description=self.description,
            instruction=self.instruction,
            web=self.web,
            expires=self.expires,
            areas=tuple(
                CapArea(desc=a.desc, polygons=tuple(a.polygons), circles=tuple(a.circles))
                for a in self.areas
            ),
        )


class ComposeIn(_CleanText):
    """A new alert (from scratch or for an incident), or an Update/Cancel of a published one."""

    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    supersedes: str | None = Field(
        default=None, description="The alert an Update/Cancel refers to."
    )
    infos: list[InfoIn] = Field(min_length=1, max_length=10)
    note: str | None = Field(default=None, max_length=2000)
    incident_id: IncidentId | None = None
    reason: str = Field(default="", max_length=2000, description="Why, for the log.")


class ReviseIn(_CleanText):
    """New content for a draft; the reviser becomes one of its authors."""

    infos: list[InfoIn] = Field(min_length=1, max_length=10)
    reason: str = Field(min_length=1, max_length=2000)


class DecisionIn(_CleanText):
    """A supervisor's decision on a draft and why."""

    reason: str = Field(min_length=1, max_length=2000)


class DeliveryOut(BaseModel):
    """The latest delivery attempt on one channel."""

    channel: str
    attempt: int
    ok: bool
    final: bool
    detail: str
    at: datetime


class AlertOut(BaseModel):
    """One of the city's alerts and where it stands."""

    id: str
    state: str = Field(description="draft, rejected, published, superseded or cancelled.")
    active: bool = Field(description="Published, not superseded, not expired: on the public feed.")
    msg_type: str
    supersedes: str | None
    superseded_by: str | None
    incident_id: IncidentId | None
    from_draft: str | None
    revision: int
    authors: list[str]
    composed_at: datetime
    updated_at: datetime
    decided_by: str | None
    decision_reason: str | None
    identifier: str | None = Field(description="CAP <identifier> once published.")
    sent: datetime | None
    expires: datetime | None
    schema_checked: str | None = Field(description="The XSD the published document passed.")
    cap_url: str | None
    infos: list[dict[str, Any]]
    deliveries: list[DeliveryOut]


def alert_out(alert: Alert, now: datetime) -> AlertOut:
    """Serialise an alert for the API."""
    import msgspec  # noqa: PLC0415 - only to turn infos into plain JSON

    pub = alert.published
    return AlertOut(
        id=alert.id,
        state=alert.state,
        active=alert.active(now),
        msg_type=alert.msg_type,
        supersedes=alert.supersedes,
        superseded_by=alert.superseded_by,
        incident_id=alert.incident_id,
        from_draft=alert.from_draft,
        revision=alert.revision,
        authors=list(alert.authors),
        composed_at=alert.composed_at,
        updated_at=alert.updated_at,
        decided_by=alert.decided_by,
        decision_reason=alert.decision_reason,
        identifier=pub.identifier if pub else None,
        sent=pub.sent if pub else None,
        expires=pub.expires if pub else None,
        schema_checked=pub.schema if pub else None,
        cap_url=f"/api/v1/public/cap/{alert.id}.xml" if pub else None,
        infos=[msgspec.to_builtins(i) for i in alert.infos],
        deliveries=[DeliveryOut(**msgspec.structs.asdict(d)) for d in alert.deliveries],
    )


@router.get("/alerts/drafts")
def drafts(app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]) -> list[DraftOut]:
    """List the drafts rules wrote, newest first (their approval state: GET /alerts)."""
    out: list[DraftOut] = []
    for rec in reversed(list_drafts(app.store)):
        d = rec.event
        assert isinstance(d, AlertDrafted)
        out.append(
            DraftOut(
                id=d.draft_id,
                status=app.alerts.get(d.draft_id).state,
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


@router.get("/alerts")
def list_alerts(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    state: Annotated[
        list[str] | None, Query(description="Repeatable: draft, published, ...")
    ] = None,
) -> list[AlertOut]:
    """List the city's alerts (drafts awaiting approval, published, rejected...), newest first."""
    now = app.clock.now()
    found = app.alerts.find(states=frozenset(state) if state else None)
    return [alert_out(a, now) for a in found]


@router.get("/alerts/areas.geojson")
def areas(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    drafts: Annotated[bool, Query(description="Include drafts awaiting approval.")] = True,
) -> dict[str, Any]:
    """Alert areas for the command-centre map: city alerts and other agencies' (origin=external)."""
    now = app.clock.now()
    own = [a for a in app.alerts.find() if a.active(now) or (drafts and a.state == "draft")]
    return geojson(own, app.alerts.external_active(now))


@router.get("/alerts/external")
def external(app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]) -> list[dict[str, Any]]:
    """Other agencies' current alerts, from the subscribed CAP feeds."""
    import msgspec  # noqa: PLC0415

    return [
        {**msgspec.to_builtins(x.received), "received_at": x.at.isoformat(), "state": x.state}
        for x in app.alerts.external_active()
    ]


class IntakeOut(BaseModel):
    """What one pushed CAP document yielded."""

    accepted: int
    repeated: int
    rejected: list[str]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post("/alerts/external")
def push_external(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    body: Annotated[bytes, Depends(_raw_body)],
    source: Annotated[str, Query(min_length=1, max_length=64, description="Who sent it.")],
) -> IntakeOut:
    """Take another agency's CAP document (alert, Atom/RSS feed or EDXL-DE) by upload.

    Hostile or invalid documents are refused safely, counted and dead-lettered; the
    answer lists why. Links in a pushed feed are never followed.
    """
    result = app.cap_in.intake.take(body, source=source)
    return IntakeOut(accepted=result.accepted, repeated=result.repeated, rejected=result.rejected)


@router.get("/alerts/intake")
def intake_stats(
    app: AppDep, _: Annotated[Principal, Depends(Allow(SUPERVISORS))]
) -> dict[str, Any]:
    """CAP-in refusals by source and reason, the newest dead letters, and the last polls."""
    return {
        "refused": app.cap_in.dead.counters(),
        "dead_letters": app.cap_in.dead.recent(),
        "last_polls": {
            name: {"accepted": r.accepted, "repeated": r.repeated, "rejected": r.rejected}
            for name, r in app.cap_in.poller.last.items()
        },
    }


@router.get("/alerts/{alert_id}")
def get_alert(
    alert_id: str, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> AlertOut:
    """One alert, with its approval and delivery state."""
    return alert_out(app.alerts.get(alert_id), app.clock.now())


@router.post("/alerts", status_code=201)
def compose(
    body: ComposeIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    cid: CommandId,
) -> AlertOut:
    """Write a draft alert (never public until a supervisor approves it)."""
    if body.incident_id is not None:
        app.cad.incident(body.incident_id)
    alert = app.alerts.compose(
        actor=who.name,
        infos=[i.model() for i in body.infos],
        msg_type=body.msg_type,
        supersedes=body.supersedes,
        note=body.note,
        incident_id=body.incident_id,
        reason=body.reason,
        command_id=cid,
    )
    return alert_out(alert, app.clock.now())


@router.post("/incidents/{incident_id}/alert-draft", status_code=201)
def draft_for_incident(
    incident_id: IncidentId,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    cid: CommandId,
    radius_m: Annotated[float, Query(gt=0, le=50_000)] = 500.0,
) -> AlertOut:
    """Start a draft from an incident: its type, description and a circle around it."""
    inc = app.cad.incident(incident_id)
    if inc.location is None:
        raise NotFoundError(
            f"incident {incident_id} has no location to warn around", field="location"
        )
    info = CapInfo(
        categories=("Safety",),
        event=inc.type.replace("_", " "),
        urgency="Expected",
        severity="Moderate",
        certainty="Likely",
        headline=f"{inc.type.replace('_', ' ').capitalize()} near {inc.address or 'this area'}",
        description=inc.description,
        instruction="Avoid the area and follow the instructions of emergency services.",
        areas=(
            CapArea(
                desc=f"within {radius_m:g} m of the incident",
                circles=(f"{inc.location.lat:.6f},{inc.location.lon:.6f} {radius_m / 1000:.3f}",),
            ),
        ),
    )
    alert = app.alerts.compose(
        actor=who.name, infos=[info], incident_id=incident_id, reason="drafted from incident",
        command_id=cid,
    )  # fmt: skip
    return alert_out(alert, app.clock.now())


@router.put("/alerts/{alert_id}")
def revise(
    alert_id: str,
    body: ReviseIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    cid: CommandId,
) -> AlertOut:
    """Revise a draft (a rule's or a person's); the reviser becomes an author."""
    alert = app.alerts.compose(
        actor=who.name,
        infos=[i.model() for i in body.infos],
        alert_id=alert_id,
        msg_type=app.alerts.get(alert_id).msg_type,
        supersedes=app.alerts.get(alert_id).supersedes,
        reason=body.reason,
        command_id=cid,
    )
    return alert_out(alert, app.clock.now())


@router.post("/alerts/{alert_id}/approve")
def approve(
    alert_id: str,
    body: DecisionIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    cid: CommandId,
) -> AlertOut:
    """Approve and publish a draft (two-person rule: not by one of its authors)."""
    alert = app.alerts.approve(alert_id, actor=who.name, reason=body.reason, command_id=cid)
    return alert_out(alert, app.clock.now())


@router.post("/alerts/{alert_id}/reject")
def reject(
    alert_id: str,
    body: DecisionIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    cid: CommandId,
) -> AlertOut:
    """Reject a draft with a reason; it is never published."""
    alert = app.alerts.reject(alert_id, actor=who.name, reason=body.reason, command_id=cid)
    return alert_out(alert, app.clock.now())
