"""Draft public alerts, written by rules for a supervisor to approve.

A draft carries the CAP 1.2 fields an ``<info>`` block needs (event, urgency,
severity, certainty, headline, description, instruction) and its ``<area>``
(a polygon "lat,lon lat,lon ..." or a circle "lat,lon radius_km"). Approval,
CAP XML and the public feed belong to the alerts module that comes later; until
then a draft is recorded in the log and listed by ``GET /api/v1/alerts/drafts``.
"""

from __future__ import annotations

from typing import Literal

from vigil.core.events import Event, Recorded, register
from vigil.core.ids import IncidentId
from vigil.store.ports import EventLog

DRAFTS_STREAM = "alerts/drafts"

Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]


@register
class AlertDrafted(Event, frozen=True, kw_only=True, tag="alert.drafted"):
    """A draft public alert awaiting approval."""

    draft_id: str
    headline: str
    description: str
    instruction: str
    cap_event: str  # CAP <event>, e.g. "Flood warning"
    category: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    area_desc: str
    polygon: str | None = None  # CAP: "lat,lon lat,lon ..." closed ring
    circle: str | None = None  # CAP: "lat,lon radius_km"
    rule: str | None = None
    evidence: tuple[str, ...] = ()
    incident_id: IncidentId | None = None
    status: Literal["draft"] = "draft"

    def stream(self) -> str:
        """Return ``alert/<draft id>`` (approval events will join it)."""
        return f"alert/{self.draft_id}"

    def related(self) -> tuple[str, ...]:
        """List it among the drafts, and on its incident's timeline."""
        refs = [DRAFTS_STREAM]
        if self.incident_id:
            refs.append(f"incident/{self.incident_id}")
        return tuple(refs)


def list_drafts(store: EventLog) -> list[Recorded]:
    """Return every recorded draft alert, oldest first."""
    return [r for r in store.stream(DRAFTS_STREAM) if isinstance(r.event, AlertDrafted)]
