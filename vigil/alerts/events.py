"""Events of a public alert's life: composed, approved or rejected, published, delivered.

Every step is in the log with who (the record's actor) and why (``reason``), so
the two-person rule can be checked after the fact from the log alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from vigil.alerts.cap import CapArea, CapInfo
from vigil.core.events import Event, register
from vigil.core.ids import IncidentId

ALERTS_STREAM = "alerts"
EXTERNAL_STREAM = "alerts/external"


def _refs(incident_id: IncidentId | None) -> tuple[str, ...]:
    return (ALERTS_STREAM, f"incident/{incident_id}") if incident_id else (ALERTS_STREAM,)


@register
class AlertComposed(Event, frozen=True, kw_only=True, tag="alert.composed"):
    """A draft CAP message written (or revised) by the record's actor."""

    alert_id: str
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    supersedes: str | None = None  # the Vigil alert an Update/Cancel refers to
    infos: tuple[CapInfo, ...]
    note: str | None = None
    incident_id: IncidentId | None = None
    from_draft: str | None = None  # a rule's draft this was made from
    revision: int = 1
    reason: str = ""

    def stream(self) -> str:
        """Return ``alert/<id>``."""
        return f"alert/{self.alert_id}"

    def related(self) -> tuple[str, ...]:
        """List it among alerts and on its incident's timeline."""
        return _refs(self.incident_id)


@register
class AlertApproved(Event, frozen=True, kw_only=True, tag="alert.approved"):
    """A supervisor (not an author, under the two-person rule) approved a draft."""

    alert_id: str
    revision: int
    reason: str
    incident_id: IncidentId | None = None

    def stream(self) -> str:
        """Return ``alert/<id>``."""
        return f"alert/{self.alert_id}"

    def related(self) -> tuple[str, ...]:
        """List it among alerts and on its incident's timeline."""
        return _refs(self.incident_id)


@register
class AlertRejected(Event, frozen=True, kw_only=True, tag="alert.rejected"):
    """A supervisor rejected a draft; it is never published."""

    alert_id: str
    revision: int
    reason: str
    incident_id: IncidentId | None = None

    def stream(self) -> str:
        """Return ``alert/<id>``."""
        return f"alert/{self.alert_id}"

    def related(self) -> tuple[str, ...]:
        """List it among alerts and on its incident's timeline."""
        return _refs(self.incident_id)


@register
class AlertPublished(Event, frozen=True, kw_only=True, tag="alert.published"):
    """The exact CAP 1.2 document that went public, and what it validated against."""

    alert_id: str
    identifier: str
    sender: str
    sent: datetime
    expires: datetime
    msg_type: str
    supersedes: str | None = None
    xml: str
    schema: str  # "cap12.xsd sha256:<digest>" or "none configured"
    incident_id: IncidentId | None = None

    def stream(self) -> str:
        """Return ``alert/<id>``."""
        return f"alert/{self.alert_id}"

    def related(self) -> tuple[str, ...]:
        """List it among alerts and on its incident's timeline."""
        return _refs(self.incident_id)


@register
class AlertDeliveryAttempted(Event, frozen=True, kw_only=True, tag="alert.delivery"):
    """One attempt to hand a published alert to a subscribed channel."""

    alert_id: str
    channel: str  # configured channel name
    kind: Literal["webhook", "mqtt"]
    target: str
    attempt: int
    ok: bool
    detail: str
    final: bool  # no further attempt will be made (delivered, or retries exhausted)

    def stream(self) -> str:
        """Return ``alert/<id>``."""
        return f"alert/{self.alert_id}"


@register
class ExternalAlertReceived(Event, frozen=True, kw_only=True, tag="alert.external"):
    """A CAP alert from another agency, validated and accepted from a subscribed feed."""

    source: str  # subscription name
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[str, ...] = ()  # identifiers of the messages it updates/cancels
    event_name: str
    headline: str
    severity: str
    urgency: str
    certainty: str
    expires: datetime | None
    areas: tuple[CapArea, ...]
    language: str

    def stream(self) -> str:
        """Return ``alert-external/<sender>/<identifier>``."""
        return f"alert-external/{self.sender}/{self.identifier}"

    def related(self) -> tuple[str, ...]:
        """List it among external alerts."""
        return (EXTERNAL_STREAM,)


__all__ = [
    "ALERTS_STREAM",
    "EXTERNAL_STREAM",
    "AlertApproved",
    "AlertComposed",
    "AlertDeliveryAttempted",
    "AlertPublished",
    "AlertRejected",
    "CapArea",
    "CapInfo",
    "ExternalAlertReceived",
]
