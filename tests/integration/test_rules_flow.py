"""Observations in → rule fired → incident opened, with rule name@version and evidence on it.

The first tests go through the real ingest pipeline in-process (HTTP body →
parser → observation store → subscribers → rules engine → CAD) with the
built-in Helsinki rule set. The MQTT tests use the system Mosquitto on
127.0.0.1:1883 and skip when it is not running.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import T0
from vigil.alerts.drafts import AlertDrafted, list_drafts
from vigil.app import App, build
from vigil.cad.service import NewCall
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, new_id
from vigil.incidents.events import CallReceived, IncidentNoteAdded, IncidentOpened
from vigil.incidents.model import Incident
from vigil.ingest.model import DeviceKind
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import make_device
from vigil.rules.events import RuleFired
from vigil.rules.notify import Delivery, Outbox

pytestmark = pytest.mark.integration

GAUGE_AT = LatLon(60.1670, 24.9530)  # Market Square waterfront (inside the default zone)
SHOT_AT = LatLon(60.1650, 24.9400)  # Punavuori


def register_devices(app: App) -> None:
    """Register the flood gauge and the acoustic detector these flows read from."""
    app.ingest.registry.register(
        [
            make_device(
                id=DeviceId("fg-market"),
                kind=DeviceKind.FLOOD_GAUGE,
                location=GAUGE_AT,
                zone=None,
                site="hel",
                streams=None,
                interval_s=60,
            ),
            make_device(
                id=DeviceId("ac-punavuori"),
                kind=DeviceKind.ACOUSTIC_DETECTOR,
                location=SHOT_AT,
                zone=None,
                site="hel",
                streams=None,
                interval_s=60,
            ),
        ],
        actor="test",
    )


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[App, ManualClock]]:
    """An App with the built-in rules, a flood gauge and an acoustic detector."""
    clock = ManualClock(T0)
    app = build(load_settings(data_dir=tmp_path / "data"), clock=clock)
    register_devices(app)
    yield app, clock
    app.close()


def post(app: App, items: list[dict[str, object]]) -> None:
    result = app.ingest.post(
        json.dumps({"observations": items}).encode(), source="http", scope=None
    )
    assert not result.rejections, result.rejections
    assert len(result.stored) == len(items)
    assert app.bus.drain(10)  # rules consume committed readings on their own thread


def test_flood_batch_opens_incident_with_rule_and_evidence(city: tuple[App, ManualClock]) -> None:
    app, clock = city
    readings = [
        {
            "device_id": "fg-market",
            "stream": "level",
            "seq": m,
            "ts": (T0 + timedelta(minutes=m)).isoformat(),
            "value": 330 + m,
            "unit": "cm",
        }
        for m in range(11)
    ]
    clock.set(T0 + timedelta(minutes=10))
    post(app, readings[:6])  # 5 min above 3.2 m: not yet
    assert app.cad.incidents() == []
    post(app, readings[6:])  # 10 min: the rule fires
    (inc,) = app.cad.incidents()
    assert inc.type == "flood"
    assert inc.caused_by_rule == "flood-market-square@v1"
    timeline = app.cad.timeline(inc.id)
    opened = next(r for r in timeline if isinstance(r.event, IncidentOpened))
    assert opened.actor == "rule:flood-market-square@v1"
    assert opened.cause == "fg-market:level:0"
    note = next(r.event for r in timeline if isinstance(r.event, IncidentNoteAdded))
    assert note.rule == "flood-market-square@v1"
    assert note.evidence == tuple(f"fg-market:level:{m}" for m in range(11))
    assert "3.4 m" in note.text and "10 min" in note.text
    fired = next(r.event for r in timeline if isinstance(r.event, RuleFired))
    assert fired.version == 1 and fired.evidence_total == 11
    (draft,) = list_drafts(app.store)
    assert isinstance(draft.event, AlertDrafted)
    assert draft.event.incident_id == inc.id
    assert draft.event.area_desc == "Market Square waterfront"
    # more readings in the same episode add nothing
    post(
        app,
        [
            {
                "device_id": "fg-market",
                "stream": "level",
                "seq": 11,
                "ts": (T0 + timedelta(minutes=10, seconds=30)).isoformat(),
                "value": 3.5,
            }
        ],
    )
    assert len(app.cad.incidents()) == 1


def test_impulse_and_two_calls_open_a_priority_one_incident(
    city: tuple[App, ManualClock],
) -> None:
    app, clock = city
    post(
        app,
        [
            {
                "device_id": "ac-punavuori",
                "stream": "impulse",
                "seq": 1,
                "ts": T0.isoformat(),
                "value": 121.0,
                "unit": "dB",
                "attrs": {"class": "gunshot"},
            }
        ],
    )
    assert app.cad.incidents() == []
    call_ids = []
    for i, dlat in enumerate((0.0008, -0.0011)):  # ~90 m and ~120 m away
        clock.advance(40)
        outcome = app.cad.take_call(
            NewCall(
                location=LatLon(SHOT_AT.lat + dlat, SHOT_AT.lon),
                nature=f"bangs {i}",
                incident_type="crime_in_progress",
                priority=3,
            ),
            actor="call-taker",
        )
        call_ids.append(next(r.id for r in outcome.records if isinstance(r.event, CallReceived)))
    assert app.bus.drain(10)  # the rules react to the committed calls after they return
    shots = [i for i in app.cad.incidents() if i.type == "shots_fired"]
    assert len(shots) == 1
    inc = shots[0]
    assert inc.priority == 1
    assert inc.caused_by_rule == "shots-fired-impulse-calls@v1"
    note = next(r.event for r in app.cad.timeline(inc.id) if isinstance(r.event, IncidentNoteAdded))
    assert note.evidence == ("ac-punavuori:impulse:1", *call_ids)
    texts = [
        r.event.text for r in app.cad.timeline(inc.id) if isinstance(r.event, IncidentNoteAdded)
    ]
    assert any("Unit recommendation unavailable" in t for t in texts)


# ------------------------------------------------------------------ MQTT


def _listening(port: int = 1883) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _drop_session(client_id: str) -> None:
    """Discard the ingest client's persistent session so the broker stops queueing for it."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    time.sleep(0.2)
    close_client(c)


def _mqtt_round_trip(tmp_path: Path) -> Incident:
    """Publish a smoke alarm over MQTT to a started App; return the incident it opened."""
    site, client_id = new_id("s").lower(), new_id("vigil-rules-test")
    settings = load_settings(
        data_dir=tmp_path / "data",
        ingest={"mqtt": {"enabled": True, "site": site, "client_id": client_id}},
    )
    app = build(settings)  # the system clock: the broker delivers in real time
    app.ingest.registry.register(
        [
            make_device(
                id=DeviceId("sp-senate"),
                kind=DeviceKind.SMOKE_PANEL,
                location=LatLon(60.1694, 24.952),
                zone=None,
                site=site,
                streams=None,
                interval_s=60,
            )
        ],
        actor="test",
    )
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=new_id("pub-test"))
    try:
        app.start()
        assert app.ingest.mqtt.connected.wait(10), "ingest did not connect to the broker"
        time.sleep(0.3)  # SUBACK
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        payload = {"seq": 1, "ts": app.clock.now().isoformat(), "value": True}
        pub.publish(f"vigil/{site}/devices/sp-senate/alarm", json.dumps(payload), qos=1)
        _wait(lambda: bool(app.cad.incidents()), 10, "the smoke rule to open an incident")
        (inc,) = app.cad.incidents()
    finally:
        close_client(pub)
        app.close()
        _drop_session(client_id)
    return inc


def test_mqtt_publish_to_incident(tmp_path: Path) -> None:
    if not _listening():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    inc = _mqtt_round_trip(tmp_path)
    assert inc.type == "alarm_fire" and inc.caused_by_rule == "smoke-panel-alarm@v1"


def test_mqtt_notify_publishes_qos1() -> None:
    if not _listening():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    topic = f"vigil-test/{new_id('t').lower()}/rules"
    got: list[bytes] = []
    ready, arrived = threading.Event(), threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=new_id("sub-test"))
    sub.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
    sub.on_subscribe = lambda *_: ready.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        arrived.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    box = Outbox(retries=1, backoff_s=0.1)
    try:
        assert ready.wait(5)
        box.submit(Delivery("mqtt", topic, b'{"rule": "x"}', "x@v1"))
        assert arrived.wait(5)
        assert box.drain(5)
    finally:
        box.close()
        close_client(sub)
    assert got == [b'{"rule": "x"}']
    assert box.stats.sent == 1
