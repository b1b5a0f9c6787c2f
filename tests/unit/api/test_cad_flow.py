"""The whole call -> incident -> assign -> en route -> on scene -> close flow, and its refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.clock import ManualClock

HELSINKI = {"lat": 60.1699, "lon": 24.9384}


@pytest.fixture
def h(tokens: dict[Role, str]) -> dict[str, dict[str, str]]:
    return {
        "taker": auth(tokens[Role.CALL_TAKER]),
        "disp": auth(tokens[Role.DISPATCHER]),
        "sup": auth(tokens[Role.SUPERVISOR]),
        "audit": auth(tokens[Role.AUDITOR]),
        "analyst": auth(tokens[Role.ANALYST]),
    }


@pytest.fixture
def fleet(client: TestClient, h: dict[str, dict[str, str]]) -> list[str]:
    ids = []
    for uid, kind in (("E1", "engine"), ("M1", "medic_als"), ("P1", "patrol")):
        r = client.post(
            "/api/v1/units",
            json={"id": uid, "type": kind, "station": "Central", "location": HELSINKI},
            headers=h["sup"],
        )
        assert r.status_code == 201, r.text
        ids.append(uid)
    return ids


def _problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    if field is not None:
        assert body.get("field") == field, body
    return body


def _call(client: TestClient, h: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "nature": "man collapsed, not breathing",
        "incident_type": "cardiac_arrest",
        "location": HELSINKI,
        "accuracy_m": 15,
        "caller_name": "Test Caller",
        "caller_phone": "+358 40 000 0000",
        **extra,
    }
    r = client.post("/api/v1/calls", json=body, headers=h)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def test_full_flow(
    client: TestClient, h: dict[str, dict[str, str]], fleet: list[str], clock: ManualClock
) -> None:
    created = _call(client, h["taker"])
    inc = created["incident"]
    assert created["opened_incident"] is True
    assert inc["status"] == "pending"
    assert inc["priority"] == 1
    assert inc["agency"] == "ems"
    assert "caller_name" not in created["call"]

    second = _call(client, h["taker"], incident_id=inc["id"], nature="neighbour calling too")
    assert second["opened_incident"] is False
    assert len(second["incident"]["call_ids"]) == 2

    clock.advance(45)
    r = client.post(
        f"/api/v1/incidents/{inc['id']}/assignments",
        json={"unit_ids": ["M1", "E1"]},
        headers=h["disp"],
    )
    assert r.json()["status"] == "dispatched"
    for uid, status in (("M1", "en_route"), ("E1", "en_route"), ("M1", "on_scene")):
        clock.advance(60)
        r = client.post(f"/api/v1/units/{uid}/status", json={"status": status}, headers=h["disp"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    assert (
        client.get(f"/api/v1/incidents/{inc['id']}", headers=h["disp"]).json()["status"]
        == "on_scene"
    )

    r = client.post(
        "/api/v1/units/positions",
        json={"fixes": [{"unit_id": "E1", "location": {"lat": 60.17, "lon": 24.94}}]},
        headers=h["disp"],
    )
    assert r.json() == {"recorded": 1}
    assert client.get("/api/v1/units/E1", headers=h["disp"]).json()["location"]["lat"] == 60.17

    for status in ("transporting", "at_hospital", "available"):
        clock.advance(300)
        r = client.post("/api/v1/units/M1/status", json={"status": status}, headers=h["disp"])
        assert r.status_code == 200, r.text
    incident = client.get(f"/api/v1/incidents/{inc['id']}", headers=h["disp"]).json()
    assert incident["unit_ids"] == ["E1"]

    r = client.post(
        f"/api/v1/incidents/{inc['id']}/close",
        json={"disposition": "transported"},
        headers=h["disp"],
    )
    closed = r.json()
    assert closed["status"] == "closed"
    assert closed["unit_ids"] == []
    assert closed["units_ever"] == ["M1", "E1"]
    units = {u["id"]: u for u in client.get("/api/v1/units", headers=h["disp"]).json()}
    assert units["E1"]["status"] == "available"
    assert units["E1"]["incident_id"] is None

    timeline = client.get(f"/api/v1/incidents/{inc['id']}/timeline", headers=h["analyst"]).json()
    kinds = [e["type"] for e in timeline]
    assert kinds[:2] == ["incident.opened", "call.received"]
    assert kinds.count("unit.assigned") == 2
    assert kinds[-1] == "incident.closed"
    assert {e["actor"] for e in timeline} == {"call-taker", "dispatcher"}
    assert all("caller" not in str(e["data"]).lower() for e in timeline)
    times = [e["at"] for e in timeline]
    assert times == sorted(times)


def test_listing_filters(
    client: TestClient, h: dict[str, dict[str, str]], clock: ManualClock
) -> None:
    a = _call(client, h["taker"])["incident"]
    clock.advance(3600)
    b = _call(
        client, h["taker"], incident_type="disturbance", location={"lat": 60.20, "lon": 24.90}
    )["incident"]
    all_ids = [i["id"] for i in client.get("/api/v1/incidents", headers=h["disp"]).json()]
    assert all_ids == [a["id"], b["id"]]  # priority 1 before priority 4
    near = client.get(
        "/api/v1/incidents", params={"bbox": "24.93,60.16,24.95,60.18"}, headers=h["disp"]
    ).json()
    assert [i["id"] for i in near] == [a["id"]]
    later = client.get(
        "/api/v1/incidents", params={"since": b["opened_at"]}, headers=h["disp"]
    ).json()
    assert [i["id"] for i in later] == [b["id"]]
    client.post(
        f"/api/v1/incidents/{a['id']}/cancel", json={"reason": "duplicate"}, headers=h["disp"]
    )
    active = client.get("/api/v1/incidents", params={"active": "true"}, headers=h["disp"]).json()
    assert [i["id"] for i in active] == [b["id"]]
    cancelled = client.get(
        "/api/v1/incidents", params={"status": "cancelled"}, headers=h["disp"]
    ).json()
    assert [i["id"] for i in cancelled] == [a["id"]]
    _problem(
        client.get("/api/v1/incidents", params={"bbox": "1,2,3"}, headers=h["disp"]), 422, "bbox"
    )
    _problem(
        client.get("/api/v1/incidents", params={"since": "2026-01-01T00:00:00"}, headers=h["disp"]),
        422,
        "since",
    )


def test_refusals(client: TestClient, h: dict[str, dict[str, str]], fleet: list[str]) -> None:
    inc = _call(client, h["taker"])["incident"]
    url = f"/api/v1/incidents/{inc['id']}"
    # Malformed and impossible input.
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x", "location": {"lat": 91, "lon": 0}},
            headers=h["taker"],
        ),
        422,
        "location.lat",
    )
    _problem(
        client.post("/api/v1/calls", json={"nature": "x"}, headers=h["taker"]), 422, "location"
    )
    _problem(
        client.post(
            "/api/v1/calls", json={"nature": "x", "location": HELSINKI}, headers=h["taker"]
        ),
        422,
        "incident_type",
    )
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x", "location": HELSINKI, "incident_type": "alien"},
            headers=h["taker"],
        ),
        422,
        "type",
    )
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x", "location": HELSINKI, "bogus": 1},
            headers=h["taker"],
        ),
        422,
        "bogus",
    )
    _problem(
        client.post(
            "/api/v1/calls",
            content=b"{not json",
            headers={**h["taker"], "content-type": "application/json"},
        ),
        422,
    )
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x", "location": HELSINKI, "received_at": "2026-06-01T08:00:00"},
            headers=h["taker"],
        ),
        422,
        "received_at",
    )
    # Unknown records.
    _problem(client.get("/api/v1/incidents/INC-nope", headers=h["disp"]), 404, "incident_id")
    _problem(
        client.post(f"{url}/assignments", json={"unit_ids": ["X9"]}, headers=h["disp"]),
        404,
        "unit_id",
    )
    # Illegal transitions.
    _problem(
        client.post("/api/v1/units/E1/status", json={"status": "on_scene"}, headers=h["disp"]),
        409,
        "status",
    )
    _problem(
        client.post("/api/v1/units/E1/status", json={"status": "dispatched"}, headers=h["disp"]),
        409,
        "status",
    )
    client.post("/api/v1/units/P1/status", json={"status": "out_of_service"}, headers=h["disp"])
    _problem(
        client.post(f"{url}/assignments", json={"unit_ids": ["P1"]}, headers=h["disp"]),
        409,
        "unit_ids",
    )
    client.post(f"{url}/assignments", json={"unit_ids": ["E1"]}, headers=h["disp"])
    other = _call(client, h["taker"], incident_type="medical")["incident"]
    _problem(
        client.post(
            f"/api/v1/incidents/{other['id']}/assignments",
            json={"unit_ids": ["E1"]},
            headers=h["disp"],
        ),
        409,
        "unit_ids",
    )
    _problem(
        client.post(f"{url}/close", json={"disposition": " "}, headers=h["disp"]),
        422,
        "disposition",
    )
    client.post(f"{url}/close", json={"disposition": "done"}, headers=h["disp"])
    _problem(
        client.post(f"{url}/close", json={"disposition": "done"}, headers=h["disp"]), 409, "status"
    )
    _problem(client.post(f"{url}/cancel", json={"reason": "x"}, headers=h["disp"]), 409, "status")
    _problem(
        client.post(f"{url}/assignments", json={"unit_ids": ["M1"]}, headers=h["disp"]),
        409,
        "incident_id",
    )
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x", "location": HELSINKI, "incident_id": inc["id"]},
            headers=h["taker"],
        ),
        409,
        "incident_id",
    )
    # Reopen is for supervisors; then the incident takes calls again.
    _problem(
        client.post(f"{url}/reopen", json={"reason": "caller rang back"}, headers=h["disp"]), 403
    )
    assert (
        client.post(f"{url}/reopen", json={"reason": "caller rang back"}, headers=h["sup"]).json()[
            "status"
        ]
        == "pending"
    )
    # Nothing refused left a trace: the chain is intact and only accepted changes are logged.
    verdict = client.get("/api/v1/audit/verify", headers=h["audit"]).json()
    assert verdict == {"intact": True, "breaks": []}


def test_idempotency_key_repeats_no_effect(
    client: TestClient, h: dict[str, dict[str, str]], app: App
) -> None:
    key = {"Idempotency-Key": "call-7f3a-0001"}
    first = client.post(
        "/api/v1/calls",
        json={"nature": "fire", "incident_type": "structure_fire", "location": HELSINKI},
        headers={**h["taker"], **key},
    )
    seq = app.store.last_seq()
    again = client.post(
        "/api/v1/calls",
        json={"nature": "fire", "incident_type": "structure_fire", "location": HELSINKI},
        headers={**h["taker"], **key},
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["incident"]["id"] == first.json()["incident"]["id"]
    assert app.store.last_seq() == seq
    _problem(
        client.post(
            "/api/v1/calls",
            json={"nature": "x"},
            headers={**h["taker"], "Idempotency-Key": "bad key!"},
        ),
        422,
        "Idempotency-Key",
    )


def test_personal_data_needs_a_purpose_and_is_audited(
    client: TestClient, h: dict[str, dict[str, str]], app: App, clock: ManualClock
) -> None:
    call = _call(client, h["taker"])["call"]
    url = f"/api/v1/calls/{call['id']}/caller"
    _problem(client.get(url, headers=h["disp"]), 422, "X-Vigil-Purpose")
    _problem(client.get(url, headers={**h["analyst"], "X-Vigil-Purpose": "statistics"}), 403)
    r = client.get(url, headers={**h["disp"], "X-Vigil-Purpose": "call back: line dropped"})
    assert r.json()["caller_phone"] == "+358 40 000 0000"
    entries = client.get("/api/v1/audit/entries", headers=h["audit"]).json()
    assert entries[0]["actor"] == "dispatcher"
    assert entries[0]["subject"] == f"call/{call['id']}"
    assert entries[0]["purpose"] == "call back: line dropped"
    # After the retention period the identity is purged, and that is audited too.
    clock.advance(91 * 86400)
    assert app.access.purge_expired() == [call["id"]]
    _problem(client.get(url, headers={**h["disp"], "X-Vigil-Purpose": "call back again"}), 404)
    actions = [e["action"] for e in client.get("/api/v1/audit/entries", headers=h["audit"]).json()]
    assert actions[:2] == ["read_caller_missing", "purge_personal_data"]


def test_login_and_openapi(client: TestClient, tokens: dict[Role, str]) -> None:
    r = client.post(
        "/api/v1/auth/login", json={"username": "dispatcher", "password": "correct horse battery"}
    )
    assert r.status_code == 200
    token = r.json()["token"]
    assert client.get("/api/v1/auth/me", headers=auth(token)).json() == {
        "name": "dispatcher",
        "role": "dispatcher",
    }
    _problem(
        client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": "wrong one"}),
        401,
    )
    _problem(
        client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong one"}), 401
    )
    _problem(
        client.get("/api/v1/units", headers={"Authorization": "Basic abc"}), 401, "Authorization"
    )
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/calls" in doc["paths"]


def test_oversized_bodies_are_refused(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    big = {
        "nature": "x",
        "notes": "n" * 3_000_000,
        "location": HELSINKI,
        "incident_type": "medical",
    }
    body = _problem(client.post("/api/v1/calls", json=big, headers=h["taker"]), 413, "body")
    assert "exceeds the limit" in body["detail"]

    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 100_000

    streamed = client.post(
        "/api/v1/calls",
        content=chunks(),
        headers={**h["taker"], "content-type": "application/json"},
    )
    _problem(streamed, 413, "body")


def test_incidents_carry_short_numbers_and_are_found_by_them(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    opened = []
    for nature, address in (("smoke", "Mannerheimintie 10"), ("fall", "Aleksanterinkatu 3")):
        r = client.post(
            "/api/v1/calls",
            json={
                "nature": nature,
                "incident_type": "medical",
                "location": HELSINKI,
                "address": address,
            },
            headers=h["taker"],
        )
        assert r.status_code == 201, r.text
        opened.append(r.json()["incident"])
    first, second = (i["number"] for i in opened)
    year = first.split("-")[0]
    assert (first, second) == (f"{year}-000001", f"{year}-000002")
    assert (
        client.get(f"/api/v1/incidents/{opened[1]['id']}", headers=h["disp"]).json()["number"]
        == second
    )

    def search(q: str) -> list[str]:
        r = client.get("/api/v1/incidents", params={"q": q}, headers=h["disp"])
        assert r.status_code == 200, r.text
        return [i["number"] for i in r.json()]

    assert search(second) == [second]
    assert search("2") == [second]  # the sequence alone
    assert search("aleksanterinkatu") == [second]
    assert sorted(search("medical")) == [first, second]
    assert search("99-000001") == []
