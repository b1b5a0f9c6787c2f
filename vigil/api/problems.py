"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import (
    AuthError,
    BusyError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    GeoError,
    IngestError,
    NoRouteError,
    NotFoundError,
    RateLimitedError,
    StoreError,
    StoreUnavailableError,
    TooManyRequestsError,
    TransitionError,
    ValidationError,
    VigilError,
    WriteConflictError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Return a problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and which field caused it."""

    type: str = Field(description="A stable identifier of the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(description="The path that answered.")
    field: str | None = Field(default=None, description="The offending field, when one is.")
    errors: list[FieldProblem] | None = Field(default=None, description="Every invalid field.")


_DESCRIPTIONS = {
    401: "Missing, invalid or expired token.",
    403: "The caller's role (or binding) may not do this.",
    404: "A record named in the path does not exist.",
    405: "Method not allowed (the Allow header lists those that are).",
    409: "The request conflicts with the current state (illegal transition, duplicate).",
    413: "The request body is larger than the server accepts.",
    422: "Invalid input; `field` names the culprit.",
    429: "Too many attempts; retry after the Retry-After header's seconds.",
    503: "Busy or the store is unavailable; retry after Retry-After.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` declaring problem documents for these statuses."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def declare_responses(api: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Declare, on every API operation, the problem responses it can return.

    What an operation can answer follows from how it is declared: authenticated
    (401/403), path parameters or a command naming records (404), any input
    (422), a body (413), a command (409), plus 503 when the store is unavailable.
    The Problem schema is added to the components once.
    """
    for route in (r for router in routers for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        statuses = {422, 503}
        if any(d.call.__class__.__name__.startswith("Allow") for d in route.dependant.dependencies):
            statuses |= {401, 403}
        if route.dependant.path_params:
            statuses.add(404)
        methods = route.methods or set()
        if methods & {"POST", "PUT", "PATCH", "DELETE"}:
            # A command's body may name records too (units to assign, fixes of units).
            statuses |= {404, 409, 413}
        for status, spec in problem_responses(*sorted(statuses)).items():
            route.responses.setdefault(status, spec)
    original = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components["Problem"].pop("$defs", None)
            components["FieldProblem"] = FieldProblem.model_json_schema()
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> list[str]:
    """Return every method some API route serves at this path (Starlette names only one)."""
    prefix: str = getattr(request.app.state, "api_prefix", "")
    path = request.url.path
    if not path.startswith(prefix):
        return []
    tail = path.removeprefix(prefix)
    methods = {
        m
        for router in getattr(request.app.state, "routers", [])
        for route in router.routes
        if isinstance(route, APIRoute) and route.path_regex.match(tail)
        for m in route.methods or ()
    }
    return sorted(methods)


# Domain error -> (HTTP status, problem title); the most specific class wins (MRO order).
STATUS: dict[type[VigilError], tuple[int, str]] = {
    VigilError: (500, "Internal error"),
    ConfigError: (400, "Invalid configuration"),
    ValidationError: (422, "Invalid input"),
    NotFoundError: (404, "Not found"),
    ConflictError: (409, "Conflict"),
    TransitionError: (409, "Illegal transition"),
    # Other processes kept changing what the command was decided on (retries ran out):
    # the same request (with its Idempotency-Key) may simply be sent again.
    WriteConflictError: (409, "Concurrent change"),
    AuthError: (401, "Unauthorised"),
    ForbiddenError: (403, "Forbidden"),
    StoreError: (503, "Store unavailable"),
    StoreUnavailableError: (503, "Store unavailable"),
    IngestError: (422, "Rejected observation"),
    GeoError: (422, "Unusable location"),
    NoRouteError: (422, "No route"),
    RateLimitedError: (429, "Too many requests"),
    TooManyRequestsError: (429, "Too many requests"),
    BusyError: (503, "Busy"),
}


def status_of(err: VigilError) -> tuple[int, str]:
    """Return the HTTP status and problem title of a domain error."""
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return STATUS[VigilError]


def _slug(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def install(api: FastAPI) -> None:
    """Route every error through problem details."""

    @api.exception_handler(VigilError)
    async def vigil_error(request: Request, err: VigilError) -> JSONResponse:
        status, title = status_of(err)
        retry = getattr(err, "retry_after_s", None)
        return problem(
            status,
            title,
            str(err),
            kind=_slug(type(err).__name__.removesuffix("Error") or "error"),
            instance=request.url.path,
            headers=None if retry is None else {"Retry-After": str(max(1, math.ceil(retry)))},
            field=err.field,
            **err.extra,
        )

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body"),
                "reason": e["msg"],
            }
            for e in err.errors()
        ]
        first = errors[0] if errors else {"field": "", "reason": "invalid request"}
        return problem(
            422,
            "Invalid input",
            f"{first['field']}: {first['reason']}",
            kind="invalid-input",
            instance=request.url.path,
            field=first["field"],
            errors=errors,
        )

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        headers = dict(err.headers or {})
        if err.status_code == 400:
            # FastAPI's "error parsing the body" (not JSON at all): invalid input like
            # any other, so every operation answers bad bodies with its declared 422.
            return problem(
                422,
                "Invalid input",
                f"body: {err.detail}",
                kind="invalid-input",
                instance=request.url.path,
                field="body",
                errors=[{"field": "body", "reason": str(err.detail)}],
            )
        if err.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        return problem(
            err.status_code,
            str(err.detail),
            str(err.detail),
            kind=f"http-{err.status_code}",
            instance=request.url.path,
            headers=headers,
        )

    @api.exception_handler(Exception)
    async def crash(request: Request, err: Exception) -> JSONResponse:
        log.error("unhandled error on %s", request.url.path, exc_info=err)
        return problem(
            500,
            "Internal error",
            "the server failed; the error is logged",
            kind="internal",
            instance=request.url.path,
        )
