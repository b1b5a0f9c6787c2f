"""Actions through the real services: incidents, evidence, de-duplication, drafts, isolation."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.rules.conftest import HERE, T0, minutes, obs
from vigil.alerts.drafts import AlertDrafted, list_drafts
from vigil.app import App, build
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded, IncidentOpened, IncidentUpdated
from vigil.ingest.model import DeviceKind, Observation
from vigil.rules.events import NotificationRequested, RuleFired
from vigil.rules.notify import Notifier, Outbox

AppFactory = Callable[[str], App]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build an App whose rules come from the given YAML text."""
    built: list[App] = []

    def make(text: str) -> App:
        path = tmp_path / f"rules{len(built)}.yaml"
        path.write_text(textwrap.dedent(text), "utf-8")
        settings = load_settings(
            data_dir=tmp_path / f"data{len(built)}",
            rules={"files": [path], "notify_retries": 0, "notify_timeout_s": 0.5},
        )
        app = build(settings, clock=ManualClock(T0))
        built.append(app)
        return app

    yield make
    for app in built:
        app.close()


SMOKE = """
rules:
  - name: smoke
    version: 4
    match: {kind: smoke_panel, stream: alarm}
    condition: value >= 1.0
    cooldown: 5m
    actions:
      - {do: open_incident, type: alarm_fire, description: "Alarm from {device}"}
      - {do: recommend}
"""


def alarm(minute: float = 0, device: str = "SP-1") -> Observation:
    return obs(DeviceKind.SMOKE_PANEL, "alarm", 1.0, T0 + minutes(minute), device=device)


def test_open_incident_records_rule_and_evidence(make_app: AppFactory) -> None:
    app = make_app(SMOKE)
    reading = alarm()
    app.rules.on_observations([reading])
    (inc,) = app.cad.incidents()
    assert inc.type == "alarm_fire"
    assert inc.caused_by_rule == "smoke@v4"
    assert inc.description == "Alarm from SP-1"
    timeline = app.cad.timeline(inc.id)
    opened = next(r for r in timeline if isinstance(r.event, IncidentOpened))
    assert opened.actor == "rule:smoke@v4"
    assert opened.cause == reading.id
    notes = [r.event for r in timeline if isinstance(r.event, IncidentNoteAdded)]
    explanation = notes[0]
    assert explanation.rule == "smoke@v4"
    assert explanation.evidence == (reading.id,)
    assert "Condition `value >= 1.0`" in explanation.text
    # no road network in this app: the recommendation is recorded as unavailable
    assert "Unit recommendation unavailable" in notes[1].text
    fired = [r for r in timeline if isinstance(r.event, RuleFired)]
    assert len(fired) == 1
    ev = fired[0].event
    assert isinstance(ev, RuleFired)
    assert (ev.rule, ev.version, ev.key, ev.incident_id) == ("smoke", 4, "SP-1", inc.id)
    assert ev.actions == ("open_incident", "recommend")
    assert ev.evidence == (reading.id,)
    assert fired[0].cause == reading.id
    assert app.store.stream("rule/smoke")[0].id == fired[0].id


def test_one_situation_one_incident(make_app: AppFactory) -> None:
    app = make_app(SMOKE)
    app.rules.on_observations([alarm(0)])
    (inc,) = app.cad.incidents()
    clock = app.clock
    assert isinstance(clock, ManualClock)
    clock.advance(600)  # past the cooldown, incident still active
    second = alarm(10)
    app.rules.on_observations([second])
    assert [i.id for i in app.cad.incidents()] == [inc.id]
    notes = [r.event for r in app.cad.timeline(inc.id) if isinstance(r.event, IncidentNoteAdded)]
    assert "Still matching" in notes[-1].text
    assert notes[-1].evidence == (second.id,)
    fired = [r.event for r in app.store.stream("rule/smoke")]
    assert isinstance(fired[-1], RuleFired) and fired[-1].deduplicated
    # once closed, the next situation opens a new incident
    app.cad.close_incident(inc.id, actor="dispatcher", disposition="false alarm")
    clock.advance(600)
    app.rules.on_observations([alarm(20)])
    assert len(app.cad.incidents()) == 2


def test_cooldown_restored_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(SMOKE), "utf-8")
    settings = load_settings(data_dir=tmp_path / "d", rules={"files": [path]})
    clock = ManualClock(T0)
    app = build(settings, clock=clock)
    app.rules.on_observations([alarm(0)])
    app.close()
    clock.advance(60)
    again = build(settings, clock=clock)
    try:
        again.rules.on_observations([alarm(1)])
        assert len(again.cad.incidents()) == 1  # within the cooldown: suppressed
        clock.advance(600)
        again.rules.on_observations([alarm(11)])
        assert len(again.cad.incidents()) == 1  # past it: evidence added to the active incident
        stats = {i.name: i.stats for i in again.rules.info()}["smoke"]
        assert (stats.suppressed, stats.fired) == (1, 1)
    finally:
        again.close()


def test_attach_raises_priority_of_nearest_active_incident(make_app: AppFactory) -> None:
    app = make_app("""
    rules:
      - name: impulse-near-incident
        version: 1
        match: {kind: acoustic_detector, stream: impulse}
        condition: value >= 110.0
        actions:
          - {do: attach, within_m: 300, types: [crime_in_progress, shots_fired], raise_priority_to: 1}
    """)
    near = app.cad.open_incident(
        actor="dispatcher",
        type="crime_in_progress",
        location=LatLon(HERE.lat + 0.001, HERE.lon),
        priority=3,
    )
    app.cad.open_incident(
        actor="dispatcher",
        type="crime_in_progress",
        location=LatLon(HERE.lat + 0.01, HERE.lon),
        priority=3,
    )
    app.cad.open_incident(actor="dispatcher", type="medical", location=HERE, priority=3)
    near_id = next(r.event.incident_id for r in near.records if isinstance(r.event, IncidentOpened))
    app.rules.on_observations([obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", 121, T0)])
    inc = app.cad.incident(near_id)
    assert inc.priority == 1
    timeline = app.cad.timeline(near_id)
    assert any(
        isinstance(r.event, IncidentNoteAdded) and r.event.rule == "impulse-near-incident@v1"
        for r in timeline
    )
    updated = [r.event for r in timeline if isinstance(r.event, IncidentUpdated)]
    assert updated and "raised from 3 to 1" in updated[0].reason
    assert len(app.cad.incidents()) == 3  # attached, did not open


def test_attach_with_nothing_nearby_is_skipped(make_app: AppFactory) -> None:
    app = make_app("""
    rules:
      - name: lonely
        version: 1
        match: {kind: acoustic_detector, stream: impulse}
        actions: [{do: attach, within_m: 100}]
    """)
    app.rules.on_observations([obs(DeviceKind.ACOUSTIC_DETECTOR, "impulse", 121, T0)])
    (rec,) = app.store.stream("rule/lonely")
    assert isinstance(rec.event, RuleFired)
    assert rec.event.outcomes == ("attach: skipped: no active incident within 100 m",)
    assert not rec.event.failed


def test_draft_alert_is_recorded_for_approval(make_app: AppFactory) -> None:
    app = make_app("""
    timezone: Europe/Helsinki
    zones:
      waterfront:
        label: Market Square waterfront
        polygon: [[60.1681, 24.9506], [60.1680, 24.9560], [60.1660, 24.9564], [60.1664, 24.9509]]
    rules:
      - name: flood
        version: 2
        match: {kind: flood_gauge, stream: level}
        condition: value > 3.2
        scope: {zone: waterfront}
        actions:
          - {do: open_incident, type: flood}
          - do: draft_alert
            event: Flood warning
            category: Met
            urgency: Expected
            severity: Moderate
            certainty: Observed
            headline: "Flood warning: {zone}"
            description: "Level {value} m"
            area: {zone: waterfront}
    """)
    reading = obs(
        DeviceKind.FLOOD_GAUGE, "level", 3.45, T0, location=LatLon(60.1670, 24.9530), unit="m"
    )
    app.rules.on_observations([reading])
    (draft,) = list_drafts(app.store)
    d = draft.event
    assert isinstance(d, AlertDrafted)
    assert d.status == "draft"
    assert d.headline == "Flood warning: Market Square waterfront"
    assert d.description == "Level 3.45 m"
    assert (d.urgency, d.severity, d.certainty, d.cap_event) == (
        "Expected",
        "Moderate",
        "Observed",
        "Flood warning",
    )
    assert d.polygon is not None
    points = d.polygon.split(" ")
    assert points[0] == points[-1] == "60.168100,24.950600"  # CAP: closed ring, lat,lon
    assert d.rule == "flood@v2" and d.evidence == (reading.id,)
    (inc,) = app.cad.incidents()
    assert d.incident_id == inc.id
    assert any(isinstance(r.event, AlertDrafted) for r in app.cad.timeline(inc.id))


def test_failing_action_does_not_stop_the_next(make_app: AppFactory) -> None:
    app = make_app("""
    rules:
      - name: calls
        version: 1
        match: {event: call.received}
        key: none
        actions:
          - {do: raise_priority, to: 1}
          - {do: open_incident, type: other}
    """)
    # A call without a location: open_incident (location: event) must fail...
    from vigil.core.events import Recorded  # noqa: PLC0415
    from vigil.incidents.events import CallReceived  # noqa: PLC0415

    ev = CallReceived(
        incident_id=IncidentId("INC-0"),
        call_id=CallId("C-1"),
        received_at=T0,
        location=None,
        accuracy_m=None,
        address="somewhere",
        nature="?",
        notes="",
        has_personal_data=False,
    )
    app.rules.on_record(
        Recorded(
            seq=1, id=EventId("E-1"), at=T0, actor="x", cause=None, event=ev, prev_hash="", hash=""
        )
    )
    (rec,) = app.store.stream("rule/calls")
    assert isinstance(rec.event, RuleFired)
    assert rec.event.failed
    assert rec.event.outcomes[0] == "raise_priority: skipped: no incident for this firing"
    assert rec.event.outcomes[1].startswith("open_incident: failed: location:")
    stats = {i.name: i.stats for i in app.rules.info()}["calls"]
    assert stats.action_errors == 1
    assert stats.last_error is not None and "location" in stats.last_error


def test_notify_webhook_is_queued_not_awaited(make_app: AppFactory) -> None:
    app = make_app("""
    rules:
      - name: hook
        version: 1
        match: {kind: smoke_panel, stream: alarm}
        actions: [{do: notify_webhook, url: "http://127.0.0.1:9/unreachable"}]
    """)
    app.rules.on_observations([alarm()])
    request, fired = app.store.stream("rule/hook")
    assert isinstance(fired.event, RuleFired)
    assert fired.event.outcomes == ("notify_webhook: queued for http://127.0.0.1:9/unreachable",)
    # Queued in the log with the firing, for the notifier to send after the commit.
    assert isinstance(request.event, NotificationRequested)
    assert (request.event.channel, request.event.target) == (
        "webhook",
        "http://127.0.0.1:9/unreachable",
    )
    assert json.loads(request.event.body)["rule"] == "hook"


def test_the_notifier_sends_logged_requests_once_each(make_app: AppFactory) -> None:
    app = make_app("""
    rules:
      - name: hook
        version: 1
        match: {kind: smoke_panel, stream: alarm}
        cooldown: 0s
        actions: [{do: notify_webhook, url: "http://hooks.test/in"}]
    """)
    seen: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    box = Outbox(retries=0, transport=httpx.MockTransport(receive))
    detach = Notifier(box, consumer="test-notifier").attach(app.bus)
    try:
        reading = alarm()
        app.rules.on_observations([reading])
        app.rules.on_observations([reading])  # redelivered: the same firing, no second request
        assert app.bus.drain()
        assert box.drain(5)
    finally:
        detach()
        box.close()
    requests = [
        r for r in app.store.stream("rule/hook") if isinstance(r.event, NotificationRequested)
    ]
    assert len(requests) == 1
    assert [json.loads(r.content)["rule"] for r in seen] == ["hook"]
