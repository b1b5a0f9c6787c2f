"""Rule semantics with an injected clock: windows, sustained-for, correlation, cooldown."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from tests.unit.rules.conftest import T0, Harness, HarnessFactory, call, minutes, obs, ruleset
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId
from vigil.incidents.catalogue import Catalogue
from vigil.ingest.model import DeviceKind, Observation
from vigil.rules.evaluate import PENDING_LIMIT, Evaluator, Firing, _Plan
from vigil.rules.facts import Input
from vigil.rules.rule import RuleSet, cell_key

FLOOD = """
rules:
  - name: flood
    version: 1
    match: {kind: flood_gauge, stream: level}
    condition: value > 3.2
    sustained: 10m
    cooldown: 1h
    actions: [{do: open_incident, type: flood}]
"""


def gauge(value: float, minute: float, device: str = "G-1") -> Observation:
    return obs(DeviceKind.FLOOD_GAUGE, "level", value, T0 + minutes(minute), device=device)


# ------------------------------------------------------------------ sustained


def test_sustained_fires_only_after_the_full_duration(harness: HarnessFactory) -> None:
    h = harness(FLOOD)
    readings = [gauge(3.3, m) for m in range(10)]  # minutes 0..9: 9 min of holding
    assert h.feed(*readings) == []
    fired = h.feed(gauge(3.4, 10))
    assert len(fired) == 1
    f = fired[0]
    assert f.rule.ref == "flood@v1"
    assert f.key == "G-1"
    assert f.since == T0
    assert f.evidence[0] == readings[0].id
    assert f.evidence_total == 11


def test_one_reading_below_resets_sustained(harness: HarnessFactory) -> None:
    h = harness(FLOOD)
    h.feed(*[gauge(3.3, m) for m in range(9)])
    assert h.feed(gauge(3.1, 9)) == []
    assert h.feed(*[gauge(3.3, m) for m in range(10, 20)]) == []
    fired = h.feed(gauge(3.3, 20))
    assert len(fired) == 1
    assert fired[0].since == T0 + minutes(10)


def test_latched_rule_fires_once_per_episode(harness: HarnessFactory) -> None:
    h = harness(FLOOD.replace("cooldown: 1h", "cooldown: 0s"))
    fired = h.feed(*[gauge(3.3, m) for m in range(30)])
    assert len(fired) == 1  # still the same episode at minute 29
    h.feed(gauge(3.0, 30))  # episode ends
    fired = h.feed(*[gauge(3.3, m) for m in range(31, 42)])
    assert len(fired) == 1


def test_keys_are_independent(harness: HarnessFactory) -> None:
    h = harness(FLOOD)
    inputs = []
    for m in range(11):
        inputs.append(gauge(3.3, m, device="G-1"))
        inputs.append(gauge(3.3 if m != 5 else 2.0, m, device="G-2"))
    fired = h.feed(*inputs)
    assert [f.key for f in fired] == ["G-1"]


# ------------------------------------------------------------------ windows

NOISE = """
rules:
  - name: noise
    version: 2
    match: {kind: noise_meter, stream: laeq}
    window: {size: 15m, aggregate: avg, op: ">", threshold: 55, min_count: 3}
    cooldown: 0s
    actions: [{do: open_incident, type: disturbance}]
"""


def noise(value: float, minute: float, device: str = "N-1") -> Observation:
    return obs(DeviceKind.NOISE_METER, "laeq", value, T0 + minutes(minute), device=device)


def test_window_average_needs_min_count_and_threshold(harness: HarnessFactory) -> None:
    h = harness(NOISE)
    assert h.feed(noise(70, 0), noise(70, 1)) == []  # 2 < min_count
    fired = h.feed(noise(40, 2))  # avg 60 over 3 values
    assert len(fired) == 1
    assert fired[0].window_value == 60.0
    assert fired[0].count == 3
    assert len(fired[0].evidence) == 3


def test_window_evicts_by_event_time(harness: HarnessFactory) -> None:
    h = harness(NOISE)
    h.feed(noise(90, 0), noise(50, 1), noise(50, 2))  # avg 63.3: fires
    states = dict(h.evaluator.key_states("noise"))
    # at minute 15 the reading of minute 0 leaves the window (size 15 min, (t-15m, t])
    h.feed(noise(50, 15))
    w = states["N-1"].window
    assert w is not None
    assert len(w) == 3
    assert w.value() == 50.0


def test_window_rule_fires_again_after_dropping_below(harness: HarnessFactory) -> None:
    h = harness(NOISE)
    assert len(h.feed(noise(60, 0), noise(60, 1), noise(60, 2))) == 1
    assert h.feed(noise(60, 3)) == []  # latched
    assert h.feed(noise(10, 4)) == []  # avg 50: episode over
    assert len(h.feed(noise(95, 5))) == 1  # avg 57: new episode


def test_count_window_keyed_by_grid_cell(harness: HarnessFactory) -> None:
    h = harness("""
    rules:
      - name: impulses
        version: 1
        match: {kind: acoustic_detector, stream: impulse}
        key: cell
        cell_m: 250
        window: {size: 5m, aggregate: count, threshold: 3}
        actions: [{do: open_incident, type: shots_fired}]
    """)
    a, b = LatLon(60.1699, 24.9384), LatLon(60.1700, 24.9386)  # same cell, two devices
    far = LatLon(60.1800, 24.9384)  # ~1.1 km north: another cell
    assert cell_key(a.lat, a.lon, 250) == cell_key(b.lat, b.lon, 250)
    assert cell_key(a.lat, a.lon, 250) != cell_key(far.lat, far.lon, 250)

    def imp(minute: float, loc: LatLon, device: str) -> Observation:
        return obs(
            DeviceKind.ACOUSTIC_DETECTOR,
            "impulse",
            115,
            T0 + minutes(minute),
            device=device,
            location=loc,
        )

    fired = h.feed(imp(0, a, "A"), imp(1, far, "C"), imp(1, b, "B"), imp(2, far, "C"))
    assert fired == []
    fired = h.feed(imp(3, a, "A"))
    assert len(fired) == 1
    assert fired[0].key == cell_key(a.lat, a.lon, 250)
    assert fired[0].window_value == 3.0


def test_max_window_with_condition_filter(harness: HarnessFactory) -> None:
    h = harness("""
    rules:
      - name: peaks
        version: 1
        match: {kind: noise_meter, stream: lamax}
        condition: attrs["class"] == "traffic"
        window: {size: 1m, aggregate: max, op: ">=", threshold: 100}
        actions: [{do: open_incident, type: disturbance}]
    """)

    def peak(v: float, sec: float, cls: str) -> Observation:
        return obs(DeviceKind.NOISE_METER, "lamax", v, T0 + minutes(sec / 60), attrs={"class": cls})

    assert h.feed(peak(120, 0, "music")) == []  # filtered out
    assert h.feed(peak(90, 10, "traffic")) == []
    fired = h.feed(peak(101, 20, "traffic"))
    assert [f.window_value for f in fired] == [101.0]


# ------------------------------------------------------------------ correlation

SHOTS = """
rules:
  - name: shots
    version: 3
    match: {kind: acoustic_detector, stream: impulse}
    condition: value >= 110.0
    key: cell
    correlate:
      - match: {event: call.received}
        within_m: 300
        within: 2m
        at_least: 2
    cooldown: 10m
    actions: [{do: open_incident, type: shots_fired, priority: 1}]
"""
NEAR = LatLon(60.1710, 24.9384)  # ~120 m north of HERE
FAR = LatLon(60.1760, 24.9384)  # ~680 m north


def impulse(value: float, at: datetime) -> Observation:
    return obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", value, at, device="AC-1")


def test_impulse_then_two_calls_fires_on_the_second_call(harness: HarnessFactory) -> None:
    h = harness(SHOTS)
    shot = impulse(118, T0)
    c1, c2 = call(T0 + minutes(0.5), NEAR), call(T0 + minutes(1.5), NEAR)
    assert h.feed(shot, c1) == []
    fired = h.feed(c2)
    assert len(fired) == 1
    f = fired[0]
    assert f.trigger is shot
    assert f.correlated == (c1.id, c2.id)
    assert f.evidence == (shot.id, c1.id, c2.id)


def test_calls_then_impulse_fires_on_the_impulse(harness: HarnessFactory) -> None:
    h = harness(SHOTS)
    assert h.feed(call(T0, NEAR), call(T0 + minutes(0.2), NEAR)) == []
    fired = h.feed(impulse(112, T0 + minutes(1.9)))
    assert len(fired) == 1


def test_calls_too_far_or_too_late_or_too_few_do_not_fire(harness: HarnessFactory) -> None:
    h = harness(SHOTS)
    assert h.feed(impulse(118, T0), call(T0, FAR), call(T0, FAR)) == []
    h = harness(SHOTS)
    late = T0 + minutes(2.1)
    assert h.feed(impulse(118, T0), call(T0, NEAR), call(late, NEAR)) == []
    h = harness(SHOTS)
    assert h.feed(impulse(118, T0), call(T0, NEAR)) == []
    h = harness(SHOTS)
    # a quiet impulse never becomes a trigger, however many calls
    assert h.feed(impulse(100, T0), *(call(T0, NEAR) for _ in range(5))) == []
    h = harness(SHOTS)
    assert h.feed(impulse(118, T0), call(T0, None), call(T0, None)) == []


def test_waiting_triggers_expire_and_are_bounded(harness: HarnessFactory) -> None:
    h = harness(SHOTS)
    h.feed(impulse(118, T0))
    # a call 5 min later moves the watermark on: the impulse no longer waits
    h.feed(call(T0 + minutes(5), NEAR))
    assert len(h.evaluator.states["shots"].waiting) == 0
    assert h.feed(call(T0 + minutes(5.1), NEAR)) == []
    assert PENDING_LIMIT >= 1000


# ------------------------------------------------------------------ cooldown

SMOKE = """
rules:
  - name: smoke
    version: 1
    match: {kind: smoke_panel, stream: alarm}
    condition: value >= 1.0
    cooldown: 15m
    actions: [{do: open_incident, type: alarm_fire}]
"""


def alarm(at: datetime, device: str = "SP-1") -> Observation:
    return obs(DeviceKind.SMOKE_PANEL, "alarm", 1.0, at, device=device)


def test_cooldown_uses_the_clock_and_counts_suppressed(harness: HarnessFactory) -> None:
    h = harness(SMOKE)
    assert len(h.feed(alarm(T0))) == 1
    h.clock.advance(60)
    assert h.feed(alarm(T0 + minutes(1)), alarm(T0 + minutes(2))) == []
    assert h.evaluator.states["smoke"].stats.suppressed == 2
    # event time alone does not end a cooldown: it is about when Vigil acted
    assert h.feed(alarm(T0 + minutes(60))) == []
    h.clock.advance(15 * 60)
    fired = h.feed(alarm(T0 + minutes(61)))
    assert len(fired) == 1
    assert fired[0].suppressed == 3
    # other keys are not held back
    assert len(h.feed(alarm(T0 + minutes(61), device="SP-2"))) == 1


def test_active_incident_of_the_key_is_passed_for_deduplication(harness: HarnessFactory) -> None:
    h = harness(SMOKE.replace("cooldown: 15m", "cooldown: 1m"))
    first = h.feed(alarm(T0))
    assert first[0].incident_id is None
    h.evaluator.opened("smoke", "SP-1", IncidentId("INC-1"))
    h.active.add("INC-1")
    h.clock.advance(120)
    again = h.feed(alarm(T0 + minutes(2)))
    assert again[0].incident_id == "INC-1"  # attach evidence, do not open another
    h.active.discard("INC-1")  # closed
    h.clock.advance(120)
    third = h.feed(alarm(T0 + minutes(4)))
    assert third[0].incident_id is None


# ------------------------------------------------------------------ scope, hours, errors


def test_zone_scope_by_polygon_or_device_zone(harness: HarnessFactory) -> None:
    h = harness("""
    zones:
      square:
        polygon: [[60.1705, 24.9500], [60.1705, 24.9535], [60.1685, 24.9535], [60.1685, 24.9500]]
    rules:
      - name: crowd
        version: 1
        match: {kind: crowd_counter, stream: density}
        condition: value > 4
        scope: {zone: square}
        key: zone
        actions: [{do: open_incident, type: public_order, location: zone}]
    """)
    inside = LatLon(60.1695, 24.9520)
    outside = LatLon(60.1695, 24.9600)

    def density(loc: LatLon, zone: str | None = None) -> Observation:
        return obs(DeviceKind.CROWD_COUNTER, "density", 5.0, T0, location=loc, zone=zone)

    assert h.feed(density(outside)) == []
    assert h.evaluator.states["crowd"].stats.matched == 0
    fired = h.feed(density(inside))
    assert [f.key for f in fired] == ["square"]
    h2 = harness("""
    zones:
      square:
        polygon: [[60.1705, 24.9500], [60.1705, 24.9535], [60.1685, 24.9535]]
    rules:
      - name: crowd
        version: 1
        match: {kind: crowd_counter, stream: density}
        scope: {zone: square}
        actions: [{do: open_incident, type: public_order}]
    """)
    assert len(h2.feed(density(outside, zone="square"))) == 1


def test_hours_use_the_files_time_zone(harness: HarnessFactory) -> None:
    h = harness("""
    timezone: Europe/Helsinki
    rules:
      - name: night
        version: 1
        match: {kind: noise_meter, stream: laeq}
        condition: value > 55
        hours: "22:00-07:00"
        cooldown: 0s
        actions: [{do: open_incident, type: disturbance}]
    """)
    # June: Helsinki is UTC+3, so 22:00 local is 19:00 UTC
    before = datetime(2026, 6, 1, 18, 59, tzinfo=UTC)
    start = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    morning = datetime(2026, 6, 2, 3, 59, tzinfo=UTC)  # 06:59 local
    end = datetime(2026, 6, 2, 4, 0, tzinfo=UTC)  # 07:00 local
    results = [
        bool(h.feed(obs(DeviceKind.NOISE_METER, "laeq", 60, t)))
        for t in (before, start, morning, end)
    ]
    assert results == [False, True, True, False]
    # in January Helsinki is two hours ahead of UTC, so 20:00 UTC is 22:00 local
    assert h.feed(obs(DeviceKind.NOISE_METER, "laeq", 60, datetime(2026, 1, 5, 20, 0, tzinfo=UTC)))


def test_condition_errors_are_counted_not_raised(harness: HarnessFactory) -> None:
    h = harness("""
    rules:
      - name: cls
        version: 1
        match: {kind: acoustic_detector, stream: impulse}
        condition: attrs["class"] == "gunshot"
        actions: [{do: open_incident, type: shots_fired}]
    """)
    assert h.feed(obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", 120, T0)) == []
    stats = h.evaluator.states["cls"].stats
    assert stats.condition_errors == 1
    assert stats.last_error is not None and "class" in stats.last_error
    fired = h.feed(
        obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", 120, T0, attrs={"class": "gunshot"})
    )
    assert len(fired) == 1


def test_other_streams_are_not_evaluated(harness: HarnessFactory) -> None:
    h = harness(FLOOD)
    h.feed(obs(DeviceKind.NOISE_METER, "laeq", 99, T0))
    assert h.evaluator.states["flood"].stats.matched == 0


def test_sweep_keeps_keys_under_cooldown_or_with_an_incident(harness: HarnessFactory) -> None:
    h = harness(SMOKE)
    h.feed(alarm(T0, "SP-1"), alarm(T0, "SP-2"))
    h.evaluator.opened("smoke", "SP-2", IncidentId("INC-2"))
    h.active.add("INC-2")
    h.feed(alarm(T0 + minutes(24 * 60), "SP-3"))  # watermark +1 day
    assert h.evaluator.sweep() == 0  # SP-1 and SP-2 still in cooldown (clock has not moved)
    h.clock.advance(3600)
    assert h.evaluator.sweep() == 1  # SP-1 goes; SP-2 has an active incident
    assert {k for k, _ in h.evaluator.key_states("smoke")} == {"SP-2", "SP-3"}


# ------------------------------------------- fast paths: shared windows, skipped rules

_MIXED_RULES = {
    "quiet": "condition: value > 72",
    "quiet_and": "condition: value >= 68 && attrs['class'] != 'test'",
    "steady": "condition: value > 62\n    sustained: 2m",
    "avg_a": "window: {size: 5m, aggregate: avg, op: '>', threshold: 61, min_count: 2}",
    "avg_b": "window: {size: 5m, aggregate: avg, op: '>=', threshold: 64}",
    "max_cell": "key: cell\n    window: {size: 5m, aggregate: max, op: '>', threshold: 75}",
    "max_cell_2": "key: cell\n    window: {size: 5m, aggregate: max, op: '>=', threshold: 70}",
    "filtered": (
        "condition: value > 50 && value < 80\n"
        "    window: {size: 5m, aggregate: count, op: '>=', threshold: 4}"
    ),
}


def _rule_text(name: str, body: str, version: int = 1) -> str:
    return (
        f"  - name: {name}\n    version: {version}\n"
        "    match: {kind: noise_meter, stream: laeq}\n"
        f"    {body}\n    cooldown: 1m\n"
        "    actions: [{do: open_incident, type: disturbance}]\n"
    )


def _firing_view(f: Firing) -> tuple[object, ...]:
    return (
        f.key,
        f.trigger.id,
        f.evidence,
        f.evidence_total,
        f.window_value,
        f.count,
        f.since,
        f.suppressed,
    )


class _Reference(Evaluator):
    """Every matching rule through the general path, one by one (no skipping, no sharing)."""

    def _primaries(self, plan: _Plan, x: Input, t: float, out: list[Firing]) -> None:
        for st in plan.ordered:
            self._primary(st, x, t, out)


def _reference(rules: RuleSet) -> Harness:
    h = Harness(rules)
    h.evaluator = _Reference(rules, now=h.clock.now, is_active=h.active.__contains__)
    return h


def test_rules_together_behave_as_each_rule_alone(catalogue: Catalogue) -> None:
    """Shared windows, skipped threshold rules and batching change no rule's outcome."""

    def text(bumped: bool, names: list[str]) -> str:
        return "rules:\n" + "".join(
            _rule_text(
                n,
                _MIXED_RULES[n].replace("64", "63") if bumped and n == "avg_b" else b,
                2 if bumped and n == "avg_b" else 1,
            )
            for n, b in ((n, _MIXED_RULES[n]) for n in names)
        )

    names = list(_MIXED_RULES)
    together = Harness(ruleset(text(False, names), catalogue))
    alone = {n: _reference(ruleset(text(False, [n]), catalogue)) for n in names}
    rng = random.Random(11)
    minute = 0.0
    level = {"N-1": 60.0, "N-2": 66.0, "N-3": 72.0}
    got: dict[str, list[tuple[object, ...]]] = {n: [] for n in names}
    want: dict[str, list[tuple[object, ...]]] = {n: [] for n in names}
    for step in range(60):
        batch = []
        for _ in range(40):
            minute += rng.choice((0.2, 0.5, 1.0, -2.0, 0.0))
            if rng.random() < 0.01:
                minute += 120  # a long gap: keys go idle and are swept
            device = rng.choice(("N-1", "N-2", "N-3"))
            location = LatLon(60.17 + 0.01 * int(device[-1]), 24.94)
            attrs: dict[str, str | float | bool] = {"class": rng.choice(("test", "ok", "ok"))}
            level[device] = min(85.0, max(50.0, level[device] + rng.uniform(-3, 3)))
            value = level[device] if rng.random() < 0.9 else rng.uniform(50, 60)
            batch.append(
                obs(
                    DeviceKind.NOISE_METER,
                    "laeq",
                    value,
                    T0 + minutes(minute),
                    device=device,
                    location=location,
                    attrs=attrs,
                )
            )
        out: list[Firing] = []
        together.evaluator.observe_many(batch, out)
        for f in out:
            got[f.rule.name].append(_firing_view(f))
        for n, h in alone.items():
            want[n].extend(_firing_view(f) for f in h.feed(*batch))
        for h in (together, *alone.values()):
            h.clock.advance(30)
            if step % 7 == 6:
                h.evaluator.sweep()
        if step == 30:  # a new version of one window rule: fresh windows for it only
            together.evaluator.replace(ruleset(text(True, names), catalogue))
            alone["avg_b"].evaluator.replace(ruleset(text(True, ["avg_b"]), catalogue))
    assert all(len(v) >= 3 for v in want.values()), want  # the stream makes every rule fire
    for n in names:
        assert got[n] == want[n], n
        a, b = together.evaluator.states[n], alone[n].evaluator.states[n]
        assert a.stats == b.stats, n
        assert a.watermark == b.watermark, n
        keys_a = {
            k: (s.since, s.latched, s.evidence_total, s.window.value() if s.window else None)
            for k, s in a.keys.items()
        }
        keys_b = {
            k: (s.since, s.latched, s.evidence_total, s.window.value() if s.window else None)
            for k, s in b.keys.items()
        }
        assert keys_a == keys_b, n


def test_window_rules_of_one_stream_share_their_windows(harness: HarnessFactory) -> None:
    h = harness(
        "rules:\n"
        + _rule_text("avg_a", _MIXED_RULES["avg_a"])
        + _rule_text("avg_b", _MIXED_RULES["avg_b"])
    )
    h.feed(noise(60, 0), noise(70, 1))
    ((_, ka),) = h.evaluator.key_states("avg_a")
    ((_, kb),) = h.evaluator.key_states("avg_b")
    assert ka.window is kb.window
    assert ka.window is not None and len(ka.window) == 2  # each reading added once
