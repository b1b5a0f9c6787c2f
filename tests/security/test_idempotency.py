"""Item 4: idempotency keys are scoped by caller and endpoint and bound to the request.

Attacks (before): a key used by one user on one endpoint made another user's
different command answer 200 "replayed" while doing nothing; reusing a key on
another endpoint gave a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role

HELSINKI = {"lat": 60.1699, "lon": 24.9384}
CALL = {"nature": "fire in a shed", "incident_type": "structure_fire", "location": HELSINKI}
KEY = "shared-key-0001"


def _post(client: TestClient, path: str, token: str, body: dict[str, Any], key: str = KEY) -> Any:
    return client.post(path, json=body, headers=auth(token, **{"Idempotency-Key": key}))


def test_another_callers_command_with_the_same_key_takes_effect(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    first = _post(client, "/api/v1/calls", tokens[Role.CALL_TAKER], CALL)
    assert first.status_code == 201
    other = _post(client, "/api/v1/calls", tokens[Role.DISPATCHER], {**CALL, "nature": "flood"})
    assert other.status_code == 201, other.text
    assert other.headers.get("Idempotent-Replayed") is None
    assert other.json()["call"]["nature"] == "flood"
    assert other.json()["incident"]["id"] != first.json()["incident"]["id"]
    assert len(app.cad.incidents()) == 2


def test_the_same_request_is_replayed(client: TestClient, tokens: dict[Role, str]) -> None:
    first = _post(client, "/api/v1/calls", tokens[Role.CALL_TAKER], CALL)
    # Key order and spacing do not make a different request.
    again = client.post(
        "/api/v1/calls",
        content='{"location": {"lon": 24.9384, "lat": 60.1699}, "incident_type": "structure_fire",'
        '  "nature": "fire in a shed"}',
        headers=auth(
            tokens[Role.CALL_TAKER],
            **{"Idempotency-Key": KEY, "Content-Type": "application/json"},
        ),
    )
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["call"]["id"] == first.json()["call"]["id"]


def test_a_reused_key_with_another_body_is_422(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    assert _post(client, "/api/v1/calls", tokens[Role.CALL_TAKER], CALL).status_code == 201
    r = _post(client, "/api/v1/calls", tokens[Role.CALL_TAKER], {**CALL, "nature": "other"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "Idempotency-Key"
    assert len(app.cad.incidents()) == 1


def test_a_key_reused_on_another_endpoint_is_another_command(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    token = tokens[Role.SUPERVISOR]
    call = _post(client, "/api/v1/calls", token, CALL)
    assert call.status_code == 201
    inc = call.json()["incident"]["id"]
    note = _post(client, f"/api/v1/incidents/{inc}/notes", token, {"text": "smoke seen"})
    assert note.status_code == 201, note.text
    assert note.json()["type"] == "incident.note_added"
    opened = _post(
        client, "/api/v1/incidents", token, {"type": "structure_fire", "location": HELSINKI}
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["id"] != inc
    # The same key on the same endpoint but another incident is another request: 422.
    other = opened.json()["id"]
    r = _post(client, f"/api/v1/incidents/{other}/notes", token, {"text": "smoke seen"})
    assert r.status_code == 422, r.text
