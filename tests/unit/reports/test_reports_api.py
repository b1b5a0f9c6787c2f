"""Citizen reports over HTTP: anonymous by default, rate limits, moderation, private status link."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import PASSWORD, auth
from tests.unit.reports.conftest import jpeg_with_gps
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.errors import RateLimitedError
from vigil.core.geometry import LatLon
from vigil.reports.events import ReportPromoted, ReportSubmitted
from vigil.reports.service import NewReport


@pytest.fixture
def rapp(tmp_path: Path, clock: ManualClock) -> Iterator[App]:
    app = build(
        load_settings(
            data_dir=tmp_path / "d",
            alerts={"reports_per_client_per_hour": 3, "reports_per_area_per_hour": 5},
        ),
        clock=clock,
    )
    for name, role in (
        ("disp", Role.DISPATCHER),
        ("sup", Role.SUPERVISOR),
        ("field", Role.FIELD_UNIT),
    ):
        app.users.add(name, role, PASSWORD, actor="t")
    yield app
    app.close()


@pytest.fixture
def http(rapp: App) -> Iterator[TestClient]:
    with TestClient(create_api(rapp)) as c:
        yield c


def tok(app: App, name: str) -> dict[str, str]:
    return auth(app.users.issue_token(name, label="t", actor="t", ttl=None))


def body(**more: object) -> dict[str, object]:
    return {
        "category": "flooding",
        "text": "Water over the road by the bridge",
        "lat": 60.1699,
        "lon": 24.9384,
        **more,
    }


def test_anonymous_report_with_photo_moderated_into_an_incident(
    http: TestClient, rapp: App
) -> None:
    photo = base64.b64encode(jpeg_with_gps()).decode()
    r = http.post("/api/v1/public/reports", json=body(photo_base64=photo, accuracy_m=12))
    assert r.status_code == 201, r.text
    out = r.json()
    report_id, token = out["report_id"], out["status_token"]
    assert out["status_url"] == f"/report#status={token}"
    # Nothing identifying is in the log: no client address, no token.
    events = [rec.event for rec in rapp.store.read() if isinstance(rec.event, ReportSubmitted)]
    assert len(events) == 1 and not events[0].has_contact and token not in str(events[0])
    assert "testclient" not in str(events[0])
    st = http.get(f"/api/v1/public/reports/status/{token}").json()
    assert st["status"] == "received"
    disp = tok(rapp, "disp")
    queue = http.get("/api/v1/reports?state=new", headers=disp).json()
    assert [q["id"] for q in queue] == [report_id] and queue[0]["has_photo"]
    stored = http.get(f"/api/v1/reports/{report_id}/photo", headers=disp)
    with Image.open(io.BytesIO(stored.content)) as img:
        assert dict(img.getexif()) == {}
    assert (
        http.get("/api/v1/reports/map.geojson", headers=disp).json()["features"][0]["properties"][
            "id"
        ]
        == report_id
    )
    p = http.post(
        f"/api/v1/reports/{report_id}/promote",
        json={"incident_type": "flood", "reason": "confirmed on camera"},
        headers=disp,
    )
    assert p.status_code == 200, p.text
    incident_id = p.json()["incident_id"]
    inc = rapp.cad.incident(incident_id)
    assert inc.type == "flood" and "Water over the road" in inc.description
    assert any(
        isinstance(rec.event, ReportPromoted)
        for rec in rapp.store.stream(f"incident/{incident_id}")
    )
    assert http.get(f"/api/v1/public/reports/status/{token}").json()["status"] == "incident opened"
    again = http.post(f"/api/v1/reports/{report_id}/dismiss", json={"reason": "x"}, headers=disp)
    assert again.status_code == 409
    assert http.get("/api/v1/reports/map.geojson", headers=disp).json()["features"] == []


def test_contact_is_personal_data_read_only_with_purpose(http: TestClient, rapp: App) -> None:
    r = http.post("/api/v1/public/reports", json=body(contact_name="Liisa", contact="+358 40 111"))
    report_id = r.json()["report_id"]
    events = [str(rec.event) for rec in rapp.store.read()]
    assert not any("Liisa" in e or "358 40 111" in e for e in events)
    sup = tok(rapp, "sup")
    assert http.get(f"/api/v1/reports/{report_id}/contact", headers=sup).status_code == 422
    c = http.get(
        f"/api/v1/reports/{report_id}/contact",
        headers={**sup, "X-Vigil-Purpose": "call back about the flooding"},
    )
    assert c.status_code == 200 and c.json()["contact"] == "+358 40 111"
    (entry,) = rapp.store.audit_entries(subject=f"call/{report_id}")
    assert entry.actor == "sup" and "call back" in entry.purpose
    assert (
        http.get(
            f"/api/v1/reports/{report_id}/contact",
            headers={**tok(rapp, "field"), "X-Vigil-Purpose": "just looking"},
        ).status_code
        == 403
    )


def test_contact_purged_on_schedule(http: TestClient, rapp: App, clock: ManualClock) -> None:
    report_id = http.post("/api/v1/public/reports", json=body(contact="me@example.org")).json()[
        "report_id"
    ]
    assert rapp.store.personal(report_id) is not None
    clock.advance(31 * 86400)
    rapp.access.purge_expired()
    assert rapp.store.personal(report_id) is None
    assert rapp.reports.get(report_id).state == "new"  # the report itself stays


def test_rate_limit_per_client_and_per_area(
    http: TestClient, rapp: App, clock: ManualClock
) -> None:
    for i in range(3):
        assert http.post("/api/v1/public/reports", json=body(text=f"report {i}")).status_code == 201
    r = http.post("/api/v1/public/reports", json=body())
    assert r.status_code == 429 and r.json()["field"] == "client"
    clock.advance(3601)
    assert http.post("/api/v1/public/reports", json=body()).status_code == 201
    # Per area: other clients, same ~1 km cell.
    for n in range(1, 10):
        try:  # every report from another device
            rapp.reports.submit(
                NewReport(category="flooding", text=f"area {n}", location=LatLon(60.1699, 24.9384)),
                client=f"device-{n}",
            )
        except RateLimitedError as err:
            assert err.field == "location"
            break
    else:
        pytest.fail("the area limit never applied")
    assert rapp.reports.refused == {"rate_client": 1, "rate_area": 1}
    # Another cell is fine.
    assert http.post("/api/v1/public/reports", json=body(lat=60.25, lon=25.05)).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "aliens"}, "category"),
        ({"text": "  "}, "text"),
        ({"lat": 95}, "lat"),
        ({"photo_base64": "!!!notbase64"}, "photo_base64"),
        ({"photo_base64": base64.b64encode(b"GIF89a....").decode()}, "photo"),
    ],
)
def test_bad_input_named(http: TestClient, change: dict[str, object], field: str) -> None:
    r = http.post("/api/v1/public/reports", json=body(**change))
    assert r.status_code == 422
    assert field in r.text


def test_merge_and_dismiss(http: TestClient, rapp: App) -> None:
    a = http.post("/api/v1/public/reports", json=body()).json()
    b = http.post("/api/v1/public/reports", json=body(text="same flood")).json()
    c = http.post("/api/v1/public/reports", json=body(text="spam spam")).json()
    disp = tok(rapp, "disp")
    m = http.post(
        f"/api/v1/reports/{b['report_id']}/merge",
        json={"into_report": a["report_id"], "reason": "duplicate"},
        headers=disp,
    )
    assert m.status_code == 200 and m.json()["merged_into"] == a["report_id"]
    assert (
        http.post(
            f"/api/v1/reports/{a['report_id']}/merge",
            json={"into_report": a["report_id"], "reason": "x"},
            headers=disp,
        ).status_code
        == 422
    )
    d = http.post(
        f"/api/v1/reports/{c['report_id']}/dismiss", json={"reason": "not a hazard"}, headers=disp
    )
    assert d.json()["state"] == "dismissed"
    st = http.get(f"/api/v1/public/reports/status/{c['status_token']}").json()
    assert st == {**st, "status": "closed", "note": "not a hazard"}
    assert (
        http.get(f"/api/v1/public/reports/status/{b['status_token']}").json()["status"]
        == "merged with another report"
    )
    assert http.get("/api/v1/public/reports/status/not-a-token").status_code == 404
    assert [r["id"] for r in http.get("/api/v1/reports?state=new", headers=disp).json()] == [
        a["report_id"]
    ]


def test_state_survives_restart(
    rapp: App, http: TestClient, tmp_path: Path, clock: ManualClock
) -> None:
    out = http.post("/api/v1/public/reports", json=body()).json()
    again = build(load_settings(data_dir=tmp_path / "d"), clock=clock)  # a second process
    try:
        assert again.reports.by_token(out["status_token"]).id == out["report_id"]
    finally:
        again.close()
