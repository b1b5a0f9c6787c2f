"""HTTP: device registry, observations with device tokens, NGSI-LD, stats, dead letters."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.unit.ingest.conftest import TS
from vigil.app import App
from vigil.audit.roles import Role

NOISE = {
    "id": "nm-1",
    "kind": "noise_meter",
    "lat": 60.1699,
    "lon": 24.9384,
    "zone": "market",
    "site": "hel",
    "interval_s": 60,
}


@pytest.fixture
def device_token(client: TestClient, tokens: dict[Role, str]) -> str:
    r = client.post("/api/v1/devices", json=NOISE, headers=auth(tokens[Role.SUPERVISOR]))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["device"]["streams"] == {"laeq": "dB(A)", "lamax": "dB(A)", "alert": "level"}
    assert body["device"]["state"] == "unknown"
    token: str = body["token"]
    return token


def test_device_posts_its_observations(
    client: TestClient, tokens: dict[Role, str], device_token: str, app: App
) -> None:
    obs = {"device_id": "nm-1", "stream": "laeq", "seq": 1, "ts": TS, "value": 62.5, "unit": "dBA"}
    r = client.post("/api/v1/observations", json=obs, headers=auth(device_token))
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 1, "duplicates": 0, "rejected": []}
    r = client.post("/api/v1/observations", json=obs, headers=auth(device_token))
    assert r.json() == {"stored": 0, "duplicates": 1, "rejected": []}
    batch = {
        "observations": [
            {**obs, "seq": 2},
            {**obs, "seq": 3, "value": 900},
        ]
    }
    r = client.post("/api/v1/observations", json=batch, headers=auth(device_token))
    assert r.status_code == 200
    assert r.json()["stored"] == 1
    assert r.json()["rejected"][0]["reason"] == "out_of_range"
    assert r.json()["rejected"][0]["field"] == "observations[1].value"

    r = client.get("/api/v1/devices/nm-1", headers=auth(tokens[Role.DISPATCHER]))
    assert r.status_code == 200
    assert r.json()["state"] == "online"
    assert r.json()["latest"][0]["value"] == 62.5
    assert app.ingest.observations.count() == 2


def test_bad_observation_is_a_problem_naming_the_field(
    client: TestClient, device_token: str
) -> None:
    obs = {"device_id": "nm-1", "stream": "laeq", "seq": 1, "ts": TS, "value": "loud"}
    r = client.post("/api/v1/observations", json=obs, headers=auth(device_token))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "value"
    r = client.post("/api/v1/observations", content=b"{nope", headers=auth(device_token))
    assert r.status_code == 422


def test_a_device_may_only_post_its_own(
    client: TestClient, tokens: dict[Role, str], device_token: str
) -> None:
    other = {**NOISE, "id": "nm-2"}
    assert client.post("/api/v1/devices", json=other, headers=auth(tokens[Role.ADMIN])).is_success
    obs = {"device_id": "nm-2", "stream": "laeq", "seq": 1, "ts": TS, "value": 50}
    r = client.post("/api/v1/observations", json=obs, headers=auth(device_token))
    assert r.status_code == 403
    r = client.get("/api/v1/ingest/stats", headers=auth(tokens[Role.ANALYST]))
    assert r.json()["by_reason"] == {"forbidden": 1}
    r = client.get("/api/v1/ingest/dead-letters", headers=auth(tokens[Role.SUPERVISOR]))
    (letter,) = r.json()
    assert letter["reason"] == "forbidden"
    assert '"nm-2"' in letter["raw"]


def test_oversized_body_is_dead_lettered(
    client: TestClient, tokens: dict[Role, str], device_token: str, app: App
) -> None:
    big = b'{"x": "' + b"a" * (app.settings.ingest.max_payload_bytes + 10) + b'"}'
    r = client.post("/api/v1/observations", content=big, headers=auth(device_token))
    assert r.status_code == 422
    assert app.ingest.stats().by_reason == {"oversized": 1}


def test_redefining_rotates_the_token(
    client: TestClient, tokens: dict[Role, str], device_token: str
) -> None:
    r = client.post(
        "/api/v1/devices", json={**NOISE, "zone": "pier"}, headers=auth(tokens[Role.SUPERVISOR])
    )
    assert r.status_code == 201
    obs = {"device_id": "nm-1", "stream": "laeq", "seq": 1, "ts": TS, "value": 50}
    assert (
        client.post("/api/v1/observations", json=obs, headers=auth(device_token)).status_code == 401
    )
    new = auth(r.json()["token"])
    assert client.post("/api/v1/observations", json=obs, headers=new).status_code == 200
    r = client.get("/api/v1/devices?zone=pier", headers=auth(tokens[Role.FIELD_UNIT]))
    assert [d["id"] for d in r.json()] == ["nm-1"]


def test_invalid_device_definition(client: TestClient, tokens: dict[Role, str]) -> None:
    h = auth(tokens[Role.SUPERVISOR])
    r = client.post("/api/v1/devices", json={**NOISE, "lat": 95}, headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/devices", json={**NOISE, "streams": {"laeq": "cm"}}, headers=h)
    assert r.status_code == 422
    assert r.json()["field"] == "streams"
    r = client.post("/api/v1/devices", json={**NOISE, "id": "bad/id"}, headers=h)
    assert r.status_code == 422


def test_ngsi_notification(
    client: TestClient, tokens: dict[Role, str], device_token: str, app: App
) -> None:
    # A context broker is a gateway: one credential for the devices it covers.
    r = client.post(
        "/api/v1/gateways",
        json={"id": "orion", "devices": ["nm-1"]},
        headers=auth(tokens[Role.SUPERVISOR]),
    )
    assert r.status_code == 201, r.text
    broker = auth(r.json()["token"])
    note = {
        "id": "urn:ngsi-ld:Notification:1",
        "type": "Notification",
        "subscriptionId": "urn:ngsi-ld:Subscription:noise",
        "notifiedAt": "2026-06-01T08:00:01Z",
        "data": [
            {
                "id": "urn:ngsi-ld:NoiseLevelObserved:nm-1",
                "type": "NoiseLevelObserved",
                "LAeq": {"type": "Property", "value": 64.2, "unitCode": "2N"},
                "dateObservedTo": {
                    "type": "Property",
                    "value": {"@type": "DateTime", "@value": "2026-06-01T07:59:00Z"},
                },
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [24.9384, 60.1699]},
                },
            },
            {"id": "urn:x:CrowdFlowObserved:nm-1", "type": "Parking", "dateObserved": TS},
        ],
    }
    r = client.post("/api/v1/ngsi-ld/notify", json=note, headers=broker)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1
    assert r.json()["rejected"][0]["reason"] == "unsupported_entity"
    (value,) = app.ingest.observations.latest("nm-1")
    assert (value.stream, value.value) == ("laeq", 64.2)
    r = client.post("/api/v1/ngsi-ld/notify", json=note, headers=broker)
    assert r.json()["duplicates"] == 1
