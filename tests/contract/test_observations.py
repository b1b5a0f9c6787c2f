"""The observation-store contract: every adapter of `ObservationStorage` behaves like this."""

from __future__ import annotations

import json
from datetime import timedelta

import msgspec
import pytest

from tests.contract.conftest import ObservationsFactory
from tests.unit.ingest.conftest import NOW, TS, device
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind, Observation
from vigil.ingest.parse import Limits, Parser, RejectReason
from vigil.ingest.store import ObservationHistory

TOPIC = "vigil/hel/devices/noise-meter/laeq"


@pytest.fixture
def parser() -> Parser:
    """A parser knowing one noise meter."""
    return Parser(
        {DeviceId("noise-meter"): device("noise-meter", DeviceKind.NOISE_METER)}, Limits()
    )


def _msg(seq: int, value: float = 50.0, ts: str = TS) -> bytes:
    return json.dumps({"seq": seq, "ts": ts, "value": value}).encode()


def test_duplicates_are_skipped_counted_and_dead_lettered(
    open_observations: ObservationsFactory, parser: Parser
) -> None:
    store = open_observations()
    first = parser.mqtt(TOPIC, _msg(1), NOW)
    first.extend(parser.mqtt(TOPIC, _msg(2, 60.0), NOW))
    first.extend(parser.mqtt(TOPIC, _msg(2, 61.0), NOW))  # same seq in one batch
    first.extend(parser.mqtt(TOPIC, b"{oops", NOW))
    result = store.write(first.observations, first.rejections, NOW)
    assert [o.id for o in result.stored] == ["noise-meter:laeq:1", "noise-meter:laeq:2"]
    assert [o.value for o in result.duplicates] == [61.0]
    again = parser.mqtt(TOPIC, _msg(1), NOW)
    again.extend(parser.mqtt(TOPIC, _msg(3), NOW))
    result = store.write(again.observations, again.rejections, NOW)
    assert [o.id for o in result.stored] == ["noise-meter:laeq:3"]
    assert [o.id for o in result.duplicates] == ["noise-meter:laeq:1"]

    assert store.count() == 3
    assert sorted(store.ids()) == [f"noise-meter:laeq:{n}" for n in (1, 2, 3)]
    stats = store.stats()
    assert stats.stored == 3
    assert stats.by_reason == {"duplicate": 2, "malformed_json": 1}
    letters = store.dead_letters()
    assert [d.reason for d in letters] == ["duplicate", "duplicate", "malformed_json"]
    assert letters[-1].raw == b"{oops"
    assert letters[-1].topic == TOPIC
    assert msgspec.json.decode(letters[0].raw)["id"] == "noise-meter:laeq:1"
    assert [d.reason for d in store.dead_letters(reason="malformed_json")] == [
        RejectReason.MALFORMED_JSON.value
    ]
    assert store.dead_letters(limit=1)[0].seq == letters[0].seq


def test_latest_values_keep_the_newest_observation_time_across_a_restart(
    open_observations: ObservationsFactory, parser: Parser
) -> None:
    store = open_observations()
    later = (NOW + timedelta(minutes=1)).isoformat()
    p = parser.mqtt(TOPIC, _msg(1, 40.0, later), NOW)
    p.extend(parser.mqtt(TOPIC, _msg(2, 41.0), NOW))  # older, arrives after: not the latest
    store.write(p.observations, p.rejections, NOW)
    (latest,) = store.latest("noise-meter")
    assert (latest.stream, latest.value, latest.observed_at) == (
        "laeq",
        40.0,
        NOW + timedelta(minutes=1),
    )
    assert store.last_seen() == {"noise-meter": NOW}
    p = parser.mqtt(TOPIC, _msg(3, 42.0, (NOW + timedelta(minutes=2)).isoformat()), NOW)
    store.write(p.observations, p.rejections, NOW)
    assert [v.value for v in store.recent("noise-meter", limit=1)] == [42.0]
    store.close()
    again = open_observations()
    assert [v.value for v in again.latest()] == [42.0]
    assert again.latest("nobody") == []
    assert again.count() == 3


def test_observations_in_several_months_are_all_stored(
    open_observations: ObservationsFactory, parser: Parser
) -> None:
    store = open_observations()
    p = parser.mqtt(TOPIC, _msg(1, 1.0, "2026-05-31T23:59:59+00:00"), NOW)
    p.extend(parser.mqtt(TOPIC, _msg(2, 2.0), NOW))
    stored = store.write(p.observations, p.rejections, NOW).stored
    assert len(stored) == 2 and store.count() == 2


def test_dead_letters_are_purged_by_instant(
    open_observations: ObservationsFactory, parser: Parser
) -> None:
    store = open_observations()
    p = parser.mqtt(TOPIC, b"{oops", NOW)
    store.write(p.observations, p.rejections, NOW)
    assert store.purge_dead_letters(NOW) == 0
    assert store.purge_dead_letters(NOW + timedelta(seconds=1)) == 1
    assert store.dead_letters() == []


def test_device_states_are_durable(open_observations: ObservationsFactory) -> None:
    store = open_observations()
    assert store.offline_devices() == {}
    store.set_device_states(
        [("a", False, NOW, NOW - timedelta(minutes=5)), ("b", False, NOW, None)]
    )
    store.set_device_states([("b", True, NOW, NOW)])
    store.close()
    assert open_observations().offline_devices() == {"a": NOW - timedelta(minutes=5)}


def test_readings_received_since_an_instant_come_back_in_commit_order(
    open_observations: ObservationsFactory, parser: Parser
) -> None:
    store = open_observations()
    assert isinstance(store, ObservationHistory)
    later = NOW + timedelta(minutes=1)
    first = parser.mqtt(TOPIC, _msg(1, 1.0), NOW)
    store.write(first.observations, first.rejections, NOW)
    second = parser.mqtt(TOPIC, _msg(3, 3.0), later)
    second.extend(parser.mqtt(TOPIC, _msg(2, 2.0), later))
    store.write(second.observations, second.rejections, later)
    got = [
        row for rows in store.received_since(NOW + timedelta(seconds=30), batch=1) for row in rows
    ]
    assert [(r[1], r[4]) for r in got] == [("noise-meter:laeq:3", 3.0), ("noise-meter:laeq:2", 2.0)]
    assert got[0][7] == later.timestamp()
    assert sum(len(b) for b in store.received_since(NOW)) == 3


def test_values_text_and_instants_come_back_exactly(
    open_observations: ObservationsFactory,
) -> None:
    # What a store re-encodes on the way in (floats, microseconds, quoting, non-ASCII)
    # comes back bit for bit.
    store = open_observations()
    at = NOW + timedelta(microseconds=123_457)
    attrs: dict[str, str | float | bool] = {"note": 'a "quoted" \\ back\u00a0slash ✓', "x": 0.1}
    values = [0.1 + 0.2, 1e-300, -1.7976931348623157e308, 5e-324]
    observations = [
        Observation(
            id=f"capteur-é:laeq:{i}",
            device_id=DeviceId("capteur-é"),
            kind=DeviceKind.NOISE_METER,
            stream="laeq",
            value=v,
            unit="dB(A)",
            observed_at=at + timedelta(seconds=i),
            received_at=at,
            location=LatLon(60.1699, 24.9384),
            zone=None,
            attrs=attrs if i == len(values) - 1 else {},
        )
        for i, v in enumerate(values)
    ]
    assert [o.id for o in store.write(observations, [], NOW).stored] == [o.id for o in observations]
    assert [v.value for v in store.recent("capteur-é", limit=10)] == values[::-1]
    (latest,) = store.latest("capteur-é")
    assert (latest.value, latest.attrs, latest.observed_at, latest.received_at) == (
        values[-1],
        attrs,
        at + timedelta(seconds=len(values) - 1),
        at,
    )
