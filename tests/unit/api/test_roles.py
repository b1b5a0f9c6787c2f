"""Every endpoint declares its roles, and every role is allowed or refused accordingly."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, auth, user_name
from vigil.api.http import API_PREFIX, create_api
from vigil.api.security import Allow, Public
from vigil.app import App
from vigil.audit.roles import Role

# Endpoints that stream forever cannot be called to completion in-process; their
# declaration is still checked here, and their behaviour in their own tests.
STREAMING = {"/api/v1/live"}


def _declaration(route: APIRoute) -> Allow | Public:
    found = [d.call for d in route.dependant.dependencies if isinstance(d.call, Allow | Public)]
    assert len(found) == 1, f"{route.path} must declare exactly one Allow(...) or Public()"
    call = found[0]
    assert isinstance(call, Allow | Public)
    return call


def _routes(app: App) -> list[tuple[str, str, Allow | Public]]:
    api = create_api(app)
    out: list[tuple[str, str, Allow | Public]] = []
    for router in api.state.routers:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = API_PREFIX + route.path
            out.extend((method, path, _declaration(route)) for method in route.methods or ())
    documented = {
        (method.upper(), path)
        for path, item in api.openapi()["paths"].items()
        if path.startswith(API_PREFIX)
        for method in item
    }
    # A router included without mount() would escape this matrix: refuse that.
    assert documented <= {(m, p) for m, p, _ in out}, documented - {(m, p) for m, p, _ in out}
    return sorted(out)


def test_every_api_route_declares_its_roles(app: App) -> None:
    routes = _routes(app)
    assert len(routes) >= 20
    public = {path for _, path, d in routes if isinstance(d, Public)}
    public_feed = {
        p for p in public if p.startswith("/api/v1/public/")
    }  # unauthenticated by design
    assert public - public_feed <= {
        "/api/v1/auth/login",
        "/api/v1/health",
        "/api/v1/map/basemap",
        "/api/v1/transparency",  # counts and KPIs only: tests/unit/api/test_transparency.py
    }


@pytest.fixture
def all_tokens(app: App) -> dict[Role, str]:
    out = {}
    for role in Role:
        app.users.add(user_name(role), role, PASSWORD, actor="test")
        out[role] = app.users.issue_token(user_name(role), label="t", actor="t", ttl=None)
    return out


def test_role_matrix(app: App, client: TestClient, all_tokens: dict[Role, str]) -> None:
    checked = 0
    for method, path, decl in _routes(app):
        if path in STREAMING or isinstance(decl, Public):
            continue
        for role, token in all_tokens.items():
            # Path ids are named after the caller so a field unit addresses "itself".
            url = path
            for part in (
                "{incident_id}",
                "{unit_id}",
                "{call_id}",
                "{device_id}",
                "{name}",
                "{id}",
            ):
                url = url.replace(part, user_name(role))
            headers = auth(token, **{"X-Vigil-Purpose": "role matrix test"})
            response = client.request(method, url, headers=headers, json={})
            if role in decl.roles:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 20 * len(Role)


def test_no_token_is_401_everywhere(app: App, client: TestClient) -> None:
    for method, path, decl in _routes(app):
        if isinstance(decl, Public) or path in STREAMING:
            continue
        response = client.request(method, path.replace("{", "x").replace("}", ""), json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["title"] == "Unauthorised"
