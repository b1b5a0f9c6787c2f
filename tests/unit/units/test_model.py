"""The unit status machine refuses jumps a real unit could not make."""

from __future__ import annotations

import pytest

from vigil.core.errors import TransitionError
from vigil.units.model import UnitStatus as U
from vigil.units.model import check_unit_move

LEGAL = {
    (U.AVAILABLE, U.DISPATCHED),
    (U.AVAILABLE, U.OUT_OF_SERVICE),
    (U.DISPATCHED, U.EN_ROUTE),
    (U.DISPATCHED, U.ON_SCENE),
    (U.DISPATCHED, U.AVAILABLE),
    (U.EN_ROUTE, U.ON_SCENE),
    (U.EN_ROUTE, U.AVAILABLE),
    (U.ON_SCENE, U.TRANSPORTING),
    (U.ON_SCENE, U.AVAILABLE),
    (U.TRANSPORTING, U.AT_HOSPITAL),
    (U.TRANSPORTING, U.AVAILABLE),
    (U.AT_HOSPITAL, U.AVAILABLE),
    (U.OUT_OF_SERVICE, U.AVAILABLE),
}


@pytest.mark.parametrize("old", list(U))
@pytest.mark.parametrize("new", list(U))
def test_every_move(old: U, new: U) -> None:
    if (old, new) in LEGAL:
        check_unit_move("E1", old, new)
    else:
        with pytest.raises(TransitionError, match=f"unit E1 is {old}"):
            check_unit_move("E1", old, new)
