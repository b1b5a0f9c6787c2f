"""A compressed simulated evening on the Helsinki graph, through the real inputs.

Calls go through the HTTP API, readings through the real Mosquitto, units are
dispatched by the recommender and report status and AVL; rules open incidents
from the readings. The summary must match what the store holds, and one seed
must give one summary.
"""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pytest

from vigil.cad.service import rebuild_state
from vigil.incidents.model import IncidentStatus
from vigil.ingest.service import OBSERVATIONS_FILE
from vigil.ingest.store import ObservationStore
from vigil.sim.runner import RunOptions, RunResult, SimRun
from vigil.sim.scenario import load_scenario
from vigil.store.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = Path(__file__).with_name("sim_two_hours.yaml")
SIM_S = 90 * 60.0  # 90 simulated minutes: every scripted situation has fired by then


def _broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


def _run(data_dir: Path, seed: int) -> RunResult:
    scenario = load_scenario(SCENARIO)
    return SimRun(scenario, RunOptions(seed=seed, until_s=SIM_S, data_dir=data_dir)).run()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunResult, Path]:
    if not _broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    first_dir = tmp_path_factory.mktemp("sim-a")
    first = _run(first_dir, seed=42)
    second = _run(tmp_path_factory.mktemp("sim-b"), seed=42)
    return first, second, first_dir


def test_the_evening_happened_through_the_platform(
    runs: tuple[RunResult, RunResult, Path],
) -> None:
    result, _, _ = runs
    s = result.summary
    assert s.calls >= 15
    assert s.incidents_by_rule, "rules opened no incident"
    # Every default rule the scenario scripts a situation for fired.
    fired = {name.split("@")[0] for name in s.rule_firings}
    assert {
        "shots-fired-impulse-calls",
        "smoke-panel-alarm",
        "crowd-density-senate-square",
        "night-noise-kruununhaka",
        "flood-market-square",
    } <= fired
    assert s.assignments > 0
    assert s.recommended_assignments == s.assignments
    assert s.incidents_closed > 0
    assert s.status_reports.get("on_scene", 0) > 0
    assert s.status_reports.get("transporting", 0) > 0
    assert s.intervals["total"].n > 0
    assert s.intervals["turnout"].p50_s is not None and s.intervals["turnout"].p50_s > 0
    assert s.extra["observations_stored"] == s.extra["sim_readings_sent"] > 1000
    assert s.extra["observations_rejected"] == {}
    assert s.extra["sim_errors"] == {}


def test_summary_counts_match_the_store(runs: tuple[RunResult, RunResult, Path]) -> None:
    result, _, data_dir = runs
    s = result.summary
    store = SqliteStore(data_dir / "vigil.sqlite3")
    try:
        state = rebuild_state(store)
        types = Counter(r.type for r in store.read())
    finally:
        store.close()
    observations = ObservationStore(data_dir / OBSERVATIONS_FILE)
    try:
        stored = observations.count()
    finally:
        observations.close()
    assert s.calls == len(state.calls) == types["call.received"]
    assert s.incidents == len(state.incidents)
    assert s.incidents_closed == sum(
        i.status is IncidentStatus.CLOSED for i in state.incidents.values()
    )
    assert s.incidents_by_type == dict(
        sorted(Counter(i.type for i in state.incidents.values()).items())
    )
    assert sum(s.incidents_by_rule.values()) == sum(
        i.caused_by_rule is not None for i in state.incidents.values()
    )
    assert s.assignments == types["unit.assigned"]
    assert sum(s.rule_firings.values()) <= types["rule.fired"]
    assert s.extra["units"] == len(state.units) == 18
    assert s.extra["observations_stored"] == stored


def test_same_seed_same_summary(runs: tuple[RunResult, RunResult, Path]) -> None:
    first, second, _ = runs
    assert first.summary.deterministic() == second.summary.deterministic()
