"""Short incident numbers: per-year, sequential, gap-free (``26-000123``).

Dispatchers speak numbers, not 26-character ids. The number is part of the
``incident.opened`` event, assigned when that event is committed (under the
writer's lock, from the state the commit extends), so it is written in the same
transaction as the incident: a failed commit uses no number, a restart continues
from the numbers the log holds, and a rebuild from the log reproduces them.

The year is the UTC year of the commit; the sequence restarts at 1 each year.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import UTC, datetime

import msgspec

from vigil.core.events import Event
from vigil.incidents.events import IncidentOpened

_NUMBER = re.compile(r"(\d{2})-(\d{6,})")


def format_number(year: int, seq: int) -> str:
    """Return the display form of the `seq`-th incident of `year` (e.g. ``26-000123``)."""
    if seq < 1:
        raise ValueError("incident sequence numbers start at 1")
    return f"{year % 100:02d}-{seq:06d}"


def parse_number(text: str, *, century: int = 2000) -> tuple[int, int] | None:
    """Return (year, sequence) of a number like ``26-000123``, or None if it is not one."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None:
        return None
    return century + int(m.group(1)), int(m.group(2))


def note_number(last: MutableMapping[int, int], number: str | None) -> None:
    """Record a used number in the per-year high-water marks."""
    parsed = parse_number(number) if number else None
    if parsed is not None:
        year, seq = parsed
        if seq > last.get(year, 0):
            last[year] = seq


def assign_numbers(events: Sequence[Event], last: Mapping[int, int], at: datetime) -> list[Event]:
    """Return the events with the next numbers given to incidents opened without one."""
    year = at.astimezone(UTC).year
    seq = last.get(year, 0)
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, IncidentOpened) and ev.number is None:
            seq += 1
            out.append(msgspec.structs.replace(ev, number=format_number(year, seq)))
        else:
            out.append(ev)
    return out
