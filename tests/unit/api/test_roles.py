"""Every endpoint × every role, against one table written down as policy.

The table below is the authorisation policy of the API, kept by hand: one row
per endpoint, one column per role (x: allowed, .: refused with 403, *: public).
The tests check that (1) the routes and the table list the same endpoints, (2)
each route's one `Allow(...)`/`Public()` declaration says what its row says, and
(3) calling every endpoint with every role's token gives 403 exactly where the
row says "." (and never 401/403 where it says "x"). A new endpoint fails (1)
until its row is added here: that is the point.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import auth, user_name
from vigil.api.http import API_PREFIX, create_api
from vigil.api.security import Allow, Public
from vigil.app import App
from vigil.audit.roles import Role

ROLE_TABLE = """
                                                                       CT DI SU AN AU FU AD DV
GET    /api/v1/alerts                                                   x  x  x  x  .  x  x  .
POST   /api/v1/alerts                                                   .  x  x  .  .  .  x  .
GET    /api/v1/alerts/areas.geojson                                     x  x  x  x  .  x  x  .
GET    /api/v1/alerts/drafts                                            x  x  x  x  .  x  x  .
GET    /api/v1/alerts/external                                          x  x  x  x  .  x  x  .
POST   /api/v1/alerts/external                                          .  .  x  .  .  .  x  .
GET    /api/v1/alerts/intake                                            .  .  x  .  .  .  x  .
GET    /api/v1/alerts/{alert_id}                                        x  x  x  x  .  x  x  .
PUT    /api/v1/alerts/{alert_id}                                        .  x  x  .  .  .  x  .
POST   /api/v1/alerts/{alert_id}/approve                                .  .  x  .  .  .  x  .
POST   /api/v1/alerts/{alert_id}/reject                                 .  .  x  .  .  .  x  .
GET    /api/v1/analytics/forecast                                       .  .  x  x  x  .  x  .
POST   /api/v1/analytics/forecast/issue                                 .  .  x  .  .  .  x  .
GET    /api/v1/analytics/kpis                                           .  .  x  x  x  .  x  .
GET    /api/v1/audit/entries                                            .  .  .  .  x  .  x  .
GET    /api/v1/audit/verify                                             .  .  .  .  x  .  x  .
POST   /api/v1/auth/login                                               *  *  *  *  *  *  *  *
GET    /api/v1/auth/me                                                  x  x  x  x  x  x  x  x
POST   /api/v1/calls                                                    x  x  x  .  .  .  x  .
GET    /api/v1/calls/{call_id}                                          x  x  x  x  .  x  x  .
GET    /api/v1/calls/{call_id}/caller                                   x  x  x  .  x  .  .  .
GET    /api/v1/cameras                                                  x  x  x  x  .  x  x  .
GET    /api/v1/cameras/{camera_id}                                      x  x  x  x  .  x  x  .
PUT    /api/v1/cameras/{camera_id}/layout                               .  .  .  .  .  .  .  x
GET    /api/v1/cameras/{camera_id}/snapshot                             x  x  x  x  .  x  x  .
POST   /api/v1/cameras/{camera_id}/snapshot                             .  .  .  .  .  .  .  x
GET    /api/v1/catalogue                                                x  x  x  x  .  x  x  .
GET    /api/v1/devices                                                  x  x  x  x  .  x  x  .
POST   /api/v1/devices                                                  .  .  x  .  .  .  x  .
GET    /api/v1/devices/{device_id}                                      x  x  x  x  .  x  x  .
GET    /api/v1/devices/{device_id}/recent                               x  x  x  x  .  x  x  .
POST   /api/v1/eido                                                     .  x  x  .  .  .  x  .
POST   /api/v1/eido/validate                                            .  x  x  .  .  .  x  .
GET    /api/v1/events                                                   .  .  x  x  x  .  x  .
GET    /api/v1/field/units/{unit_id}                                    .  x  x  .  .  x  x  .
POST   /api/v1/field/units/{unit_id}/notes                              .  x  x  .  .  x  x  .
GET    /api/v1/gateways                                                 .  .  x  .  .  .  x  .
POST   /api/v1/gateways                                                 .  .  x  .  .  .  x  .
GET    /api/v1/geo/geocode                                              x  x  x  .  .  .  x  .
GET    /api/v1/geo/reverse                                              x  x  x  .  .  .  x  .
GET    /api/v1/health                                                   *  *  *  *  *  *  *  *
GET    /api/v1/incidents                                                x  x  x  x  .  x  x  .
POST   /api/v1/incidents                                                .  x  x  .  .  .  x  .
GET    /api/v1/incidents/{incident_id}                                  x  x  x  x  .  x  x  .
PATCH  /api/v1/incidents/{incident_id}                                  .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/alert-draft                      .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/assignments                      .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/assignments/{unit_id}/release    .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/cancel                           .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/close                            .  x  x  .  .  .  x  .
GET    /api/v1/incidents/{incident_id}/eido                             .  x  x  .  .  .  x  .
GET    /api/v1/incidents/{incident_id}/eido/with-caller                 .  x  x  .  .  .  .  .
POST   /api/v1/incidents/{incident_id}/notes                            x  x  x  .  .  .  x  .
GET    /api/v1/incidents/{incident_id}/recommendations                  .  x  x  .  .  .  x  .
POST   /api/v1/incidents/{incident_id}/reopen                           .  .  x  .  .  .  x  .
GET    /api/v1/incidents/{incident_id}/routes/{unit_id}                 x  x  x  x  .  x  x  .
GET    /api/v1/incidents/{incident_id}/timeline                         x  x  x  x  .  x  x  .
GET    /api/v1/ingest/dead-letters                                      .  .  x  .  .  .  x  .
GET    /api/v1/ingest/stats                                             .  .  x  x  .  .  x  .
GET    /api/v1/live                                                     x  x  x  x  .  x  x  .
GET    /api/v1/map/basemap                                              *  *  *  *  *  *  *  *
GET    /api/v1/map/config                                               x  x  x  x  .  x  x  .
POST   /api/v1/ngsi-ld/notify                                           .  .  .  .  .  .  .  x
POST   /api/v1/observations                                             .  .  .  .  .  .  .  x
GET    /api/v1/public/alerts.atom                                       *  *  *  *  *  *  *  *
GET    /api/v1/public/alerts.geojson                                    *  *  *  *  *  *  *  *
GET    /api/v1/public/cap/{alert_id}.xml                                *  *  *  *  *  *  *  *
POST   /api/v1/public/reports                                           *  *  *  *  *  *  *  *
GET    /api/v1/public/reports/area                                      *  *  *  *  *  *  *  *
GET    /api/v1/public/reports/categories                                *  *  *  *  *  *  *  *
GET    /api/v1/public/reports/status/{token}                            *  *  *  *  *  *  *  *
GET    /api/v1/reports                                                  x  x  x  x  .  x  x  .
GET    /api/v1/reports/map.geojson                                      x  x  x  x  .  x  x  .
GET    /api/v1/reports/{report_id}                                      x  x  x  x  .  x  x  .
GET    /api/v1/reports/{report_id}/contact                              x  x  x  .  .  .  .  .
POST   /api/v1/reports/{report_id}/dismiss                              .  x  x  .  .  .  x  .
POST   /api/v1/reports/{report_id}/merge                                .  x  x  .  .  .  x  .
GET    /api/v1/reports/{report_id}/photo                                x  x  x  .  .  .  x  .
POST   /api/v1/reports/{report_id}/promote                              .  x  x  .  .  .  x  .
GET    /api/v1/rules                                                    .  .  x  x  .  .  x  .
GET    /api/v1/transparency                                             *  *  *  *  *  *  *  *
GET    /api/v1/units                                                    x  x  x  x  .  x  x  .
POST   /api/v1/units                                                    .  .  x  .  .  .  x  .
POST   /api/v1/units/positions                                          .  x  x  .  .  x  x  .
GET    /api/v1/units/{unit_id}                                          x  x  x  x  .  x  x  .
POST   /api/v1/units/{unit_id}/position                                 .  x  x  .  .  x  x  .
POST   /api/v1/units/{unit_id}/status                                   .  x  x  .  .  x  x  .
GET    /api/v1/users                                                    .  .  .  .  .  .  x  .
POST   /api/v1/users                                                    .  .  .  .  .  .  x  .
"""
COLUMNS = {
    "CT": Role.CALL_TAKER,
    "DI": Role.DISPATCHER,
    "SU": Role.SUPERVISOR,
    "AN": Role.ANALYST,
    "AU": Role.AUDITOR,
    "FU": Role.FIELD_UNIT,
    "AD": Role.ADMIN,
    "DV": Role.DEVICE,
}

# Endpoints that stream forever cannot be called to completion in-process; their
# declaration is still checked here, and their behaviour in their own tests.
STREAMING = {"/api/v1/live"}


def _table() -> dict[tuple[str, str], frozenset[Role] | None]:
    """Return (method, path) -> allowed roles (None: public)."""
    header, *rows = ROLE_TABLE.strip("\n").splitlines()
    columns = [COLUMNS[c] for c in header.split()]
    out: dict[tuple[str, str], frozenset[Role] | None] = {}
    for row in rows:
        method, path, *marks = row.split()
        assert len(marks) == len(columns), row
        assert (method, path) not in out, f"{method} {path} is in the table twice"
        if set(marks) == {"*"}:
            out[method, path] = None
        else:
            assert set(marks) <= {"x", "."}, row
            out[method, path] = frozenset(
                r for r, m in zip(columns, marks, strict=True) if m == "x"
            )
    return out


TABLE = _table()


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


def test_the_table_lists_exactly_the_routes(app: App) -> None:
    routes = {(m, p) for m, p, _ in _routes(app)}
    missing = sorted(routes - TABLE.keys())
    assert not missing, f"add these endpoints to ROLE_TABLE in {__file__}: {missing}"
    stale = sorted(TABLE.keys() - routes)
    assert not stale, f"these ROLE_TABLE rows name no endpoint: {stale}"


def test_every_declaration_matches_its_row(app: App) -> None:
    for method, path, decl in _routes(app):
        expected = TABLE[method, path]
        if expected is None:
            assert isinstance(decl, Public), (method, path)
        else:
            assert isinstance(decl, Allow), (method, path)
            assert decl.roles == expected, (method, path, sorted(decl.roles ^ expected))
    public = {path for (_, path), roles in TABLE.items() if roles is None}
    public_feed = {p for p in public if p.startswith("/api/v1/public/")}  # public by design
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
        app.users.add(user_name(role), role, None, actor="test")
        out[role] = app.users.issue_token(user_name(role), label="t", actor="t", ttl=None)
    return out


def test_role_matrix(app: App, client: TestClient, all_tokens: dict[Role, str]) -> None:
    checked = 0
    for (method, path), allowed in sorted(TABLE.items()):
        if path in STREAMING or allowed is None:
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
            if role in allowed:
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
