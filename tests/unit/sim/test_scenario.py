"""Scenario files: the built-in one is valid; malformed ones fail with field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import ConfigError
from vigil.incidents.catalogue import load_catalogue
from vigil.sim.scenario import check_scenario, load_scenario, parse_duration, parse_scenario

MINIMAL = """\
name: tiny
fleet:
  - {type: engine, count: 1, prefix: E, based_at: [fire_station]}
demand:
  calls_per_hour: 5
  hour_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
  mix:
    medical:
      weight: 1
      on_scene: {median: 10m, p90: 20m}
      natures: [collapsed]
"""


def test_default_scenario_is_valid_against_the_catalogue() -> None:
    scenario = load_scenario()
    check_scenario(scenario, load_catalogue())
    assert scenario.start.utcoffset() is not None
    assert {s.kind.value for s in scenario.situations} >= {
        "river_rise",
        "concert",
        "noise_cluster",
        "gunshot",
    }


def test_minimal_scenario_gets_defaults() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.duration == 86_400
    assert scenario.units.turnout["ems"].median == 60
    assert scenario.units.turnout["fire"].median == 80


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("90", "90"),
        ("45s", "45"),
        ("15m", "900"),
        ("1h30m", "5400"),
        ("21:30", "77400"),
        ("2h 5s", "7205"),
    ],
)
def test_durations(text: str, expected: str) -> None:
    value: object = int(text) if text.isdigit() else text
    assert parse_duration(value) == float(expected)


@pytest.mark.parametrize("bad", ["soon", "", "-5", "1x", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(int(bad) if isinstance(bad, str) and bad.lstrip("-").isdigit() else bad)


@pytest.mark.parametrize(
    ("edit", "line", "field", "words"),
    [
        (("count: 1,", "count: 0,"), 3, "fleet[0].count", "greater than or equal to 1"),
        (("weight: 1", "weight: -2"), 9, "demand.mix.medical.weight", "greater than 0"),
        (("p90: 20m", "p90: 5m"), 10, "demand.mix.medical.on_scene", "median <= p90"),
        (("[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ", "["), 6, "demand.hour_profile", "24"),
        (("calls_per_hour: 5", "calls_per_hour: lots"), 5, "demand.calls_per_hour", "number"),
        (("name: tiny", "name: tiny\ncolour: red"), 2, "colour", "Extra inputs"),
        (("based_at: [fire_station]", "based_at: [castle]"), 3, "fleet[0].based_at[0]", "Input"),
        (("10m, p90", "ten minutes, p90"), 10, "demand.mix.medical.on_scene.median", "duration"),
    ],
)
def test_malformed_files_name_field_and_line(
    tmp_path: Path, edit: tuple[str, str], line: int, field: str, words: str
) -> None:
    old, new = edit
    assert old in MINIMAL
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL.replace(old, new, 1), "utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert f"{path}:{line} {field}:" in message
    assert words in message


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(path)
    path.write_text("- just\n- a list\n", "utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_scenario(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_cross_field_problems() -> None:
    dupes = MINIMAL.replace(
        "  - {type: engine, count: 1, prefix: E, based_at: [fire_station]}\n",
        "  - {type: engine, count: 1, prefix: E, based_at: [fire_station]}\n"
        "  - {type: ladder, count: 1, prefix: E, based_at: [fire_station]}\n",
    )
    with pytest.raises(ConfigError, match="duplicate fleet prefix: E"):
        parse_scenario(dupes)
    unknown_group = MINIMAL + (
        "situations:\n"
        "  - {name: flood, kind: river_rise, at: 1h, location: {lat: 60.1, lon: 24.9},"
        " devices: gauges}\n"
    )
    with pytest.raises(ConfigError, match="unknown device group 'gauges'"):
        parse_scenario(unknown_group)
    no_spots = MINIMAL.replace("  mix:\n", "  spatial: {hotspot_share: 0.5}\n  mix:\n")
    with pytest.raises(ConfigError, match="needs at least one hot spot"):
        parse_scenario(no_spots)


def test_catalogue_check_names_unknown_types() -> None:
    scenario = parse_scenario(
        MINIMAL.replace("type: engine", "type: hovercraft").replace("medical:", "alien_landing:")
    )
    with pytest.raises(ConfigError) as info:
        check_scenario(scenario, load_catalogue())
    message = str(info.value)
    assert "fleet[0].type: unknown unit type 'hovercraft'" in message
    assert "demand.mix.alien_landing: unknown incident type" in message


def test_relative_osm_file_is_relative_to_the_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL + "city: {osm_file: maps/city.osm.pbf}\n", "utf-8")
    assert load_scenario(path).city.osm_file == (tmp_path / "maps" / "city.osm.pbf").resolve()
