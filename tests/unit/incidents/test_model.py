"""The incident lifecycle refuses moves a real CAD would not make."""

from __future__ import annotations

import pytest

from vigil.core.errors import TransitionError
from vigil.incidents.model import IncidentStatus as S
from vigil.incidents.model import check_incident_move

LEGAL = {
    (S.PENDING, S.DISPATCHED),
    (S.PENDING, S.CLOSED),
    (S.PENDING, S.CANCELLED),
    (S.DISPATCHED, S.PENDING),
    (S.DISPATCHED, S.ON_SCENE),
    (S.DISPATCHED, S.CLOSED),
    (S.DISPATCHED, S.CANCELLED),
    (S.ON_SCENE, S.DISPATCHED),
    (S.ON_SCENE, S.CLOSED),
    (S.CLOSED, S.PENDING),
    (S.CANCELLED, S.PENDING),
}


@pytest.mark.parametrize("old", list(S))
@pytest.mark.parametrize("new", list(S))
def test_every_move(old: S, new: S) -> None:
    if (old, new) in LEGAL:
        check_incident_move("I", old, new)
    else:
        with pytest.raises(TransitionError) as err:
            check_incident_move("I", old, new)
        assert err.value.field == "status"
        assert f"is {old}" in str(err.value)
