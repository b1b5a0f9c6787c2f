"""Item 8: dead letters expire, keep no identity attribute, and retention compares instants.

Attacks (before): dead letters were kept forever, and a message refused for
carrying a plate or a name was kept with that plate or name; personal-data
retention compared ISO strings, so an expiry written with a +14:00 offset was
purged up to 14 hours late.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from vigil.app import App
from vigil.cad.service import NewCall
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind
from vigil.ingest.parse import REDACTED, redact_identity
from vigil.ingest.registry import make_device


def _camera(app: App) -> None:
    cam = make_device(
        id=DeviceId("cam-1"),
        kind=DeviceKind.CAMERA_ANALYTICS,
        location=LatLon(60.17, 24.94),
        zone="square",
        site="hel",
        streams=None,
        interval_s=10,
    )
    app.ingest.registry.register([cam], actor="test")


def _post(app: App, body: object) -> None:
    app.ingest.post(json.dumps(body).encode(), source="http", scope=None)


def test_refused_identity_attributes_are_not_kept(app: App, clock: ManualClock) -> None:
    _camera(app)
    ts = clock.now().isoformat()
    reading = {"device_id": "cam-1", "stream": "count", "seq": 1, "ts": ts, "value": 3}
    _post(app, {**reading, "attrs": {"class": "car", "plate": "ABC-123", "driver": "Jane Roe"}})
    # A plate riding along in a message refused for another reason is not kept either.
    _post(app, {**reading, "seq": 2, "value": -5, "attrs": {"plate": "XYZ-987"}})
    letters = app.ingest.observations.dead_letters(limit=10)
    assert {d.reason for d in letters} >= {"identity_attr"}
    raw = b"".join(d.raw for d in letters)
    for secret in (b"ABC-123", b"Jane Roe", b"XYZ-987"):
        assert secret not in raw
    kept = json.loads(next(d.raw for d in letters if d.reason == "identity_attr"))
    assert kept["attrs"] == {"class": "car", "plate": REDACTED, "driver": REDACTED}


def test_unparseable_identity_messages_keep_nothing() -> None:
    cut = b'{"attrs": {"plate": "ABC-123", "class": "car"'
    assert redact_identity(cut, strict=True) == b""
    assert redact_identity(cut, strict=False) == cut  # no identity verdict: kept for debugging
    assert redact_identity(b'{"value": 1}', strict=True) == b'{"value": 1}'


def test_dead_letters_expire(app: App, clock: ManualClock) -> None:
    _camera(app)
    _post(app, {"device_id": "cam-1", "stream": "count", "seq": 1, "ts": "bad", "value": 1})
    assert len(app.ingest.observations.dead_letters()) == 1
    clock.advance(29 * 86400)
    assert app.ingest.purge_dead_letters() == 0
    clock.advance(2 * 86400)
    assert app.ingest.purge_dead_letters() == 1
    assert app.ingest.observations.dead_letters() == []


def test_personal_data_retention_compares_instants(app: App, clock: ManualClock) -> None:
    # Received at 10:00 on 1 June in Kiribati (+14:00) = 20:00 UTC on 31 May.
    kiribati = timezone(timedelta(hours=14))
    received = datetime(2026, 6, 1, 10, 0, tzinfo=kiribati)
    outcome = app.cad.take_call(
        NewCall(
            nature="caller with a name",
            location=LatLon(60.17, 24.94),
            incident_type="structure_fire",
            caller_name="A. Caller",
            received_at=received,
        ),
        actor="taker",
    )
    call_id = next(r.event.call_id for r in outcome.records if hasattr(r.event, "call_id"))
    retention = timedelta(days=app.settings.audit.personal_data_retention_days)
    expiry_utc = received.astimezone(UTC) + retention
    clock.set(expiry_utc + timedelta(hours=1))  # an hour past expiry, in UTC
    assert call_id in app.access.purge_expired()
    assert app.store.personal(call_id) is None
