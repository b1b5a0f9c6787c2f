"""Item 10 (rest) and the device-login binding of item 3, over HTTP.

Attack (before): a context broker logged in as any ``device``-role login that
was not itself a device, and such a login could report for *every* registered
device; the official examples' entities could only be mapped by their own ids.

After: a context broker (Orion-LD, Scorpio) is registered as a gateway with the
devices its subscription covers, one credential for all of them; it may report
for those only (403 otherwise), and so may a device login only for itself. The
settings may map an entity id to a device explicitly (``ingest.ngsi_entities``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock

EXAMPLES = Path(__file__).parents[1] / "unit" / "ingest" / "smart_data_models"
NOISE_URN = (
    "urn:ngsi-ld:NoiseLevelObserved:Vitoria-NoiseLevelObserved-2016-12-28T11:00:00_"
    "2016-12-28T12:00:00"
)


def _device(ident: str) -> dict[str, Any]:
    return {"id": ident, "kind": "noise_meter", "lat": 42.85, "lon": -2.70, "interval_s": 3600}


def _note(*entities: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:Notification:1",
        "type": "Notification",
        "subscriptionId": "urn:ngsi-ld:Subscription:noise",
        "notifiedAt": "2016-12-28T12:00:01Z",
        "data": list(entities),
    }


def _example(name: str) -> dict[str, Any]:
    entity: dict[str, Any] = json.loads((EXAMPLES / name).read_text("utf-8"))
    return entity


@pytest.fixture
def mapped(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[App, TestClient, dict[str, str]]]:
    """An app whose settings map the official NoiseLevelObserved entity to device vitoria-1."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        ingest={"ngsi_entities": {NOISE_URN: "vitoria-1"}, "max_future_s": 1e12},
    )
    app = build(settings, clock=clock)
    try:
        app.users.add("sup", Role.SUPERVISOR, None, actor="test")
        sup = auth(app.users.issue_token("sup", label="t", actor="t", ttl=None))
        with TestClient(create_api(app)) as client:
            for ident in ("vitoria-1", "vitoria-2", "elsewhere"):
                r = client.post("/api/v1/devices", json=_device(ident), headers=sup)
                assert r.status_code == 201, r.text
            yield app, client, sup
    finally:
        app.close()


Mapped = tuple[App, TestClient, dict[str, str]]


def _gateway(client: TestClient, sup: dict[str, str], devices: list[str]) -> dict[str, str]:
    r = client.post("/api/v1/gateways", json={"id": "orion-ld", "devices": devices}, headers=sup)
    assert r.status_code == 201, r.text
    assert r.json()["gateway"] == {
        "id": "orion-ld",
        "login": "gateway-orion-ld",
        "devices": sorted(devices),
        "label": "",
    }
    return auth(r.json()["token"])


@pytest.mark.parametrize(
    "name", ["NoiseLevelObserved.example.jsonld", "NoiseLevelObserved.example-normalized.jsonld"]
)
def test_a_configured_mapping_names_the_device_of_an_official_entity(
    mapped: Mapped, name: str
) -> None:
    app, client, sup = mapped
    entity = _example(name)
    assert entity["id"] == NOISE_URN and "refDevice" not in entity
    broker = _gateway(client, sup, ["vitoria-1"])
    r = client.post("/api/v1/ngsi-ld/notify", json=_note(entity), headers=broker)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] >= 1
    assert {v.device_id for v in app.ingest.observations.latest()} == {"vitoria-1"}


def test_the_mapping_wins_over_ref_device(mapped: Mapped) -> None:
    app, client, sup = mapped
    entity = {**_example("NoiseLevelObserved.example.jsonld"), "refDevice": "vitoria-2"}
    broker = _gateway(client, sup, ["vitoria-1", "vitoria-2"])
    r = client.post("/api/v1/ngsi-ld/notify", json=_note(entity), headers=broker)
    assert r.status_code == 200, r.text
    assert {v.device_id for v in app.ingest.observations.latest()} == {"vitoria-1"}


def test_one_broker_credential_is_scoped_to_its_subscriptions_devices(mapped: Mapped) -> None:
    app, client, sup = mapped
    broker = _gateway(client, sup, ["vitoria-1", "vitoria-2"])
    kv = _example("NoiseLevelObserved.example.jsonld")
    covered = {**kv, "id": "urn:ngsi-ld:NoiseLevelObserved:vitoria-2"}
    outside = {**kv, "id": "urn:ngsi-ld:NoiseLevelObserved:elsewhere"}
    # Every device it covers with the one token ...
    r = client.post("/api/v1/ngsi-ld/notify", json=_note(kv, covered), headers=broker)
    assert r.status_code == 200, r.text
    # ... none outside: alone 403, mixed in a notification refused item by item.
    r = client.post("/api/v1/ngsi-ld/notify", json=_note(outside), headers=broker)
    assert r.status_code == 403, r.text
    r = client.post(
        "/api/v1/ngsi-ld/notify",
        json=_note({**covered, "dateObservedTo": "2016-12-28T12:30:00Z"}, outside),
        headers=broker,
    )
    assert r.status_code == 200, r.text
    assert [x["reason"] for x in r.json()["rejected"]] == ["forbidden"] * len(r.json()["rejected"])
    assert r.json()["rejected"]
    assert "elsewhere" not in {v.device_id for v in app.ingest.observations.latest()}
    # Rescoping takes effect at once; the old token is revoked by the new registration.
    old = broker
    broker = _gateway(client, sup, ["elsewhere"])
    r = client.post("/api/v1/ngsi-ld/notify", json=_note(outside), headers=broker)
    assert r.status_code == 200, r.text
    assert client.post("/api/v1/ngsi-ld/notify", json=_note(kv), headers=old).status_code == 401
    assert client.get("/api/v1/gateways", headers=sup).json()[0]["devices"] == ["elsewhere"]


def test_a_gateway_may_only_cover_registered_devices(mapped: Mapped) -> None:
    _, client, sup = mapped
    r = client.post("/api/v1/gateways", json={"id": "gw", "devices": ["ghost"]}, headers=sup)
    assert r.status_code == 422 and r.json()["field"] == "devices", r.text


def test_a_device_login_reports_only_for_its_device(mapped: Mapped, clock: ManualClock) -> None:
    _, client, sup = mapped
    token = client.post("/api/v1/devices", json=_device("vitoria-1"), headers=sup).json()["token"]
    reading = {"stream": "laeq", "seq": 1, "ts": clock.now().isoformat(), "value": 60.0}
    own = {**reading, "device_id": "vitoria-1"}
    other = {**reading, "device_id": "vitoria-2"}
    assert client.post("/api/v1/observations", json=own, headers=auth(token)).status_code == 200
    r = client.post("/api/v1/observations", json=other, headers=auth(token))
    assert r.status_code == 403, r.text
    r = client.post(
        "/api/v1/ngsi-ld/notify",
        json=_note(
            {
                **_example("NoiseLevelObserved.example.jsonld"),
                "id": "urn:ngsi-ld:NoiseLevelObserved:x",
                "refDevice": "vitoria-2",
            }
        ),
        headers=auth(token),
    )
    assert r.status_code == 403, r.text


def test_a_hand_made_device_role_login_reports_for_no_device(
    mapped: Mapped, clock: ManualClock
) -> None:
    """Before: any device-role login that was not a device could report for every device."""
    app, client, _ = mapped
    app.users.add("orion", Role.DEVICE, None, actor="test")
    token = auth(app.users.issue_token("orion", label="t", actor="t", ttl=None))
    reading = {"device_id": "vitoria-1", "stream": "laeq", "seq": 1, "value": 60.0}
    r = client.post(
        "/api/v1/observations", json={**reading, "ts": clock.now().isoformat()}, headers=token
    )
    assert r.status_code == 403, r.text
    note = _note(_example("NoiseLevelObserved.example.jsonld"))
    assert client.post("/api/v1/ngsi-ld/notify", json=note, headers=token).status_code == 403
    assert not app.ingest.observations.latest()
