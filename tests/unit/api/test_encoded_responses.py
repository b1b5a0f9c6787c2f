"""Responses the API writes itself are what FastAPI would have rendered from the models."""

from __future__ import annotations

import gzip

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.api.schemas import CallCreated, CallOut, IncidentOut
from vigil.app import App
from vigil.audit.roles import Role

HELSINKI = {"lat": 60.1699, "lon": 24.9384}


def test_call_created_is_the_models_json(
    client: TestClient, app: App, tokens: dict[Role, str]
) -> None:
    h = auth(tokens[Role.CALL_TAKER])
    for extra in ({}, {"caller_name": "Ann", "notes": 'ääkköset ja "lainaus"', "priority": 2}):
        body = {"nature": "fell", "incident_type": "medical", "location": HELSINKI, **extra}
        r = client.post("/api/v1/calls", json=body, headers=h)
        assert r.status_code == 201 and r.headers["content-type"] == "application/json"
        data = r.json()
        expected = CallCreated(
            call=CallOut.of(app.cad.call(data["call"]["id"])),
            incident=IncidentOut.of(app.cad.incident(data["incident"]["id"])),
            opened_incident=True,
        )
        assert r.content == expected.model_dump_json().encode()
    attach = client.post(
        "/api/v1/calls",
        json={"nature": "again", "location": HELSINKI, "incident_id": data["incident"]["id"]},
        headers=h,
    )
    assert attach.json()["opened_incident"] is False
    assert attach.content.endswith(b',"opened_incident":false}')
    assert "Idempotent-Replayed" not in attach.headers


def test_incident_list_is_the_same_json_gzipped_or_not(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    taker, disp = auth(tokens[Role.CALL_TAKER]), auth(tokens[Role.DISPATCHER])
    one = client.post(
        "/api/v1/calls",
        json={"nature": "a", "incident_type": "medical", "location": HELSINKI},
        headers=taker,
    ).json()
    small = client.get("/api/v1/incidents", params={"active": "true"}, headers=disp)
    assert "content-encoding" not in small.headers  # under the gzip threshold: as it is
    assert small.json() == [one["incident"]]
    for i in range(300):
        client.post(
            "/api/v1/calls",
            json={"nature": f"n{i}", "incident_type": "medical", "location": HELSINKI},
            headers=taker,
        )
    params = {"active": "true"}
    plain = client.get(
        "/api/v1/incidents", params=params, headers={**disp, "Accept-Encoding": "identity"}
    )
    packed = client.get(
        "/api/v1/incidents", params=params, headers={**disp, "Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding" == plain.headers["vary"]
    assert packed.content == plain.content  # decoded by the client
    assert len(plain.json()) == 301
    assert plain.json()[0] == one["incident"]  # the oldest first, among equal priorities
    # On the wire: within some per cent of compressing the whole list in one go.
    with client.stream(
        "GET", "/api/v1/incidents", params=params, headers={**disp, "Accept-Encoding": "gzip"}
    ) as raw:
        wire = b"".join(raw.iter_raw())
    assert gzip.decompress(wire) == plain.content
    assert len(wire) < 1.15 * len(gzip.compress(plain.content, compresslevel=1))
