"""Item 5: reopen is only for closed or cancelled incidents.

Attack (before): reopening a *dispatched* incident put it back to pending with
its unit still assigned.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.audit.roles import Role

HELSINKI = {"lat": 60.1699, "lon": 24.9384}


def test_reopen_refuses_a_dispatched_incident(client: TestClient, tokens: dict[Role, str]) -> None:
    sup = auth(tokens[Role.SUPERVISOR])
    unit = {"id": "E1", "type": "engine", "station": "Central", "location": HELSINKI}
    assert client.post("/api/v1/units", json=unit, headers=sup).status_code == 201
    call = {"nature": "fire", "incident_type": "structure_fire", "location": HELSINKI}
    inc = client.post("/api/v1/calls", json=call, headers=sup).json()["incident"]["id"]
    r = client.post(f"/api/v1/incidents/{inc}/assignments", json={"unit_ids": ["E1"]}, headers=sup)
    assert r.status_code == 200 and r.json()["status"] == "dispatched", r.text

    r = client.post(f"/api/v1/incidents/{inc}/reopen", json={"reason": "why not"}, headers=sup)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    after = client.get(f"/api/v1/incidents/{inc}", headers=sup).json()
    assert after["status"] == "dispatched" and after["unit_ids"] == ["E1"]

    # A closed incident still can be reopened.
    close = {"disposition": "extinguished"}
    assert client.post(f"/api/v1/incidents/{inc}/close", json=close, headers=sup).status_code == 200
    r = client.post(f"/api/v1/incidents/{inc}/reopen", json={"reason": "rekindled"}, headers=sup)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["unit_ids"] == []
