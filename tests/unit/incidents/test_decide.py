"""Call intake and incident lifecycle as pure decisions: no store, no clock, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec
import pytest

from tests.conftest import T0
from vigil.core.errors import NotFoundError, TransitionError, ValidationError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId
from vigil.incidents.catalogue import Catalogue, load_catalogue
from vigil.incidents.decide import (
    AddNote,
    CancelIncident,
    CloseIncident,
    OpenIncident,
    ReopenIncident,
    TakeCall,
    UpdateIncident,
    decide,
)
from vigil.incidents.events import (
    CallReceived,
    IncidentCancelled,
    IncidentClosed,
    IncidentNoteAdded,
    IncidentOpened,
    IncidentReopened,
    IncidentUpdated,
)
from vigil.incidents.model import Agency, Incident, IncidentStatus

CATALOGUE = load_catalogue()
HERE = LatLon(60.17, 24.94)


@dataclass(frozen=True)
class State:
    incidents: Mapping[IncidentId, Incident] = field(default_factory=dict)
    catalogue: Catalogue = CATALOGUE


def _incident(status: IncidentStatus = IncidentStatus.PENDING, **kw: object) -> Incident:
    fields: dict[str, object] = {
        "id": "INC-1",
        "type": "medical",
        "priority": 2,
        "status": status,
        "agency": Agency.EMS,
        "location": HERE,
        "address": None,
        "description": "",
        "opened_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Incident(**fields)  # type: ignore[arg-type] # test data


def _call(**kw: object) -> TakeCall:
    fields: dict[str, object] = {
        "call_id": "CALL-1",
        "new_incident_id": "INC-9",
        "received_at": T0,
        "location": HERE,
        "nature": "fell down stairs",
        "incident_type": "medical",
    }
    fields.update(kw)
    return TakeCall(**fields)  # type: ignore[arg-type] # test data


def test_a_call_without_an_incident_opens_one_of_its_type() -> None:
    opened, received = decide(State(), _call(located_note=" (matched)"), T0)
    assert isinstance(opened, IncidentOpened) and isinstance(received, CallReceived)
    assert opened.incident_id == received.incident_id == "INC-9"
    itype = CATALOGUE.incident_type("medical")
    assert (opened.priority, opened.agency) == (itype.priority, itype.agency)
    assert opened.description == "fell down stairs (matched)"
    again = decide(State(), _call(priority=1, located_note=" (matched)"), T0)[0]
    assert again == msgspec.structs.replace(opened, priority=1)


def test_a_call_attaches_to_an_active_incident_and_not_to_a_closed_one() -> None:
    state = State({IncidentId("INC-1"): _incident()})
    (received,) = decide(state, _call(incident_id="INC-1", incident_type=None), T0)
    assert isinstance(received, CallReceived) and received.incident_id == "INC-1"
    closed = State({IncidentId("INC-1"): _incident(IncidentStatus.CLOSED)})
    with pytest.raises(TransitionError, match="reopen it"):
        decide(closed, _call(incident_id="INC-1"), T0)
    with pytest.raises(NotFoundError):
        decide(state, _call(incident_id="INC-2"), T0)


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"incident_type": None}, "incident_type"),
        ({"incident_type": "no-such-type"}, "incident_type"),
        ({"received_at": T0 + timedelta(minutes=6)}, "received_at"),
        ({"accuracy_m": -1.0}, "accuracy_m"),
    ],
)
def test_a_bad_call_is_refused_naming_the_field(change: dict[str, object], field_name: str) -> None:
    with pytest.raises(ValidationError) as err:
        decide(State(), _call(**change), T0)
    assert err.value.field == field_name or (
        field_name == "incident_type" and "no-such-type" in str(err.value)
    )


def test_a_call_a_few_minutes_ahead_of_the_clock_is_accepted() -> None:
    assert len(decide(State(), _call(received_at=T0 + timedelta(minutes=4)), T0)) == 2


def test_an_incident_needs_a_location_or_an_address() -> None:
    cmd = OpenIncident(incident_id=IncidentId("INC-2"), type="flood", location=None, rule="r@v1")
    with pytest.raises(ValidationError) as err:
        decide(State(), cmd, T0)
    assert err.value.field == "location"
    (opened,) = decide(
        State(),
        OpenIncident(
            incident_id=IncidentId("INC-2"), type="flood", location=None, address="Kauppatori"
        ),
        T0,
    )
    assert isinstance(opened, IncidentOpened) and opened.address == "Kauppatori"


def test_update_changes_only_what_is_given_and_refuses_nothing_or_inactive() -> None:
    state = State({IncidentId("INC-1"): _incident()})
    (upd,) = decide(
        state, UpdateIncident(incident_id=IncidentId("INC-1"), priority=1, reason="r"), T0
    )
    assert isinstance(upd, IncidentUpdated)
    assert (upd.priority, upd.type, upd.agency) == (1, None, None)
    (retyped,) = decide(
        state, UpdateIncident(incident_id=IncidentId("INC-1"), type="structure_fire"), T0
    )
    assert isinstance(retyped, IncidentUpdated) and retyped.agency is Agency.FIRE
    with pytest.raises(ValidationError, match="nothing to change"):
        decide(state, UpdateIncident(incident_id=IncidentId("INC-1"), reason="just because"), T0)
    with pytest.raises(ValidationError, match="priority"):
        decide(state, UpdateIncident(incident_id=IncidentId("INC-1"), priority=9), T0)
    closed = State({IncidentId("INC-1"): _incident(IncidentStatus.CLOSED)})
    with pytest.raises(TransitionError):
        decide(closed, UpdateIncident(incident_id=IncidentId("INC-1"), priority=1), T0)


def test_notes_need_text() -> None:
    state = State({IncidentId("INC-1"): _incident()})
    (note,) = decide(
        state, AddNote(incident_id=IncidentId("INC-1"), text="smoke seen", evidence=("EV-1",)), T0
    )
    assert isinstance(note, IncidentNoteAdded) and note.evidence == ("EV-1",)
    with pytest.raises(ValidationError):
        decide(state, AddNote(incident_id=IncidentId("INC-1"), text="  "), T0)


@pytest.mark.parametrize(
    ("status", "command", "event"),
    [
        (
            IncidentStatus.ON_SCENE,
            CloseIncident(incident_id=IncidentId("INC-1"), disposition="resolved"),
            IncidentClosed,
        ),
        (
            IncidentStatus.PENDING,
            CancelIncident(incident_id=IncidentId("INC-1"), reason="duplicate"),
            IncidentCancelled,
        ),
        (
            IncidentStatus.CLOSED,
            ReopenIncident(incident_id=IncidentId("INC-1"), reason="called back"),
            IncidentReopened,
        ),
    ],
)
def test_lifecycle_moves_a_real_cad_allows(
    status: IncidentStatus, command: CloseIncident | CancelIncident | ReopenIncident, event: type
) -> None:
    (ev,) = decide(State({IncidentId("INC-1"): _incident(status)}), command, T0)
    assert isinstance(ev, event)


@pytest.mark.parametrize(
    ("status", "command"),
    [
        (
            IncidentStatus.ON_SCENE,
            CancelIncident(incident_id=IncidentId("INC-1"), reason="x"),
        ),  # someone arrived
        (IncidentStatus.PENDING, ReopenIncident(incident_id=IncidentId("INC-1"), reason="x")),
        (
            IncidentStatus.CLOSED,
            CloseIncident(incident_id=IncidentId("INC-1"), disposition="again"),
        ),
    ],
)
def test_lifecycle_moves_a_real_cad_refuses(
    status: IncidentStatus, command: CloseIncident | CancelIncident | ReopenIncident
) -> None:
    with pytest.raises(TransitionError):
        decide(State({IncidentId("INC-1"): _incident(status)}), command, T0)


def test_closing_needs_a_disposition_and_reasons_are_required() -> None:
    state = State({IncidentId("INC-1"): _incident()})
    with pytest.raises(ValidationError, match="disposition"):
        decide(state, CloseIncident(incident_id=IncidentId("INC-1"), disposition=" "), T0)
    with pytest.raises(ValidationError, match="reason"):
        decide(state, CancelIncident(incident_id=IncidentId("INC-1"), reason=""), T0)


def test_decisions_never_change_the_state() -> None:
    incidents = {IncidentId("INC-1"): _incident()}
    before = dict(incidents)
    decide(State(incidents), _call(incident_id="INC-1"), T0)
    decide(State(incidents), CloseIncident(incident_id=IncidentId("INC-1"), disposition="done"), T0)
    assert incidents == before
