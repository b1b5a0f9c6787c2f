"""The incident-type catalogue loads, and bad catalogues are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import ConfigError, ValidationError
from vigil.incidents.catalogue import load_catalogue


def test_builtin_catalogue_has_sensible_defaults() -> None:
    c = load_catalogue()
    fire = c.incident_type("structure_fire")
    assert fire.priority == 1
    assert [(n.capability, n.count) for n in fire.run_card] == [
        ("engine", 2),
        ("ladder", 1),
        ("chief", 1),
    ]
    assert {
        "medical",
        "traffic_collision",
        "crime_in_progress",
        "hazmat",
        "flood",
        "public_order",
    } <= set(c.incident_types)
    assert "als" in c.unit_type("medic_als").capabilities
    with pytest.raises(ValidationError, match="unknown incident type"):
        c.incident_type("alien_landing")


def test_run_card_needing_a_capability_nobody_has(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "unit_types: {engine: {agency: fire, capabilities: [engine]}}\n"
        "incident_types:\n  x: {label: X, agency: fire, priority: 1, run_card: [{capability: boat, count: 1}]}\n"
    )
    with pytest.raises(ConfigError, match="boat"):
        load_catalogue(f)


@pytest.mark.parametrize(
    "text",
    [
        "unit_types: [",
        "unit_types: {}\nincident_types: {x: {label: X, agency: navy, priority: 1, run_card: []}}",
        "- 1",
    ],
)
def test_malformed_catalogues(tmp_path: Path, text: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError):
        load_catalogue(f)
