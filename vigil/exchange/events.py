"""Events of incident exchange: an EIDO handed out, an EIDO taken in."""

from __future__ import annotations

from datetime import datetime

from vigil.core.events import Event, register
from vigil.core.ids import IncidentId, UnitId

EXCHANGE_STREAM = "exchange/eido"


@register
class EidoExported(Event, frozen=True, kw_only=True, tag="eido.exported"):
    """An incident was written out as an EIDO (with caller identity only for a stated purpose)."""

    incident_id: IncidentId
    eido_id: str
    with_caller: bool
    purpose: str = ""

    def stream(self) -> str:
        """Return the incident's stream."""
        return f"incident/{self.incident_id}"

    def related(self) -> tuple[str, ...]:
        """List it among exchanges."""
        return (EXCHANGE_STREAM,)


@register
class EidoImported(Event, frozen=True, kw_only=True, tag="eido.imported"):
    """An EIDO from another CAD/PSAP opened or updated an incident; its own times kept here."""

    incident_id: IncidentId
    eido_id: str
    agency: str
    element: str
    created: bool
    source_updated_at: datetime
    source_opened_at: datetime
    call_times: tuple[datetime, ...] = ()
    note_keys: tuple[str, ...] = ()  # notes taken in (time|author|digest), so repeats are skipped
    units_there: tuple[str, ...] = ()  # "id status" of the units the other agency listed
    assigned: tuple[UnitId, ...] = ()  # local units assigned because the EIDO named them
    has_caller: bool = False
    warnings: tuple[str, ...] = ()

    def stream(self) -> str:
        """Return the incident's stream."""
        return f"incident/{self.incident_id}"

    def related(self) -> tuple[str, ...]:
        """List it among exchanges."""
        return (EXCHANGE_STREAM,)
