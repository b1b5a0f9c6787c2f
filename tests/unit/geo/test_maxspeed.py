from __future__ import annotations

import pytest

from vigil.geo.maxspeed import MPH_KMH, NO_LIMIT_KMH, WALK_KMH, parse_maxspeed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("30 mph", 30 * MPH_KMH),
        ("30mph", 30 * MPH_KMH),
        ("50 km/h", 50.0),
        ("10 knots", 18.52),
        ("FI:urban", 50.0),
        ("FI:rural", 80.0),
        ("DE:motorway", 130.0),
        ("FR:zone30", 30.0),
        ("XX:urban", 50.0),
        ("RU:living_street", 20.0),
        ("walk", WALK_KMH),
        ("none", NO_LIMIT_KMH),
        ("50;30", 30.0),
        ("7,5", 7.5),
    ],
)
def test_parses_known_forms(value: str, expected: float) -> None:
    assert parse_maxspeed(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [None, "", "signals", "variable", "FI:nonsense", "0", "fast"])
def test_unusable_values_give_none(value: str | None) -> None:
    assert parse_maxspeed(value) is None
