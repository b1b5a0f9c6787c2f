"""Events of the call and incident lifecycle."""

from __future__ import annotations

from datetime import datetime

from vigil.core.events import Event, register
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, IncidentId
from vigil.incidents.model import Agency, IncidentStatus


class IncidentEvent(Event, frozen=True, kw_only=True):
    """An event on one incident's stream."""

    incident_id: IncidentId

    def stream(self) -> str:
        """Return ``incident/<id>``."""
        return f"incident/{self.incident_id}"


@register
class IncidentOpened(IncidentEvent, frozen=True, kw_only=True, tag="incident.opened"):
    """A new incident entered the queue."""

    type: str
    priority: int
    agency: Agency
    location: LatLon | None
    address: str | None
    description: str
    rule: str | None = None
    # The short per-year number (``26-000123``), given at commit (incidents/numbers.py);
    # None only in logs written before numbers existed.
    number: str | None = None


@register
class CallReceived(IncidentEvent, frozen=True, kw_only=True, tag="call.received"):
    """A call was taken and linked to an incident (personal data is stored apart)."""

    call_id: CallId
    received_at: datetime
    location: LatLon | None
    accuracy_m: float | None
    address: str | None
    nature: str
    notes: str
    has_personal_data: bool


@register
class IncidentUpdated(IncidentEvent, frozen=True, kw_only=True, tag="incident.updated"):
    """Fields of an incident were changed by an operator or a rule; None = unchanged."""

    type: str | None = None
    priority: int | None = None
    agency: Agency | None = None
    location: LatLon | None = None
    address: str | None = None
    description: str | None = None
    reason: str = ""


@register
class IncidentStatusChanged(
    IncidentEvent, frozen=True, kw_only=True, tag="incident.status_changed"
):
    """The lifecycle moved (dispatched, on scene, back to pending)."""

    old: IncidentStatus
    new: IncidentStatus
    reason: str


@register
class IncidentClosed(IncidentEvent, frozen=True, kw_only=True, tag="incident.closed"):
    """The incident was closed with a disposition."""

    disposition: str
    notes: str = ""


@register
class IncidentCancelled(IncidentEvent, frozen=True, kw_only=True, tag="incident.cancelled"):
    """The incident was cancelled before anyone arrived."""

    reason: str


@register
class IncidentReopened(IncidentEvent, frozen=True, kw_only=True, tag="incident.reopened"):
    """A closed or cancelled incident came back to the queue."""

    reason: str


@register
class IncidentNoteAdded(IncidentEvent, frozen=True, kw_only=True, tag="incident.note_added"):
    """A free-text note (or a rule's explanation) was added to the timeline."""

    text: str
    rule: str | None = None
    evidence: tuple[str, ...] = ()
