"""CAD events seen by rules, in the same shape as an Observation.

Rules read every input through the same attributes (``id``, ``kind``,
``stream``, ``value``, ``unit``, ``device_id``, ``zone``, ``location``,
``attrs``), so a CEL condition and a correlation work alike on a flood gauge
reading and on an emergency call. Only the event time differs by source:
``observed_at`` for observations, ``received_at`` for calls, the log time for
other events (see ``event_time``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from vigil.analytics.events import ForecastIssued
from vigil.core.events import Recorded
from vigil.core.geometry import LatLon
from vigil.incidents.events import CallReceived, IncidentOpened
from vigil.ingest.model import Observation


class Fact(msgspec.Struct, frozen=True, kw_only=True):
    """A CAD event as rules see it."""

    id: str
    kind: str  # the event type, e.g. "call.received"
    stream: str = ""
    value: float
    unit: str = ""
    device_id: str = ""
    zone: str | None = None
    location: LatLon | None
    observed_at: datetime  # event time: when it happened (a call: when it was received)
    attrs: dict[str, str | float | bool] = {}


def fact_of(rec: Recorded) -> Fact | None:
    """Return the Fact for a recorded CAD event rules can use, or None."""
    ev = rec.event
    if isinstance(ev, CallReceived):
        return Fact(
            id=rec.id,
            kind=ev.type_name(),
            value=1.0,
            location=ev.location,
            observed_at=ev.received_at,
            attrs={"nature": ev.nature, "incident_id": ev.incident_id},
        )
    if isinstance(ev, IncidentOpened):
        attrs: dict[str, str | float | bool] = {"type": ev.type, "incident_id": ev.incident_id}
        if ev.rule:
            attrs["rule"] = ev.rule
        return Fact(
            id=rec.id,
            kind=ev.type_name(),
            value=float(ev.priority),
            location=ev.location,
            observed_at=rec.at,
            attrs=attrs,
        )
    if isinstance(ev, ForecastIssued):
        # value = expected calls over the horizon; attrs.high = the interval's upper end.
        return Fact(
            id=rec.id,
            kind=ev.type_name(),
            value=ev.expected,
            zone=ev.area or None,
            location=None,
            observed_at=rec.at,
            attrs={
                "call_type": ev.call_type,
                "area": ev.area,
                "horizon_h": float(ev.horizon_h),
                "low": ev.low,
                "high": ev.high,
            },
        )
    return None


Input = Observation | Fact
