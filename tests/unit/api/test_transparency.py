"""The public transparency page: no login, and no personal data even when the store holds it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.cad.service import NewCall
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.incidents.events import CallReceived

HELSINKI = LatLon(lat=60.1699, lon=24.9384)
NAME, PHONE = "Zebulon Quixotewright", "+358 40 765 4321"
NOTE = "caller Zebulon says the neighbour at flat 4B hits his wife"
ADDRESS = "Mannerheimintie 99 B 12"


def _plant(app: App, clock: ManualClock) -> str:
    created = app.cad.take_call(
        NewCall(
            location=HELSINKI,
            nature="domestic disturbance at Zebulon's",
            notes=NOTE,
            address=ADDRESS,
            caller_name=NAME,
            caller_phone=PHONE,
            incident_type="structure_fire",
        ),
        actor="call-taker",
    )
    call_id = next(r.event.call_id for r in created.records if isinstance(r.event, CallReceived))
    # A supervisor reads the caller's identity, stating a purpose that names the caller.
    app.users.add("sup-anna", Role.SUPERVISOR, "correct horse battery", actor="test")
    app.access.caller(call_id, actor="sup-anna", purpose=f"call back {NAME} on {PHONE}")
    clock.advance(60)
    return call_id


def test_public_page_needs_no_login_and_shows_no_personal_data(
    app: App, client: TestClient, clock: ManualClock
) -> None:
    call_id = _plant(app, clock)
    page = client.get("/transparency")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    body = client.get("/api/v1/transparency")
    assert body.status_code == 200
    for text in (page.text, body.text):
        for secret in (
            NAME,
            "Zebulon",
            "Quixotewright",
            PHONE,
            "765 4321",
            NOTE,
            "flat 4B",
            ADDRESS,
            "Mannerheimintie",
            "sup-anna",
            call_id,
            "domestic",
        ):
            assert secret not in text, secret
    data = body.json()
    # The access was counted, by role and by purpose category, not by who or why verbatim.
    assert data["personal_data_access"]["by_role"] == {"supervisor": 1}
    assert data["personal_data_access"]["by_purpose"] == {"call-back to the caller": 1}
    assert data["audit_chain"]["intact"] is True
    assert "Transparency report" in page.text and "<svg" in page.text


def test_analyst_kpis_need_a_role(app: App, client: TestClient, tokens: dict[Role, str]) -> None:
    assert client.get("/api/v1/analytics/kpis").status_code == 401
    r = client.get("/api/v1/analytics/kpis", headers=auth(tokens[Role.ANALYST]))
    assert r.status_code == 200, r.text
    assert {"rows", "exclusions", "definitions", "method"} <= set(r.json())
    bad = client.get("/api/v1/analytics/kpis?breakdown=caller", headers=auth(tokens[Role.ANALYST]))
    assert bad.status_code == 422 and bad.json()["field"] == "breakdown"


def test_analyst_page_is_served(client: TestClient) -> None:
    r = client.get("/analyst")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
