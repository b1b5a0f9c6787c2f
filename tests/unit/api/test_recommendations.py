"""Recommendations with drive-time ETAs and routes on the real Helsinki road network."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, auth
from vigil.api.http import create_api
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.geometry import LatLon
from vigil.core.ids import UnitId
from vigil.geo import RoadNetwork

SCENE = LatLon(60.1685, 24.9440)  # near the Esplanadi, central Helsinki
FLEET = {
    "E1": ("engine", LatLon(60.1710, 24.9414)),
    "E2": ("engine", LatLon(60.1655, 24.9395)),
    "E3": ("engine", LatLon(60.1780, 24.9500)),
    "L1": ("ladder", LatLon(60.1660, 24.9490)),
    "C1": ("chief", LatLon(60.1700, 24.9360)),
    "M1": ("medic_als", LatLon(60.1720, 24.9450)),
    "E9": ("engine", LatLon(60.1640, 24.9300)),  # 369 m from any road in the extract
}


@pytest.fixture
def client(city_app: App) -> Iterator[TestClient]:
    with TestClient(create_api(city_app)) as c:
        yield c


@pytest.fixture
def disp(city_app: App) -> dict[str, str]:
    city_app.users.add("disp", Role.DISPATCHER, PASSWORD, actor="t")
    return auth(city_app.users.issue_token("disp", label="t", actor="t", ttl=None))


@pytest.fixture
def fleet(city_app: App) -> None:
    for uid, (kind, where) in FLEET.items():
        city_app.cad.register_unit(
            actor="t", unit_id=UnitId(uid), callsign=None, type=kind, station=None, location=where
        )


def _fire(client: TestClient, h: dict[str, str]) -> str:
    r = client.post(
        "/api/v1/calls",
        json={
            "nature": "smoke from 3rd floor",
            "incident_type": "structure_fire",
            "location": {"lat": SCENE.lat, "lon": SCENE.lon},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    incident_id: str = r.json()["incident"]["id"]
    return incident_id


@pytest.mark.usefixtures("fleet")
def test_recommendation_covers_the_run_card_by_drive_time(
    client: TestClient, disp: dict[str, str], road_network: RoadNetwork, city_app: App
) -> None:
    inc = _fire(client, disp)
    rec: dict[str, Any] = client.get(
        f"/api/v1/incidents/{inc}/recommendations", headers=disp
    ).json()
    assert rec["covered"] is True
    assert sorted(c["covers"] for c in rec["chosen"]) == ["chief", "engine", "engine", "ladder"]
    assert rec["considered"] == len(FLEET)
    assert rec["unreachable"] == ["E9"]
    # ETAs are the network's own drive times (with each type's emergency speed factor).
    factors = city_app.settings.geo.speed_factors
    etas = road_network.etas_to(
        SCENE,
        {u: where for u, (_, where) in FLEET.items()},
        speed_factor={u: factors.get(kind, 1.0) for u, (kind, _) in FLEET.items()},
    )
    for choice in rec["chosen"]:
        assert choice["eta_s"] == pytest.approx(etas[choice["unit_id"]].seconds)
        assert choice["route"]["type"] == "LineString"
        assert len(choice["route"]["coordinates"]) >= 2
        assert choice["why"].startswith(choice["callsign"])
    engines = sorted(
        (etas[u].seconds, u) for u, (kind, _) in FLEET.items() if kind == "engine" and u in etas
    )
    chosen_engines = sorted(c["unit_id"] for c in rec["chosen"] if c["covers"] == "engine")
    assert chosen_engines == sorted(u for _, u in engines[:2])
    times = [c["eta_s"] for c in rec["chosen"]]
    assert times == sorted(times)

    # Accept the recommendation in one call.
    r = client.post(
        f"/api/v1/incidents/{inc}/assignments", json={"accept_recommendation": True}, headers=disp
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["unit_ids"]) == sorted(c["unit_id"] for c in rec["chosen"])
    assigned = [
        e
        for e in client.get(f"/api/v1/incidents/{inc}/timeline", headers=disp).json()
        if e["type"] == "unit.assigned"
    ]
    assert all(e["data"]["recommended"] and e["data"]["eta_s"] > 0 for e in assigned)

    # Everything is now covered by units on the incident: nothing more to send.
    again = client.get(f"/api/v1/incidents/{inc}/recommendations", headers=disp).json()
    assert again["chosen"] == []
    assert again["covered"] is True

    route = client.get(f"/api/v1/incidents/{inc}/routes/E1", headers=disp).json()
    assert route["geometry"]["type"] == "LineString"
    assert route["eta_s"] > 0


def test_no_units_available_is_said_plainly(client: TestClient, disp: dict[str, str]) -> None:
    inc = _fire(client, disp)
    rec = client.get(f"/api/v1/incidents/{inc}/recommendations", headers=disp).json()
    assert rec["covered"] is False
    assert rec["chosen"] == []
    assert {s["capability"] for s in rec["shortfalls"]} == {"engine", "ladder", "chief"}
    assert rec["shortfalls"][0]["why"] == "no available unit carries engine"
    r = client.post(
        f"/api/v1/incidents/{inc}/assignments", json={"accept_recommendation": True}, headers=disp
    )
    assert r.status_code == 422
    assert "no available unit carries engine" in r.json()["detail"]


@pytest.mark.usefixtures("fleet")
def test_address_only_call_is_geocoded(
    client: TestClient, disp: dict[str, str], road_network: RoadNetwork
) -> None:
    from vigil.geo import Geocoder  # noqa: PLC0415

    label = Geocoder(road_network).reverse(SCENE).label
    r = client.post(
        "/api/v1/calls",
        json={"nature": "fall", "incident_type": "medical", "address": label},
        headers=disp,
    )
    assert r.status_code == 201, r.text
    loc = r.json()["incident"]["location"]
    assert abs(loc["lat"] - SCENE.lat) < 0.01
    assert "confidence" in r.json()["incident"]["description"]
    nowhere = client.post(
        "/api/v1/calls",
        json={"nature": "x", "incident_type": "medical", "address": "Qwxzyv Plkrt 99999"},
        headers=disp,
    )
    assert nowhere.status_code == 422
    assert nowhere.json()["field"] == "address"


def test_ambiguous_address_returns_the_candidates(client: TestClient, disp: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/calls",
        json={"nature": "fall", "incident_type": "medical", "address": "Esplanadi"},
        headers=disp,
    )
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "address"
    assert "ambiguous" in body["detail"]
    labels = {c["label"] for c in body["candidates"]}
    assert {"Eteläesplanadi", "Pohjoisesplanadi"} <= labels
    assert all(-90 <= c["lat"] <= 90 and 0 < c["confidence"] <= 1 for c in body["candidates"])


def test_an_incident_opened_from_coordinates_gets_the_nearest_address(
    client: TestClient, disp: dict[str, str], road_network: RoadNetwork
) -> None:
    from vigil.geo import Geocoder  # noqa: PLC0415

    nearest = Geocoder(road_network).reverse(SCENE)
    r = client.post(
        "/api/v1/calls",
        json={
            "location": {"lat": SCENE.lat, "lon": SCENE.lon},
            "nature": "smoke seen from the park",
            "incident_type": "structure_fire",
        },
        headers=disp,
    )
    assert r.status_code == 201, r.text
    address = r.json()["incident"]["address"]
    assert address in {nearest.label, f"near {nearest.label}"}
    assert address.split()[-1][0].isdigit() or nearest.kind != "address"
    # An address the call-taker typed is kept as typed.
    r = client.post(
        "/api/v1/calls",
        json={
            "location": {"lat": SCENE.lat, "lon": SCENE.lon},
            "address": "Esplanadi, by the bandstand",
            "nature": "fall",
            "incident_type": "medical",
        },
        headers=disp,
    )
    assert r.json()["incident"]["address"] == "Esplanadi, by the bandstand"
