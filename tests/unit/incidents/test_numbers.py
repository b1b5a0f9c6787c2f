"""Incident numbers: display form, parsing, and assignment at commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vigil.core.events import Event
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId
from vigil.incidents.events import IncidentOpened, IncidentStatusChanged
from vigil.incidents.model import Agency, IncidentStatus
from vigil.incidents.numbers import assign_numbers, format_number, note_number, parse_number


def opened(number: str | None = None) -> IncidentOpened:
    return IncidentOpened(
        incident_id=IncidentId("INC-x"),
        type="medical",
        priority=2,
        agency=Agency.EMS,
        location=LatLon(60.17, 24.94),
        address=None,
        description="",
        number=number,
    )


def numbers(events: list[Event]) -> list[str | None]:
    return [e.number for e in events if isinstance(e, IncidentOpened)]


def test_format_and_parse_round_trip() -> None:
    assert format_number(2026, 123) == "26-000123"
    assert format_number(2031, 1_234_567) == "31-1234567"  # a busy year just grows
    assert parse_number("26-000123") == (2026, 123)
    assert parse_number(" 31-1234567 ") == (2031, 1_234_567)
    for bad in ("26-123", "2026-000123", "INC-01ABC", "", "26_000123"):
        assert parse_number(bad) is None
    with pytest.raises(ValueError, match="start at 1"):
        format_number(2026, 0)


def test_assign_continues_the_year_and_leaves_other_events_alone() -> None:
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    status = IncidentStatusChanged(
        incident_id=IncidentId("INC-x"),
        old=IncidentStatus.PENDING,
        new=IncidentStatus.DISPATCHED,
        reason="",
    )
    out = assign_numbers([opened(), status, opened()], {2026: 41, 2025: 900}, at)
    assert [getattr(e, "number", None) for e in out] == ["26-000042", None, "26-000043"]
    assert out[1] is status
    # An event that already carries its number (a replayed one) keeps it.
    assert numbers(assign_numbers([opened("26-000007")], {2026: 41}, at)) == ["26-000007"]


def test_the_sequence_restarts_with_the_utc_year() -> None:
    # 23:30 on 31 December in Helsinki is still 2026 in UTC... and 1 January is 2027.
    helsinki = timezone(timedelta(hours=2))
    late = datetime(2027, 1, 1, 1, 30, tzinfo=helsinki)  # 2026-12-31 23:30 UTC
    assert numbers(assign_numbers([opened()], {2026: 5}, late)) == ["26-000006"]
    new_year = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert numbers(assign_numbers([opened()], {2026: 5}, new_year)) == ["27-000001"]


def test_note_number_keeps_the_high_water_mark() -> None:
    last: dict[int, int] = {}
    for n in ("26-000003", "26-000001", None, "not a number", "27-000002"):
        note_number(last, n)
    assert last == {2026: 3, 2027: 2}
