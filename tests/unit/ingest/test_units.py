"""Unit conversion into each stream's SI unit."""

from __future__ import annotations

import pytest

from vigil.ingest.units import UnitMismatch, convert, is_canonical


@pytest.mark.parametrize(
    ("value", "unit", "to", "expected"),
    [
        (321.0, "cm", "m", 3.21),
        (1500.0, "mm", "m", 1.5),
        (10.0, "ft", "m", 3.048),
        (61.5, "dBA", "dB(A)", 61.5),
        (212.0, "F", "C", 100.0),
        (32.0, "°F", "C", 0.0),
        (273.15, "K", "C", 0.0),
        (36.0, "km/h", "m/s", 10.0),
        (0.05, "mg/m3", "µg/m³", 50.0),
        (12.0, "ug/m3", "µg/m³", 12.0),
        (2.0, "MTR", "m", 2.0),
        (2.0, "in/h", "mm/h", 50.8),
    ],
)
def test_converts_to_si(value: float, unit: str, to: str, expected: float) -> None:
    assert convert(value, unit, to) == pytest.approx(expected)


def test_refuses_other_dimension_and_unknown_units() -> None:
    with pytest.raises(UnitMismatch, match="measures length"):
        convert(1.0, "cm", "dB(A)")
    with pytest.raises(UnitMismatch, match="unknown unit"):
        convert(1.0, "furlong", "m")


def test_canonical_units() -> None:
    assert is_canonical("m")
    assert is_canonical("dB(A)")
    assert not is_canonical("cm")
