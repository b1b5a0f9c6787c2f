"""The FastAPI application: routers under /api/v1, problem details, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Scope

from vigil import __version__
from vigil.api import problems
from vigil.api.limits import BodyLimit, LoginGate, Tarpit
from vigil.api.routes import (
    alerts,
    analytics,
    audit,
    auth,
    calls,
    cameras,
    dispatch,
    incidents,
    ingest,
    meta,
    rules,
    transparency,
    units,
)
from vigil.api.routes import citizen as citizen_routes
from vigil.api.routes import eido as eido_routes
from vigil.api.routes import feed as feed_routes
from vigil.api.routes import field as field_routes
from vigil.api.routes import geo as geo_routes
from vigil.api.routes import live as live_routes
from vigil.api.routes import map as map_routes
from vigil.api.routes import panels as panel_routes
from vigil.api.runs import GZIP_LEVEL, GZIP_MINIMUM_BYTES
from vigil.api.schemas import IncidentViews
from vigil.app import App
from vigil.web.static import install_ui

API_PREFIX = "/api/v1"


def mount(api: FastAPI, router: APIRouter) -> None:
    """Include a router under /api/v1 and record it (the role-matrix test walks them)."""
    api.include_router(router, prefix=API_PREFIX)
    api.state.routers.append(router)


async def probe(api: FastAPI, path: str) -> int:
    """Send one GET of `path` through the API, as a client would; return its status."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await api(scope, receive, send)
    return status


@asynccontextmanager
async def warm_routes(api: FastAPI) -> AsyncIterator[None]:
    """Build every route's request handling before the server takes its first request.

    FastAPI builds a route's request handling (dependencies, parameter and response
    models) when a request is first matched against it, and a request to a path no
    route takes is matched against all of them; `/health` then starts the thread pool
    that sync endpoints run in. Done here, the first page load does not pay for it
    (0.1-0.3 CPU-s for ~90 routes, before its first byte).
    """
    await probe(api, "/.vigil-warm-up")
    await probe(api, f"{API_PREFIX}/health")
    yield


def create_api(app: App) -> FastAPI:
    """Build the HTTP API around a built App."""
    api = FastAPI(
        lifespan=warm_routes,
        title="Vigil",
        version=__version__,
        summary="Open, accountable public-safety platform: events about places, never identities.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.vigil = app
    api.state.routers = []
    api.state.api_prefix = API_PREFIX
    api.state.incident_views = IncidentViews(app.geocoder)
    problems.install(api)
    for module in (auth, calls, incidents, dispatch, units, audit, meta):
        mount(api, module.router)
    for ui_module in (live_routes, geo_routes, map_routes, field_routes, panel_routes):
        mount(api, ui_module.router)
    for domain_module in (ingest, cameras, rules, alerts, feed_routes, eido_routes, citizen_routes):
        mount(api, domain_module.router)
    for evidence_module in (transparency, analytics):
        mount(api, evidence_module.router)
    api.include_router(transparency.page)  # the public page lives at /transparency
    api.include_router(analytics.page)  # the analyst page at /analyst (data behind login)
    # The pages outside /api/v1 answer bad input with problems too.
    problems.declare_responses(api, [*api.state.routers, transparency.page, analytics.page])
    # Pre-compressed and event-stream responses pass through untouched. Level 1 (nginx's
    # default): on a 400 kB incident list it costs 0.7 ms of CPU against Starlette's
    # default 9's 12 ms, for a body 30 % larger (26 kB against 20 kB). Incident lists come
    # pre-compressed from cached runs (vigil.api.runs) and pass through.
    api.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    api.add_middleware(BodyLimit, limit=app.settings.server.max_body_bytes)
    # Outermost: an over-limit login is refused before anything else looks at it.
    limits = app.logins.limits
    api.state.tarpit = Tarpit(delay_s=limits.refusal_delay_s, max_delayed=limits.max_delayed)
    api.add_middleware(
        LoginGate, path=f"{API_PREFIX}/auth/login", logins=app.logins, tarpit=api.state.tarpit
    )
    install_ui(api)
    return api
