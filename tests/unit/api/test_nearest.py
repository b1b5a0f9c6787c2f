"""Incidents known only by coordinates carry the nearest address or street (offline)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, auth
from vigil.api.http import create_api
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.geometry import LatLon
from vigil.geo import Geocoder, RoadNetwork

ESPLANADI = LatLon(60.1679, 24.9460)


@pytest.fixture
def client(city_app: App) -> Iterator[TestClient]:
    with TestClient(create_api(city_app)) as c:
        yield c


@pytest.fixture
def disp(city_app: App) -> dict[str, str]:
    city_app.users.add("disp", Role.DISPATCHER, PASSWORD, actor="t")
    return auth(city_app.users.issue_token("disp", label="t", actor="t", ttl=None))


def test_coordinates_only_incident_shows_nearest(
    client: TestClient, disp: dict[str, str], road_network: RoadNetwork
) -> None:
    r = client.post(
        "/api/v1/incidents",
        json={"type": "structure_fire", "location": {"lat": ESPLANADI.lat, "lon": ESPLANADI.lon}},
        headers=disp,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    expected = Geocoder(road_network).reverse(ESPLANADI)
    # The reverse-geocoded address is stored at opening; nearest adds how far it is.
    assert body["address"] in (expected.label, f"near {expected.label}")
    assert body["nearest"] == {
        "label": expected.label,
        "distance_m": round(expected.distance_m, 1),
        "kind": expected.kind,
    }
    assert body["nearest"]["distance_m"] < 100
    listed = client.get("/api/v1/incidents", headers=disp).json()
    assert [i["nearest"] for i in listed] == [body["nearest"]]
    one = client.get(f"/api/v1/incidents/{body['id']}", headers=disp).json()
    assert one["nearest"] == body["nearest"]


def test_typed_address_is_kept_and_nearest_still_measured(
    client: TestClient, disp: dict[str, str]
) -> None:
    r = client.post(
        "/api/v1/incidents",
        json={
            "type": "structure_fire",
            "location": {"lat": ESPLANADI.lat, "lon": ESPLANADI.lon},
            "address": "Pohjoisesplanadi 11",
        },
        headers=disp,
    )
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "Pohjoisesplanadi 11"
    assert r.json()["nearest"]["distance_m"] < 100


def test_nearest_is_none_far_from_named_roads(road_network: RoadNetwork) -> None:
    g = Geocoder(road_network)
    assert g.nearest(LatLon(60.30, 25.30)) is None  # far outside the extract
    first = g.nearest(ESPLANADI)
    assert first is not None and first == g.nearest(ESPLANADI)
