"""Item 6: a field-unit login controls exactly one unit; tokens in URLs only on the live feed.

Attacks (before): with units ``E1`` and ``e1`` registered, the field-unit login
``e1`` could set the status of both; ``?access_token=`` authenticated every
endpoint, not only the EventSource live feed.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.ids import UnitId

HELSINKI = {"lat": 60.1699, "lon": 24.9384}


def _unit(client: TestClient, token: str, uid: str) -> int:
    body = {"id": uid, "type": "engine", "station": "Central", "location": HELSINKI}
    return client.post("/api/v1/units", json=body, headers=auth(token)).status_code


def _login(app: App, name: str) -> dict[str, str]:
    app.users.add(name, Role.FIELD_UNIT, None, actor="test")
    return auth(app.users.issue_token(name, label="t", actor="t", ttl=None))


def _status(client: TestClient, h: dict[str, str], uid: str) -> int:
    r = client.post(f"/api/v1/units/{uid}/status", json={"status": "out_of_service"}, headers=h)
    return r.status_code


def test_unit_ids_differing_only_in_case_are_refused(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    sup = tokens[Role.SUPERVISOR]
    assert _unit(client, sup, "E1") == 201
    assert _unit(client, sup, "e1") == 409
    e1 = _login(app, "e1")
    assert _status(client, e1, "E1") == 200
    assert _status(client, e1, "e1") == 404


def test_login_binds_to_neither_of_two_case_twins(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    # An old log may hold both; the CAD itself is asked directly to recreate that.
    for uid in ("E1", "e1"):
        app.cad.register_unit(
            actor="old",
            unit_id=UnitId(uid),
            callsign=None,
            type="engine",
            station=None,
            location=None,
        )
    e1 = _login(app, "e1")
    assert _status(client, e1, "E1") == 403
    assert _status(client, e1, "e1") == 403
    fix = {"unit_id": "e1", "location": HELSINKI}
    r = client.post("/api/v1/units/positions", json={"fixes": [fix]}, headers=e1)
    assert r.status_code == 403
    # A dispatcher is not bound to a unit and still can.
    assert _status(client, auth(tokens[Role.DISPATCHER]), "E1") == 200


def test_access_token_is_accepted_only_by_the_live_feed(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    token = tokens[Role.SUPERVISOR]
    assert client.get(f"/api/v1/incidents?access_token={token}").status_code == 401
    assert client.get(f"/api/v1/auth/me?access_token={token}").status_code == 401
    assert client.get("/api/v1/incidents", headers=auth(token)).status_code == 200
    # The live feed still takes it (EventSource cannot send headers); a wrong role is refused.
    assert client.get(f"/api/v1/live?access_token={tokens[Role.AUDITOR]}").status_code == 403
    spec = client.get("/openapi.json").json()
    with_query_token = sorted(
        path
        for path, item in spec["paths"].items()
        for op in item.values()
        if any(p["name"] == "access_token" for p in op.get("parameters", []))
    )
    assert with_query_token == ["/api/v1/live"]
