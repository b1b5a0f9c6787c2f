"""Turn one CSV record into one unit response, or a precise reason it is bad (pure)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from vigil.history.localtime import parse_naive, to_utc
from vigil.history.mapping import TEXT_COLUMNS, TIMESTAMP_COLUMNS, Column, ColumnMapping

_WKT_POINT = re.compile(r"^\s*POINT\s*\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.IGNORECASE)
_PAIR = re.compile(r"^\s*\(?\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)?\s*$")


class BadRowError(ValueError):
    """A record that cannot become a unit response; the message names the column.

    ``kind`` is the reason without the value (e.g. ``"Entry DtTm (entry_at) invalid"``),
    for counting reasons across a file.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRow:
    """One unit response, typed; timestamps in UTC."""

    text: dict[Column, str | None]
    unit_sequence: int | None
    lat: float | None
    lon: float | None
    times: dict[Column, datetime | None]


@dataclass(frozen=True, slots=True)
class RowParser:
    """Parses records of one file: its mapping, header positions and time zone."""

    mapping: ColumnMapping
    index: dict[Column, int]
    header: list[str]
    tz: ZoneInfo

    def _cell(self, record: list[str], col: Column) -> str | None:
        i = self.index.get(col)
        if i is None:
            return None
        value = record[i].strip()
        return value or None

    def _name(self, col: Column) -> str:
        return self.header[self.index[col]]

    def parse(self, record: list[str]) -> ParsedRow:
        """Return the typed response; raise BadRowError naming the column and the value."""
        if len(record) != len(self.header):
            raise BadRowError(
                f"{len(record)} fields where the header has {len(self.header)}",
                kind="wrong number of fields",
            )
        text = {c: self._cell(record, c) for c in TEXT_COLUMNS}
        for col in (Column.CALL_ID, Column.UNIT_ID):
            if text[col] is None:
                raise BadRowError(
                    f"{self._name(col)} ({col.value}) is empty", kind=f"{col.value} empty"
                )
        if text[Column.RESPONSE_ID] is None:
            text[Column.RESPONSE_ID] = f"{text[Column.CALL_ID]}-{text[Column.UNIT_ID]}"
        if text[Column.ORIGIN_STATION] is None and self.mapping.origin_station_from_unit:
            m = re.match(self.mapping.origin_station_from_unit, text[Column.UNIT_ID] or "")
            text[Column.ORIGIN_STATION] = m.group(1) if m else None
        seq = self._cell(record, Column.UNIT_SEQUENCE)
        try:
            sequence = int(seq) if seq is not None else None
        except ValueError as err:
            name = self._name(Column.UNIT_SEQUENCE)
            raise BadRowError(
                f"{name} (unit_sequence) {seq!r} is not an integer", kind="unit_sequence invalid"
            ) from err
        lat, lon = self._location(record)
        return ParsedRow(
            text=text, unit_sequence=sequence, lat=lat, lon=lon, times=self._times(record)
        )

    def _location(self, record: list[str]) -> tuple[float | None, float | None]:
        if Column.LOCATION in self.index:
            raw = self._cell(record, Column.LOCATION)
            if raw is None:
                return None, None
            name = self._name(Column.LOCATION)
            wkt = _WKT_POINT.match(raw)
            pair = _PAIR.match(raw)
            if wkt is not None:
                lon_s, lat_s = wkt.groups()  # WKT is (x y) = (lon lat)
            elif pair is not None:
                lat_s, lon_s = pair.groups()
            else:
                raise BadRowError(
                    f"{name} (location) {raw!r} is not '(lat, lon)' or 'POINT (lon lat)'",
                    kind="location invalid",
                )
        else:
            lat_raw, lon_raw = self._cell(record, Column.LAT), self._cell(record, Column.LON)
            if lat_raw is None and lon_raw is None:
                return None, None
            if lat_raw is None or lon_raw is None:
                raise BadRowError(
                    "lat and lon must both be given or both be empty", kind="location invalid"
                )
            name = f"{self._name(Column.LAT)}/{self._name(Column.LON)}"
            lat_s, lon_s = lat_raw, lon_raw
        try:
            lat, lon = float(lat_s), float(lon_s)
        except ValueError as err:
            raise BadRowError(
                f"{name} (location) {lat_s!r}, {lon_s!r} are not numbers", kind="location invalid"
            ) from err
        if not (
            math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180
        ):
            raise BadRowError(
                f"{name} (location) {lat}, {lon} is outside the WGS84 range",
                kind="location invalid",
            )
        if lat == 0 and lon == 0:
            raise BadRowError(
                f"{name} (location) is 0, 0: a placeholder, not a place", kind="location invalid"
            )
        return lat, lon

    def _times(self, record: list[str]) -> dict[Column, datetime | None]:
        out: dict[Column, datetime | None] = {}
        previous: datetime | None = None
        for col in TIMESTAMP_COLUMNS:
            raw = self._cell(record, col)
            if raw is None:
                if col is Column.RECEIVED_AT:
                    raise BadRowError(
                        f"{self._name(col)} (received_at) is empty", kind="received_at empty"
                    )
                out[col] = None
                continue
            try:
                local = parse_naive(raw, self.mapping.timestamp_formats)
                at = to_utc(local, self.tz, not_before=previous)
            except ValueError as err:
                raise BadRowError(
                    f"{self._name(col)} ({col.value}): {err}", kind=f"{col.value} invalid"
                ) from err
            out[col] = at
            previous = at if previous is None or at > previous else previous
        return out
