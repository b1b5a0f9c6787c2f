"""The engine: reload without restart, failure isolation, CAD events from the bus."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.unit.rules.conftest import HERE, T0, minutes, obs
from vigil.core.clock import ManualClock
from vigil.core.events import Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, EventId, IncidentId
from vigil.incidents.catalogue import Catalogue
from vigil.incidents.events import CallReceived
from vigil.ingest.model import DeviceKind, Observation
from vigil.rules.actions import Result
from vigil.rules.engine import RulesEngine
from vigil.rules.evaluate import Firing
from vigil.rules.load import RuleFileError

RULES = """\
rules:
  - name: smoke
    version: 1
    match: {kind: smoke_panel, stream: alarm}
    condition: value >= 1.0
    cooldown: 0s
    actions: [{do: open_incident, type: alarm_fire}]
"""


class Recorder:
    """An execute() that records firings and can be told to fail."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []
        self.fail_rules: set[str] = set()

    def __call__(self, f: Firing) -> Result:
        self.firings.append(f)
        if f.rule.name in self.fail_rules:
            raise RuntimeError("boom")
        return Result(
            incident_id=IncidentId(f"INC-{len(self.firings)}"), opened=True, outcomes=(), failures=0
        )


def write(path: Path, text: str) -> None:
    """Write a file and make sure its mtime differs from the previous version's."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(textwrap.dedent(text), "utf-8")
    st = path.stat()
    if st.st_mtime_ns <= before:
        os.utime(path, ns=(st.st_atime_ns, before + 1_000_000))


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    write(path, RULES)
    return path


def engine(path: Path, catalogue: Catalogue, recorder: Recorder) -> RulesEngine:
    return RulesEngine(
        paths=[path],
        catalogue=catalogue,
        clock=ManualClock(T0),
        execute=recorder,
        is_active=lambda _i: False,
    )


def alarm(minute: float = 0, device: str = "SP-1") -> Observation:
    return obs(DeviceKind.SMOKE_PANEL, "alarm", 1.0, T0 + minutes(minute), device=device)


def test_reload_swaps_in_a_new_version_without_restart(
    rules_file: Path, catalogue: Catalogue
) -> None:
    rec = Recorder()
    eng = engine(rules_file, catalogue, rec)
    eng.on_observations([alarm()])
    assert [f.rule.ref for f in rec.firings] == ["smoke@v1"]
    assert eng.reload_if_changed() is False  # nothing changed
    write(rules_file, RULES.replace("version: 1", "version: 2").replace(">= 1.0", ">= 2.0"))
    eng.tick()
    assert [r.ref for r in eng.rules.rules] == ["smoke@v2"]
    eng.on_observations([alarm(1)])  # 1.0 no longer matches
    assert len(rec.firings) == 1
    assert eng.status().reloads == 1
    assert eng.status().last_error is None


def test_idle_state_is_swept_at_most_once_a_minute(rules_file: Path, catalogue: Catalogue) -> None:
    eng = engine(rules_file, catalogue, Recorder())
    eng.tick()
    eng.tick()  # the ticker runs every 2 s; the sweep waits for SWEEP_EVERY_S
    assert eng.sweeps == 1


def test_invalid_file_keeps_old_rules_and_reports(rules_file: Path, catalogue: Catalogue) -> None:
    rec = Recorder()
    eng = engine(rules_file, catalogue, rec)
    write(rules_file, RULES.replace("version: 1", "version: 2").replace("alarm_fire", "nonsense"))
    assert eng.reload_if_changed() is False
    status = eng.status()
    assert status.failed_reloads == 1
    assert status.last_error is not None
    assert "rules.yaml:7: rule 'smoke': field 'actions[0].type'" in status.last_error
    assert status.problems[0].line == 7
    eng.on_observations([alarm()])
    assert [f.rule.ref for f in rec.firings] == ["smoke@v1"]  # the old rule still runs
    # fixing the file clears the error
    write(rules_file, RULES.replace("version: 1", "version: 2"))
    assert eng.reload_if_changed() is True
    assert eng.status().last_error is None


def test_changed_rule_without_new_version_is_refused(
    rules_file: Path, catalogue: Catalogue
) -> None:
    eng = engine(rules_file, catalogue, Recorder())
    write(rules_file, RULES.replace(">= 1.0", ">= 0.5"))
    assert eng.reload_if_changed() is False
    assert "bump the version" in (eng.status().last_error or "")
    assert eng.rules.rules[0].condition is not None
    assert eng.rules.rules[0].condition.source == "value >= 1.0"


def test_touching_a_file_is_not_a_reload(rules_file: Path, catalogue: Catalogue) -> None:
    eng = engine(rules_file, catalogue, Recorder())
    write(rules_file, RULES)
    assert eng.reload_if_changed() is False
    assert eng.status().reloads == 0


def test_unchanged_rules_keep_their_state_across_reload(
    rules_file: Path, catalogue: Catalogue
) -> None:
    two = RULES + (
        "  - name: gauge\n"
        "    version: 1\n"
        "    match: {kind: flood_gauge, stream: level}\n"
        "    condition: value > 3\n"
        "    sustained: 5m\n"
        "    actions: [{do: open_incident, type: flood}]\n"
    )
    write(rules_file, two)
    rec = Recorder()
    eng = engine(rules_file, catalogue, rec)
    level = [obs(DeviceKind.FLOOD_GAUGE, "level", 3.5, T0 + minutes(m)) for m in range(3)]
    eng.on_observations(level)
    write(
        rules_file,
        two.replace(
            "version: 1\n    match: {kind: smoke", "version: 7\n    match: {kind: smoke", 1
        ).replace(">= 1.0", ">= 2.0"),
    )
    assert eng.reload_if_changed() is True
    assert {r.ref for r in eng.rules.rules} == {"smoke@v7", "gauge@v1"}
    more = [obs(DeviceKind.FLOOD_GAUGE, "level", 3.5, T0 + minutes(m)) for m in range(3, 6)]
    eng.on_observations(more)
    assert [f.rule.ref for f in rec.firings] == ["gauge@v1"]  # sustained since minute 0


def test_missing_file_on_reload_is_reported(rules_file: Path, catalogue: Catalogue) -> None:
    eng = engine(rules_file, catalogue, Recorder())
    rules_file.unlink()
    assert eng.reload_if_changed() is False
    assert "cannot read" in (eng.status().last_error or "")
    assert [r.ref for r in eng.rules.rules] == ["smoke@v1"]


def test_invalid_file_at_start_is_fatal(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "bad.yaml"
    write(path, "rules: [{name: x}]\n")
    with pytest.raises(RuleFileError):
        engine(path, catalogue, Recorder())


def test_a_failing_firing_is_counted_and_the_engine_goes_on(
    rules_file: Path, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    rec.fail_rules.add("smoke")
    eng = engine(rules_file, catalogue, rec)
    eng.on_observations([alarm(0, "SP-1"), alarm(0, "SP-2")])
    assert len(rec.firings) == 2  # the second firing still ran
    assert eng.firing_errors == 2
    info = {i.name: i for i in eng.info()}
    assert info["smoke"].stats.action_errors == 2
    assert "boom" in (info["smoke"].stats.last_error or "")
    assert "smoke@v1" in caplog.text


def test_calls_from_the_bus_are_correlated(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "shots.yaml"
    write(
        path,
        """\
    rules:
      - name: shots
        version: 1
        match: {kind: acoustic_detector, stream: impulse}
        correlate:
          - {match: {event: call.received}, within_m: 300, within: 2m, at_least: 2}
        actions: [{do: open_incident, type: shots_fired}]
    """,
    )
    rec = Recorder()
    eng = engine(path, catalogue, rec)
    eng.on_observations([obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", 120, T0)])

    def recorded(i: int) -> Recorded:
        ev = CallReceived(
            incident_id=IncidentId("INC-9"),
            call_id=CallId(f"CALL-{i}"),
            received_at=T0 + minutes(i / 2),
            location=LatLon(HERE.lat + 0.001, HERE.lon),
            accuracy_m=10,
            address=None,
            nature="bang",
            notes="",
            has_personal_data=False,
        )
        return Recorded(
            seq=i,
            id=EventId(f"CMD-{i}/0"),
            at=T0,
            actor="ct",
            cause=None,
            event=ev,
            prev_hash="",
            hash="",
        )

    eng.on_record(recorded(1))
    assert rec.firings == []
    eng.on_record(recorded(2))
    assert len(rec.firings) == 1
    assert rec.firings[0].correlated == ("CMD-1/0", "CMD-2/0")
    assert eng.input_count == 3
