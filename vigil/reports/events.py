"""Events of a citizen report: submitted, promoted, merged or dismissed by an operator, expired."""

from __future__ import annotations

from vigil.core.events import Event, register
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId

REPORTS_STREAM = "reports"


class ReportEvent(Event, frozen=True, kw_only=True):
    """Base: every report event is on ``report/<id>`` and listed among reports."""

    report_id: str

    def stream(self) -> str:
        """Return ``report/<id>``."""
        return f"report/{self.report_id}"

    def related(self) -> tuple[str, ...]:
        """List it among reports."""
        return (REPORTS_STREAM,)


@register
class ReportSubmitted(ReportEvent, frozen=True, kw_only=True, tag="report.submitted"):
    """A member of the public reported something. No identity here: contact is personal data."""

    category: str
    text: str
    location: LatLon
    accuracy_m: float | None = None
    photo_sha256: str | None = None  # of the stored, metadata-free re-encoding
    has_contact: bool = False
    status_key: str  # sha256 of the reporter's private status token (the token is never stored)


@register
class ReportPromoted(ReportEvent, frozen=True, kw_only=True, tag="report.promoted"):
    """An operator opened an incident from a report."""

    incident_id: IncidentId
    reason: str

    def related(self) -> tuple[str, ...]:
        """Also on the incident's timeline."""
        return (REPORTS_STREAM, f"incident/{self.incident_id}")


@register
class ReportMerged(ReportEvent, frozen=True, kw_only=True, tag="report.merged"):
    """An operator marked a report as a duplicate of another report or of an incident."""

    into_report: str | None = None
    into_incident: IncidentId | None = None
    reason: str

    def related(self) -> tuple[str, ...]:
        """Also on the incident's timeline when merged into one."""
        extra = (f"incident/{self.into_incident}",) if self.into_incident else ()
        return (REPORTS_STREAM, *extra)


@register
class ReportDismissed(ReportEvent, frozen=True, kw_only=True, tag="report.dismissed"):
    """An operator dismissed a report (not actionable, abuse, ...), with the reason."""

    reason: str


@register
class ReportExpired(ReportEvent, frozen=True, kw_only=True, tag="report.expired"):
    """The report's retention ended: its photo was deleted and it left every list and link."""

    retention_days: float
