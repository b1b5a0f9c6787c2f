"""Units of measure: every reading is converted to its stream's SI unit on the way in.

A conversion is found by spelling: devices write "cm", "dBA", "°F", "ug/m3";
each spelling names a canonical unit and a linear map (factor, offset) into it.
Only conversions within one dimension exist: "cm" to "dB(A)" is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UnitDef:
    """A unit spelling: its dimension, its canonical SI unit and how to get there."""

    dimension: str
    canonical: str
    factor: float = 1.0
    offset: float = 0.0  # canonical = value * factor + offset


def _aliases(
    dimension: str, canonical: str, factor: float, offset: float, *names: str
) -> dict[str, UnitDef]:
    d = UnitDef(dimension, canonical, factor, offset)
    return dict.fromkeys(names, d)


# The canonical unit of each dimension is the one stored; "C" for temperature
# because operators and ordinances speak Celsius (stream `temp_c`).
UNITS: dict[str, UnitDef] = {
    **_aliases("sound", "dB(A)", 1.0, 0.0, "dB(A)", "dBA", "dBa", "dB A", "dB", "2N"),
    **_aliases("length", "m", 1.0, 0.0, "m", "MTR", "metre", "meter", "meters", "metres"),
    **_aliases("length", "m", 0.01, 0.0, "cm", "CMT"),
    **_aliases("length", "m", 0.001, 0.0, "mm", "MMT"),
    **_aliases("length", "m", 1000.0, 0.0, "km", "KMT"),
    **_aliases("length", "m", 0.3048, 0.0, "ft", "FOT"),
    **_aliases("length", "m", 0.0254, 0.0, "in", "INH"),
    **_aliases(
        "mass_concentration", "µg/m³", 1.0, 0.0, "µg/m³", "μg/m³", "µg/m3", "μg/m3", "ug/m3", "GQ"
    ),
    **_aliases("mass_concentration", "µg/m³", 1000.0, 0.0, "mg/m³", "mg/m3", "GP"),
    **_aliases("people", "people", 1.0, 0.0, "people", "persons", "person", "IE", "count"),
    **_aliases("density", "people/m²", 1.0, 0.0, "people/m²", "people/m2", "persons/m2", "p/m2"),
    **_aliases("temperature", "C", 1.0, 0.0, "C", "°C", "degC", "CEL", "celsius"),
    **_aliases("temperature", "C", 5.0 / 9.0, -32.0 * 5.0 / 9.0, "F", "°F", "degF", "FAH"),
    **_aliases("temperature", "C", 1.0, -273.15, "K", "KEL", "kelvin"),
    **_aliases("speed", "m/s", 1.0, 0.0, "m/s", "MTS", "m s-1"),
    **_aliases("speed", "m/s", 1.0 / 3.6, 0.0, "km/h", "KMH", "kph"),
    **_aliases("speed", "m/s", 0.514444, 0.0, "kn", "KNT", "knot", "knots"),
    **_aliases("speed", "m/s", 0.44704, 0.0, "mph", "HM"),
    **_aliases("rain_rate", "mm/h", 1.0, 0.0, "mm/h", "mm/hr"),
    **_aliases("rain_rate", "mm/h", 25.4, 0.0, "in/h", "in/hr"),
    **_aliases("flag", "", 1.0, 0.0, "", "bool", "boolean"),
    **_aliases("level", "level", 1.0, 0.0, "level"),
    # Worker health (camera and acoustic workers): lag, analysed frame rate, dropped frames.
    **_aliases("time", "s", 1.0, 0.0, "s", "sec", "seconds"),
    **_aliases("time", "s", 0.001, 0.0, "ms"),
    **_aliases("frequency", "Hz", 1.0, 0.0, "Hz", "fps", "1/s"),
    **_aliases("frames", "frames", 1.0, 0.0, "frames"),
}

CANONICAL: frozenset[str] = frozenset(u.canonical for u in UNITS.values())


class UnitMismatch(ValueError):  # noqa: N818 - reads as a noun at the raise site
    """The unit is unknown, or measures another dimension than the stream's."""


def is_canonical(unit: str) -> bool:
    """Return whether `unit` is a canonical (stored) unit."""
    return unit in CANONICAL


def convert(value: float, unit: str, to: str) -> float:
    """Return `value` given in `unit` expressed in the canonical unit `to`."""
    if unit == to:
        return value
    d = UNITS.get(unit)
    if d is None:
        d = UNITS.get(unit.strip())
    if d is None:
        raise UnitMismatch(f"unknown unit {unit!r} (expected {to!r} or a convertible unit)")
    if d.canonical != to:
        raise UnitMismatch(f"unit {unit!r} measures {d.dimension}, the stream is in {to!r}")
    if d.factor == 1.0 and d.offset == 0.0:
        return value
    return value * d.factor + d.offset
