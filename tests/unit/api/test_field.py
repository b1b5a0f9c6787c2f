"""The field unit API: a crew's picture in one read; notes only on its own incident."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, auth
from vigil.app import App
from vigil.audit.roles import Role

HELSINKI = {"lat": 60.1699, "lon": 24.9384}


@pytest.fixture
def crew(app: App, client: TestClient, tokens: dict[Role, str]) -> dict[str, str]:
    sup = auth(tokens[Role.SUPERVISOR])
    for uid, kind in (("M1", "medic_als"), ("E1", "engine")):
        r = client.post(
            "/api/v1/units",
            json={"id": uid, "type": kind, "station": "Central", "location": HELSINKI},
            headers=sup,
        )
        assert r.status_code == 201, r.text
        app.users.add(uid.lower(), Role.FIELD_UNIT, PASSWORD, actor="test")
    return {
        uid: app.users.issue_token(uid.lower(), label="t", actor="t", ttl=None)
        for uid in ("M1", "E1")
    }


def test_a_crew_reads_its_assignment_and_notes_on_it(
    client: TestClient, tokens: dict[Role, str], crew: dict[str, str]
) -> None:
    m1 = auth(crew["M1"])
    idle = client.get("/api/v1/field/units/M1", headers=m1).json()
    assert idle["incident"] is None
    assert idle["may_report"] == ["out_of_service"]
    assert idle["avl_interval_s"] == 10.0
    assert (
        client.post("/api/v1/field/units/M1/notes", json={"text": "x"}, headers=m1).status_code
        == 409
    )

    disp = auth(tokens[Role.DISPATCHER])
    r = client.post(
        "/api/v1/calls",
        json={
            "nature": "fall",
            "incident_type": "medical",
            "location": HELSINKI,
            "address": "Mannerheimintie 1",
        },
        headers=disp,
    )
    inc = r.json()["incident"]
    r = client.post(
        f"/api/v1/incidents/{inc['id']}/assignments", json={"unit_ids": ["M1", "E1"]}, headers=disp
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/field/units/M1/notes",
        json={"text": "patient conscious"},
        headers={**m1, "Idempotency-Key": "field-note-1"},
    )
    assert r.status_code == 201, r.text
    again = client.post(
        "/api/v1/field/units/M1/notes",
        json={"text": "patient conscious"},
        headers={**m1, "Idempotency-Key": "field-note-1"},
    )
    assert again.headers.get("Idempotent-Replayed") == "true"

    view = client.get("/api/v1/field/units/M1", headers=m1).json()
    assert view["incident"]["number"] == inc["number"]
    assert view["incident"]["address"] == "Mannerheimintie 1"
    assert sorted(view["may_report"]) == ["available", "en_route", "on_scene"]
    assert [u["id"] for u in view["others"]] == ["E1"]
    assert [n["text"] for n in view["notes"]] == ["patient conscious"]  # once, not twice
    # This app has no road network: no route, and it says why.
    assert view["route"] is None
    assert view["route_problem"]


def test_a_crew_may_act_only_for_its_own_unit(client: TestClient, crew: dict[str, str]) -> None:
    m1 = auth(crew["M1"])
    r = client.get("/api/v1/field/units/E1", headers=m1)
    assert r.status_code == 403
    assert r.json()["field"] == "unit_id"
    assert (
        client.post("/api/v1/field/units/E1/notes", json={"text": "x"}, headers=m1).status_code
        == 403
    )
