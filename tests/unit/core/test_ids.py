"""Ids of one kind are not ids of another: mypy --strict (the gate) refuses a swap.

`_swapped` is never run; the gate type-checks it. Each marked line must stay a
type error: mypy's strict `warn_unused_ignores` fails the gate the day the
types let an incident id through where a unit id is expected (or any other swap).
"""

from __future__ import annotations

from vigil.cad.service import Cad
from vigil.core.ids import CallId, DeviceId, IncidentId, UnitId
from vigil.dispatch.service import Dispatcher
from vigil.ingest.registry import DeviceRegistry


def _swapped(cad: Cad, dispatch: Dispatcher, devices: DeviceRegistry) -> None:
    incident, unit = IncidentId("INC-1"), UnitId("E1")
    cad.release(unit, incident, actor="t", reason="swapped")  # type: ignore[arg-type]
    cad.unit(incident)  # type: ignore[arg-type]
    cad.incident(unit)  # type: ignore[arg-type]
    cad.call(incident)  # type: ignore[arg-type]
    cad.assign(incident, [incident], actor="t")  # type: ignore[list-item]
    dispatch.route(incident, UnitId(incident))  # the explicit constructor is the way across
    dispatch.recommend("INC-1")  # type: ignore[arg-type]
    devices.get(CallId("C-1"))  # type: ignore[arg-type]
    devices.get(DeviceId("NM-1"))


def test_ids_are_their_text_at_run_time() -> None:
    # NewTypes cost nothing: the id is the same str, so JSON, SQL and logs are unchanged.
    assert IncidentId("INC-1") == "INC-1" and type(UnitId("E1")) is str
    assert callable(_swapped)
