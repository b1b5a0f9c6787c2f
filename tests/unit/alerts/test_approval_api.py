"""Approval and publication over HTTP: two-person rule, rejected never public, feed shows only active."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.conftest import PASSWORD, auth
from vigil.alerts import cap
from vigil.alerts.drafts import AlertDrafted
from vigil.alerts.events import AlertApproved, AlertPublished, AlertRejected
from vigil.alerts.service import Alerts
from vigil.alerts.xmlsafe import parse_untrusted
from vigil.api.http import create_api
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.clock import ManualClock
from vigil.core.events import Pending
from vigil.core.ids import EventId

POLY = "60.16,24.93 60.17,24.93 60.17,24.95 60.16,24.93"


@pytest.fixture
def http(alert_app: App) -> Iterator[TestClient]:
    with TestClient(create_api(alert_app)) as c:
        yield c


@pytest.fixture
def people(alert_app: App) -> dict[str, str]:
    out = {}
    for name, role in (
        ("disp", Role.DISPATCHER),
        ("sup1", Role.SUPERVISOR),
        ("sup2", Role.SUPERVISOR),
        ("field", Role.FIELD_UNIT),
    ):
        alert_app.users.add(name, role, PASSWORD, actor="test")
        out[name] = alert_app.users.issue_token(name, label="t", actor="test", ttl=None)
    return out


def body(headline: str = "River flooding", **more: Any) -> dict[str, Any]:
    return {
        "infos": [
            {"language": "en-US", "categories": ["Met"], "event": "Flood warning", "urgency": "Expected",
             "severity": "Severe", "certainty": "Likely", "headline": headline,
             "description": "The river is above 3.2 m.", "instruction": "Move to higher ground.",
             "areas": [{"desc": "Riverside", "polygons": [POLY]}]},
            {"language": "fi-FI", "categories": ["Met"], "event": "Tulvavaroitus", "urgency": "Expected",
             "severity": "Severe", "certainty": "Likely", "headline": "Tulva",
             "areas": [{"desc": "Joenranta", "circles": ["60.165,24.94 0.5"]}]},
        ],
        "reason": "gauge reading",
        **more,
    }  # fmt: skip


def test_author_cannot_approve_own_draft(
    http: TestClient, people: dict[str, str], alert_app: App
) -> None:
    r = http.post("/api/v1/alerts", json=body(), headers=auth(people["sup1"]))
    assert r.status_code == 201, r.text
    alert_id = r.json()["id"]
    assert r.json()["state"] == "draft" and r.json()["authors"] == ["sup1"]
    r = http.post(
        f"/api/v1/alerts/{alert_id}/approve", json={"reason": "ok"}, headers=auth(people["sup1"])
    )
    assert r.status_code == 403
    assert "two-person" in r.json()["detail"]
    assert http.get(f"/api/v1/public/cap/{alert_id}.xml").status_code == 404
    r = http.post(
        f"/api/v1/alerts/{alert_id}/approve",
        json={"reason": "checked gauge"},
        headers=auth(people["sup2"]),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "published" and out["active"] and out["decided_by"] == "sup2"
    assert out["schema_checked"].startswith("cap12.xsd sha256:")
    types = [rec.event for rec in alert_app.store.stream(f"alert/{alert_id}")]
    approved = [e for e in types if isinstance(e, AlertApproved)]
    assert len(approved) == 1 and approved[0].reason == "checked gauge"
    assert any(isinstance(e, AlertPublished) for e in types)


def test_reviser_becomes_author(http: TestClient, people: dict[str, str]) -> None:
    alert_id = http.post("/api/v1/alerts", json=body(), headers=auth(people["disp"])).json()["id"]
    r = http.put(
        f"/api/v1/alerts/{alert_id}",
        json={"infos": body("Changed")["infos"], "reason": "wording"},
        headers=auth(people["sup1"]),
    )
    assert (
        r.status_code == 200
        and r.json()["authors"] == ["disp", "sup1"]
        and r.json()["revision"] == 2
    )
    assert (
        http.post(
            f"/api/v1/alerts/{alert_id}/approve", json={"reason": "x"}, headers=auth(people["sup1"])
        ).status_code
        == 403
    )
    assert (
        http.post(
            f"/api/v1/alerts/{alert_id}/approve", json={"reason": "x"}, headers=auth(people["sup2"])
        ).status_code
        == 200
    )


def test_rejected_never_published(http: TestClient, people: dict[str, str], alert_app: App) -> None:
    alert_id = http.post("/api/v1/alerts", json=body(), headers=auth(people["disp"])).json()["id"]
    r = http.post(
        f"/api/v1/alerts/{alert_id}/reject",
        json={"reason": "false alarm"},
        headers=auth(people["sup1"]),
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert (
        http.post(
            f"/api/v1/alerts/{alert_id}/approve", json={"reason": "x"}, headers=auth(people["sup2"])
        ).status_code
        == 409
    )
    assert http.get(f"/api/v1/public/cap/{alert_id}.xml").status_code == 404
    assert alert_id not in http.get("/api/v1/public/alerts.atom").text
    assert http.get("/api/v1/public/alerts.geojson").json()["features"] == []
    events = [rec.event for rec in alert_app.store.stream(f"alert/{alert_id}")]
    assert any(isinstance(e, AlertRejected) and e.reason == "false alarm" for e in events)
    assert not any(isinstance(e, AlertPublished) for e in events)


def test_feed_shows_only_approved_unexpired(
    http: TestClient, people: dict[str, str], clock: ManualClock, cap_schema: etree.XMLSchema
) -> None:
    draft = http.post(
        "/api/v1/alerts", json=body("still a draft"), headers=auth(people["disp"])
    ).json()["id"]
    soon = (clock.now() + timedelta(hours=1)).isoformat()
    b = body("published")
    for info in b["infos"]:
        info["expires"] = soon
    live = http.post("/api/v1/alerts", json=b, headers=auth(people["disp"])).json()["id"]
    http.post(f"/api/v1/alerts/{live}/approve", json={"reason": "ok"}, headers=auth(people["sup1"]))
    feed = http.get("/api/v1/public/alerts.atom")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith(
        "application/atom+xml"
    )
    root = etree.fromstring(feed.content)
    links = [
        e.get("href")
        for e in root.iter("{http://www.w3.org/2005/Atom}link")
        if e.get("type") == "application/cap+xml"
    ]
    assert links == [f"http://127.0.0.1:8080/api/v1/public/cap/{live}.xml"]
    assert draft not in feed.text
    doc = http.get(f"/api/v1/public/cap/{live}.xml")
    assert doc.headers["content-type"].startswith("application/cap+xml")
    assert cap.check(parse_untrusted(doc.content), cap_schema) == []
    features = http.get("/api/v1/public/alerts.geojson").json()["features"]
    assert {f["properties"]["id"] for f in features} == {live} and len(features) == 2
    clock.advance(7200)
    assert live not in http.get("/api/v1/public/alerts.atom").text
    assert http.get("/api/v1/public/alerts.geojson").json()["features"] == []
    assert http.get(f"/api/v1/public/cap/{live}.xml").status_code == 200  # stable URL stays


def test_update_and_cancel_reference_the_original(
    http: TestClient, people: dict[str, str], cap_schema: etree.XMLSchema
) -> None:
    first = http.post("/api/v1/alerts", json=body(), headers=auth(people["disp"])).json()["id"]
    pub = http.post(
        f"/api/v1/alerts/{first}/approve", json={"reason": "ok"}, headers=auth(people["sup1"])
    ).json()
    upd = http.post(
        "/api/v1/alerts",
        json=body("worse", msg_type="Update", supersedes=first),
        headers=auth(people["disp"]),
    ).json()["id"]
    http.post(f"/api/v1/alerts/{upd}/approve", json={"reason": "ok"}, headers=auth(people["sup1"]))
    xml = http.get(f"/api/v1/public/cap/{upd}.xml").content
    alert = cap.parse(parse_untrusted(xml))
    assert alert.msg_type == "Update"
    assert [r.identifier for r in alert.references] == [pub["identifier"]]
    assert (
        http.get(f"/api/v1/alerts/{first}", headers=auth(people["disp"])).json()["state"]
        == "superseded"
    )
    atom = http.get("/api/v1/public/alerts.atom").text
    assert upd in atom and f"cap/{first}.xml" not in atom
    cancel = http.post(
        "/api/v1/alerts",
        json=body("over", msg_type="Cancel", supersedes=upd),
        headers=auth(people["disp"]),
    ).json()["id"]
    http.post(
        f"/api/v1/alerts/{cancel}/approve",
        json={"reason": "river down"},
        headers=auth(people["sup2"]),
    )
    assert (
        http.get(f"/api/v1/alerts/{upd}", headers=auth(people["disp"])).json()["state"]
        == "cancelled"
    )
    c = cap.parse(parse_untrusted(http.get(f"/api/v1/public/cap/{cancel}.xml").content))
    assert c.msg_type == "Cancel" and c.references[0].identifier == upd
    # An Update of something not published is refused.
    bad = http.post(
        "/api/v1/alerts",
        json=body(msg_type="Update", supersedes=cancel + "x"),
        headers=auth(people["disp"]),
    )
    assert bad.status_code == 404


def test_invalid_content_refused_with_field(http: TestClient, people: dict[str, str]) -> None:
    b = body()
    b["infos"][0]["areas"][0]["polygons"] = ["60.1,24.9 60.2,24.9 60.3,25.0"]
    r = http.post("/api/v1/alerts", json=b, headers=auth(people["disp"]))
    assert r.status_code == 422
    assert "closed" in r.text and r.json()["field"] == "infos"


def test_rule_draft_approved_by_supervisor(
    http: TestClient, people: dict[str, str], alert_app: App, clock: ManualClock
) -> None:
    draft = AlertDrafted(
        draft_id="ALD-1", headline="Flood warning: riverside", description="Gauge 3.4 m", instruction="Avoid the riverbank",
        cap_event="Flood warning", category="Met", urgency="Expected", severity="Severe", certainty="Likely",
        area_desc="Riverside", polygon=POLY, rule="river-flood@1",
    )  # fmt: skip
    recorded = alert_app.store.append(
        [
            Pending(
                id=EventId("EV-1"),
                at=clock.now(),
                actor="rule:river-flood",
                cause=None,
                event=draft,
            )
        ]
    )
    alert_app.bus.publish(recorded)
    listed = http.get("/api/v1/alerts?state=draft", headers=auth(people["sup1"])).json()
    assert [a["id"] for a in listed] == ["ALD-1"]
    assert (
        http.get("/api/v1/alerts/areas.geojson", headers=auth(people["disp"])).json()["features"][
            0
        ]["properties"]["state"]
        == "draft"
    )
    r = http.post(
        "/api/v1/alerts/ALD-1/approve",
        json={"reason": "confirmed by camera"},
        headers=auth(people["sup1"]),
    )
    assert r.status_code == 200, r.text
    assert "ALD-1" in http.get("/api/v1/public/alerts.atom").text
    assert (
        http.get("/api/v1/alerts/drafts", headers=auth(people["disp"])).json()[0]["status"]
        == "published"
    )


def test_roles(http: TestClient, people: dict[str, str]) -> None:
    assert (
        http.post("/api/v1/alerts", json=body(), headers=auth(people["field"])).status_code == 403
    )
    alert_id = http.post("/api/v1/alerts", json=body(), headers=auth(people["disp"])).json()["id"]
    assert (
        http.post(
            f"/api/v1/alerts/{alert_id}/approve", json={"reason": "x"}, headers=auth(people["disp"])
        ).status_code
        == 403
    )
    assert http.get("/api/v1/alerts").status_code == 401
    assert http.get("/api/v1/public/alerts.atom").status_code == 200


def test_state_survives_restart(alert_app: App, people: dict[str, str], http: TestClient) -> None:
    alert_id = http.post("/api/v1/alerts", json=body(), headers=auth(people["disp"])).json()["id"]
    http.post(
        f"/api/v1/alerts/{alert_id}/approve", json={"reason": "ok"}, headers=auth(people["sup1"])
    )
    again = Alerts(
        settings=alert_app.settings.alerts,
        store=alert_app.store,
        bus=alert_app.bus,
        clock=alert_app.clock,
    )
    assert again.get(alert_id).state == "published"
    assert again.get(alert_id).published == alert_app.alerts.get(alert_id).published
    again.close()
