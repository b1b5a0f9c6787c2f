"""What rules may match: device kinds with their streams, and CAD event types.

Streams are device ingest's conventions (``vigil.ingest.streams``), plus the
``alert`` stream every kind may carry. A rule naming a stream not listed is
refused when checked, so a typo ("levle") cannot leave a rule that never fires.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.ingest.model import DeviceKind
from vigil.ingest.streams import COMMON
from vigil.ingest.streams import STREAMS as INGEST_STREAMS

STREAMS: Mapping[DeviceKind, frozenset[str]] = {
    kind: frozenset(INGEST_STREAMS.get(kind, {})) | frozenset(COMMON) for kind in DeviceKind
}

# CAD events a rule may match or correlate with: their event time and what
# ``value`` and ``attrs`` hold for them (see ``vigil.rules.facts``).
EVENT_TYPES: Mapping[str, str] = {
    "call.received": "an emergency call; value 1, attrs.nature, attrs.incident_id",
    "incident.opened": "an incident opened; value = priority, attrs.type, attrs.incident_id",
    "forecast.issued": (
        "a demand forecast; value = expected calls over attrs.horizon_h hours, attrs.high = "
        "its prediction interval's upper end, attrs.call_type, attrs.area"
    ),
}
