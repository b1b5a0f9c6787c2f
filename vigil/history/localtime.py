"""City-local timestamps to UTC, DST-correct.

CAD exports write wall-clock times in the city's zone with no offset. Two hours
a year need care:

- the autumn hour that happens twice (01:00-02:00 in the US) is *ambiguous*:
  within one response the timestamps are in order (received, entry, dispatch,
  ...), so an ambiguous time is read as its first occurrence unless that would
  put it before the previous timestamp of the same response, in which case the
  second occurrence is meant;
- the spring hour that never happens (02:00-03:00) is *nonexistent*: no clock
  showed it, so the value is an error and the row is reported, not guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigil.core.errors import ValidationError

# "12/31/2016 11:57:56 PM" (DataSF CSV export), parsed by hand: strptime costs
# about ten times more and a city export has millions of timestamps.
_US = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)? ?([AaPp][Mm])?$"
)


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone of that name, or a ValidationError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValidationError(f"unknown time zone {name!r}", field="tz") from err


def parse_naive(text: str, formats: tuple[str, ...]) -> datetime:
    """Parse a wall-clock timestamp with the first format that fits; ValueError if none.

    ``"us"`` is the DataSF "MM/DD/YYYY hh:mm:ss AM" form, ``"iso"`` is ISO 8601
    (a trailing offset or Z is honoured), anything else is a strptime format.
    """
    for fmt in formats:
        if fmt == "us":
            m = _US.match(text)
            if m is None:
                continue
            mo, d, y, h, mi, s, frac, ampm = m.groups()
            hour = int(h)
            if ampm is not None:
                if not 1 <= hour <= 12:
                    raise ValueError(f"hour {hour} with {ampm}")
                hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
            micro = int((frac or "0").ljust(6, "0"))
            return datetime(int(y), int(mo), int(d), hour, int(mi), int(s or 0), micro)  # noqa: DTZ001 - wall clock, zone applied by to_utc
        if fmt == "iso":
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - wall clock, zone applied by to_utc
        except ValueError:
            continue
    raise ValueError(f"{text!r} matches none of the formats {', '.join(formats)}")


def to_utc(local: datetime, tz: ZoneInfo, *, not_before: datetime | None = None) -> datetime:
    """Return the UTC instant of a wall-clock time in ``tz``.

    A value that already carries an offset is converted as is. ``not_before`` (UTC)
    resolves the ambiguous autumn hour; a nonexistent spring time raises ValueError.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    first_utc = first.astimezone(UTC)
    # A wall time in the spring gap does not survive the round trip.
    if first_utc.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError(f"{local:%Y-%m-%d %H:%M:%S} does not exist in {tz.key} (DST gap)")
    second_utc = second.astimezone(UTC)
    if first_utc == second_utc or not_before is None or first_utc >= not_before:
        return first_utc
    # Ambiguous: the first occurrence would run backwards, so the second is meant.
    return second_utc


def is_ambiguous(local: datetime, tz: ZoneInfo) -> bool:
    """Return whether a wall-clock time happens twice in ``tz`` (the autumn hour)."""
    a = local.replace(tzinfo=tz, fold=0).utcoffset() or timedelta(0)
    b = local.replace(tzinfo=tz, fold=1).utcoffset() or timedelta(0)
    return (
        a != b
        and local.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        == local
    )
