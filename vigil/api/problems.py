"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    GeoError,
    IngestError,
    NoRouteError,
    NotFoundError,
    RateLimitedError,
    StoreError,
    TransitionError,
    ValidationError,
    VigilError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, kind: str, instance: str, **extra: Any
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# Domain error -> (HTTP status, problem title); the most specific class wins (MRO order).
STATUS: dict[type[VigilError], tuple[int, str]] = {
    VigilError: (500, "Internal error"),
    ConfigError: (400, "Invalid configuration"),
    ValidationError: (422, "Invalid input"),
    NotFoundError: (404, "Not found"),
    ConflictError: (409, "Conflict"),
    TransitionError: (409, "Illegal transition"),
    AuthError: (401, "Unauthorised"),
    ForbiddenError: (403, "Forbidden"),
    StoreError: (503, "Store unavailable"),
    IngestError: (422, "Rejected observation"),
    GeoError: (422, "Unusable location"),
    NoRouteError: (422, "No route"),
    RateLimitedError: (429, "Too many requests"),
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
        return problem(
            status,
            title,
            str(err),
            kind=_slug(type(err).__name__.removesuffix("Error") or "error"),
            instance=request.url.path,
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
        return problem(
            err.status_code,
            str(err.detail),
            str(err.detail),
            kind=f"http-{err.status_code}",
            instance=request.url.path,
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
