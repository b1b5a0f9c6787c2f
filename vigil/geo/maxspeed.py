"""Parse OpenStreetMap ``maxspeed`` values into km/h.

Handles plain numbers (``50``), units (``30 mph``, ``50 km/h``, ``10 knots``),
implicit country zones (``FI:urban``, ``DE:rural``, ``FR:motorway``,
``RU:living_street``), ``walk`` and ``none``; multi-values (``50;30``) take the
lowest, as a vehicle must obey the stricter one. Values that carry no number
(``signals``, ``variable``) return ``None`` so the caller falls back to the
per-class default.
"""

from __future__ import annotations

import re

MPH_KMH = 1.609344
KNOT_KMH = 1.852
WALK_KMH = 7.0

# Legal limits of implicit zones, per country; "generic" fills any gap.
# Sources: OSM wiki "Default speed limits" and each country's traffic code.
_ZONES: dict[str, dict[str, float]] = {
    "generic": {
        "urban": 50,
        "rural": 90,
        "trunk": 100,
        "motorway": 120,
        "living_street": 20,
        "pedestrian_zone": WALK_KMH,
        "school": 30,
        "zone30": 30,
        "zone20": 20,
        "walk": WALK_KMH,
        "bicycle_road": 30,
    },
    "FI": {"urban": 50, "rural": 80, "motorway": 120, "trunk": 100, "living_street": 20},
    "SE": {"urban": 50, "rural": 70, "motorway": 110},
    "NO": {"urban": 50, "rural": 80, "motorway": 110},
    "DK": {"urban": 50, "rural": 80, "motorway": 130},
    "DE": {"urban": 50, "rural": 100, "motorway": 130, "living_street": WALK_KMH},
    "AT": {"urban": 50, "rural": 100, "motorway": 130, "trunk": 100},
    "CH": {"urban": 50, "rural": 80, "motorway": 120, "trunk": 100},
    "FR": {"urban": 50, "rural": 80, "motorway": 130, "trunk": 110, "zone30": 30},
    "MC": {"urban": 50, "rural": 50, "motorway": 50},
    "IT": {"urban": 50, "rural": 90, "motorway": 130, "trunk": 110},
    "ES": {"urban": 50, "rural": 90, "motorway": 120, "trunk": 100},
    "GB": {"urban": 30 * MPH_KMH, "rural": 60 * MPH_KMH, "motorway": 70 * MPH_KMH},
    "UK": {"urban": 30 * MPH_KMH, "rural": 60 * MPH_KMH, "motorway": 70 * MPH_KMH},
    "NL": {"urban": 50, "rural": 80, "motorway": 100},
    "BE": {"urban": 50, "rural": 70, "motorway": 120},
    "PL": {"urban": 50, "rural": 90, "motorway": 140},
    "RU": {"urban": 60, "rural": 90, "motorway": 110, "living_street": 20},
    "US": {"urban": 25 * MPH_KMH, "rural": 55 * MPH_KMH, "motorway": 65 * MPH_KMH},
}

# Aliases of zone names seen in the wild.
_ZONE_ALIASES = {
    "zone:30": "zone30",
    "zone30": "zone30",
    "zone:20": "zone20",
    "zone20": "zone20",
    "city": "urban",
    "town": "urban",
    "built_up": "urban",
    "nsl_single": "rural",
    "nsl_dual": "trunk",
    "nsl_restricted": "urban",
    "expressway": "trunk",
}

# "none" on a motorway means no limit; cap it at a safe cruising speed.
NO_LIMIT_KMH = 130.0

_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots?)?\s*$", re.IGNORECASE)
_ZONE = re.compile(r"^\s*([A-Za-z]{2})(?:-[A-Za-z0-9]+)?:([A-Za-z_:0-9]+)\s*$")


def _parse_one(value: str) -> float | None:  # noqa: PLR0911 - one return per form
    text = value.strip().lower()
    if not text:
        return None
    if text == "walk":
        return WALK_KMH
    if text == "none":
        return NO_LIMIT_KMH
    match = _NUMBER.match(text)
    if match:
        speed = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "km/h").lower()
        if unit == "mph":
            speed *= MPH_KMH
        elif unit.startswith("knot"):
            speed *= KNOT_KMH
        return speed if speed > 0 else None
    zone = _ZONE.match(value.strip())
    if zone:
        country = zone.group(1).upper()
        name = zone.group(2).lower()
        name = _ZONE_ALIASES.get(name, name)
        table = _ZONES.get(country, {})
        if name in table:
            return table[name]
        return _ZONES["generic"].get(name)
    return None


def parse_maxspeed(value: str | None) -> float | None:
    """Return the speed limit in km/h for an OSM ``maxspeed`` value, or None if unusable."""
    if value is None:
        return None
    speeds = [s for s in (_parse_one(part) for part in value.split(";")) if s is not None]
    return min(speeds) if speeds else None
