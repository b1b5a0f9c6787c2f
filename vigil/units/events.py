"""Events of units: registration, assignment, status and position."""

from __future__ import annotations

from datetime import datetime

from vigil.core.events import Event, register
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.model import Agency
from vigil.units.model import UnitStatus


class UnitEvent(Event, frozen=True, kw_only=True):
    """An event on one unit's stream."""

    unit_id: UnitId

    def stream(self) -> str:
        """Return ``unit/<id>``."""
        return f"unit/{self.unit_id}"


@register
class UnitRegistered(UnitEvent, frozen=True, kw_only=True, tag="unit.registered"):
    """A unit joined the fleet."""

    callsign: str
    agency: Agency
    type: str
    capabilities: tuple[str, ...]
    station: str | None
    location: LatLon | None


@register
class UnitAssigned(UnitEvent, frozen=True, kw_only=True, tag="unit.assigned"):
    """A dispatcher (or the recommender, accepted) sent a unit to an incident."""

    incident_id: IncidentId
    eta_s: float | None = None
    recommended: bool = False

    def related(self) -> tuple[str, ...]:
        """Show on the incident's timeline."""
        return (f"incident/{self.incident_id}",)


@register
class UnitReleased(UnitEvent, frozen=True, kw_only=True, tag="unit.released"):
    """A unit left an incident (cleared, cancelled, or incident closed)."""

    incident_id: IncidentId
    reason: str

    def related(self) -> tuple[str, ...]:
        """Show on the incident's timeline."""
        return (f"incident/{self.incident_id}",)


@register
class UnitStatusChanged(UnitEvent, frozen=True, kw_only=True, tag="unit.status_changed"):
    """A unit's status moved."""

    old: UnitStatus
    new: UnitStatus
    incident_id: IncidentId | None

    def related(self) -> tuple[str, ...]:
        """Show on the incident's timeline when on one."""
        return (f"incident/{self.incident_id}",) if self.incident_id else ()


@register
class UnitPositionReported(UnitEvent, frozen=True, kw_only=True, tag="unit.position"):
    """An AVL fix."""

    location: LatLon
    fix_at: datetime
    heading_deg: float | None = None
    speed_mps: float | None = None
