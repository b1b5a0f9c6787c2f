"""Simulated devices: placement, daily cycles, situations bending readings."""

from __future__ import annotations

import random

from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.demand import LocationPool
from vigil.sim.devices import DeviceModel, envelope, place_devices
from vigil.sim.scenario import parse_scenario

GRID = [LatLon(60.16 + i * 0.0005, 24.93 + j * 0.0005) for i in range(40) for j in range(40)]

SCENARIO = """\
name: devices test
start: "2026-06-05T22:00:00+03:00"
duration: 6h
fleet: [{type: engine, count: 1, prefix: E, based_at: [fire_station]}]
demand:
  calls_per_hour: 0
  hour_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
  mix: {medical: {weight: 1, on_scene: {median: 1m, p90: 2m}, natures: [a]}}
devices:
  - {name: gauge, kind: flood_gauge, count: 2, baseline: 1.0, noise: 0,
     placement: {near: {lat: 60.165, lon: 24.94}, radius_m: 100}}
  - {name: mic, kind: acoustic_detector, count: 5, noise: 0,
     placement: {near: {lat: 60.17, lon: 24.94}, radius_m: 300}}
  - {name: smoke, kind: smoke_panel, count: 1, placement: {near: {lat: 60.17, lon: 24.94}, radius_m: 50}}
  - {name: crowd, kind: crowd_counter, count: 1, noise: 0}
situations:
  - {name: river, kind: river_rise, at: 1h, location: {lat: 60.165, lon: 24.94}, devices: gauge,
     rise: 1h, hold: 30m, fall: 1h, peak: 3.0}
  - {name: shot, kind: gunshot, at: 2h, location: {lat: 60.17, lon: 24.94}, radius_m: 400, peak: 130}
  - {name: alarm, kind: fire_alarm, at: 3h, location: {lat: 60.17, lon: 24.94}, radius_m: 100,
     hold: 10m}
"""


def _model(seed: int = 1) -> DeviceModel:
    scenario = parse_scenario(SCENARIO)
    rng = random.Random(seed)
    return DeviceModel(
        scenario, place_devices(scenario.devices, LocationPool(GRID), rng=rng), rng=rng
    )


def test_placement_is_seeded_and_near_the_asked_place() -> None:
    a, b = _model(3).devices, _model(3).devices
    assert a == b
    gauges = [d for d in a if d.group == "gauge"]
    assert [d.id for d in gauges] == ["gauge-0001", "gauge-0002"]
    assert all(haversine_m(d.location, LatLon(60.165, 24.94)) <= 100 for d in gauges)
    assert all(30 <= d.interval_s <= 60 and 0 <= d.first_s <= d.interval_s for d in a)


def test_envelope_rises_holds_and_falls() -> None:
    river = parse_scenario(SCENARIO).situations[0]
    assert envelope(river, 0) == 0
    assert envelope(river, 3600 + 1800) == 0.5
    assert envelope(river, 2 * 3600 + 600) == 1
    assert envelope(river, 2.5 * 3600 + 1800) == 0.5
    assert envelope(river, 5 * 3600) == 0


def test_river_gauge_follows_the_situation() -> None:
    model = _model()
    gauge = next(d for d in model.devices if d.group == "gauge")
    levels = [model.periodic(gauge, t)[0].value for t in (0, 5400, 7800, 13_000)]
    assert levels == [1.0, 2.0, 3.0, 1.0]


def test_gunshot_reaches_the_microphones_louder_when_closer() -> None:
    model = _model()
    impulses = [r for r in model.scripted() if r.stream == "impulse"]
    assert impulses
    assert all(r.attrs["class"] == "impulse" for r in impulses)
    shot = LatLon(60.17, 24.94)
    by_device = {r.device_id: r for r in impulses}
    ranked = sorted(
        by_device.values(),
        key=lambda r: haversine_m(
            next(d for d in model.devices if d.id == r.device_id).location, shot
        ),
    )
    assert ranked[0].at_s <= ranked[-1].at_s  # sound takes time to travel
    again = model.scripted()
    assert [r.at_s for r in again] == sorted(r.at_s for r in again)


def test_smoke_panel_alarms_during_the_alarm_only() -> None:
    model = _model()
    panel = next(d for d in model.devices if d.kind.value == "smoke_panel")
    assert model.periodic(panel, 3 * 3600 - 60)[0].value is False
    assert model.periodic(panel, 3 * 3600 + 60)[0].value is True
    assert model.periodic(panel, 3 * 3600 + 900)[0].value is False
    assert any(r.stream == "alarm" and r.value is True for r in model.scripted())


def test_crowd_counter_reports_density_and_count_quieter_at_night() -> None:
    model = _model()
    crowd = next(d for d in model.devices if d.kind.value == "crowd_counter")
    evening = model.periodic(crowd, 0)  # 22:00 local
    night = model.periodic(crowd, 4 * 3600)  # 02:00 local
    assert [r.stream for r in evening] == ["density", "count"]
    assert night[0].value < evening[0].value
