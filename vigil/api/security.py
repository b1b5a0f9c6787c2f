"""Authentication and per-endpoint role declarations.

Every endpoint under /api/v1 declares who may call it with exactly one
dependency: ``Allow(roles)`` or ``Public()``. The role-matrix test reads these
declarations from the routes and checks each endpoint with every role.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.api.schemas import IncidentViews
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.errors import AuthError, ForbiddenError, ValidationError
from vigil.core.text import clean_line
from vigil.store.records import UserRecord


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role


def vigil_app(request: Request) -> App:
    """Return the App the API was built around."""
    app: App = request.app.state.vigil
    return app


async def _app(request: Request) -> App:
    # async: a sync dependency costs a hop through the thread pool on every request.
    return vigil_app(request)


AppDep = Annotated[App, Depends(_app)]


async def incident_views(request: Request) -> IncidentViews:
    """Return the API's store of rendered incidents."""
    views: IncidentViews = request.app.state.incident_views
    return views


IncidentViewsDep = Annotated[IncidentViews, Depends(incident_views)]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization: Bearer <token> header", field="Authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'", field="Authorization")
    return token.strip()


class Allow:
    """Dependency: the caller must hold one of `roles` (Authorization: Bearer only)."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(
        self, request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        """Authenticate the bearer token and check the role."""
        return await self.check(request, _bearer(authorization))

    async def check(self, request: Request, token: str) -> Principal:
        """Authenticate `token`, check the role and remember who is calling.

        A token checked in the last few seconds is answered on the event loop
        (`Users.recent`); only a new one goes to the store, on a worker thread.
        """
        users = vigil_app(request).users
        user = users.recent(token)
        if user is None:
            user = await run_in_threadpool(users.authenticate, token)
        return self.admit(request, user)

    def admit(self, request: Request, user: UserRecord) -> Principal:
        """Check an authenticated user's role and remember who is calling."""
        role = Role(user.role)
        if role not in self.roles:
            allowed = ", ".join(sorted(self.roles))
            raise ForbiddenError(f"role {role} may not do this (allowed: {allowed})")
        principal = Principal(name=user.name, role=role)
        request.state.principal = principal
        return principal


class AllowStream(Allow):
    """Like Allow, but also accepts ``?access_token=`` (for EventSource streams only).

    A browser's EventSource cannot set headers. Tokens in URLs end up in logs and
    history, so only the live feed takes one; every other endpoint refuses it.
    """

    async def __call__(
        self,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        access_token: Annotated[
            str | None, Query(max_length=200, description="Token, for EventSource clients.")
        ] = None,
    ) -> Principal:
        """Authenticate the bearer header, or the query token when there is no header.

        Tokens checked in the last few seconds are answered without a store
        lookup (`Users.recent`), so 10,000 browsers reconnecting at once (a
        restart, a resync) cost one lookup per distinct token.
        """
        token = _bearer(authorization) if authorization or not access_token else access_token
        return await self.check(request, token)


def bind_unit(app: App, who: Principal, unit_ids: Iterable[str]) -> None:
    """Refuse a field unit reporting for any unit but the one its login is bound to.

    Unit ids are case-sensitive everywhere; logins are lower-case, so the login
    ``e1`` is bound to the one unit whose id folds to ``e1``. Registration refuses
    ids that differ only in case; should two such units exist all the same (an
    old log), the login is bound to neither rather than to both.
    """
    if who.role is not Role.FIELD_UNIT:
        return
    folded: dict[str, int] = {}
    for u in app.cad.units():
        folded[u.id.casefold()] = folded.get(u.id.casefold(), 0) + 1
    for unit_id in set(unit_ids):
        if unit_id.casefold() != who.name or folded.get(who.name, 0) > 1:
            raise ForbiddenError(
                f"field unit {who.name} may only report for its own unit, not {unit_id}",
                field="unit_id",
            )


class Public:
    """Dependency: no credentials needed (declared explicitly, so it is a choice)."""

    roles: frozenset[Role] = frozenset(Role)

    def __call__(self) -> None:
        """Allow anyone."""


MAX_SEQ = 2**63 - 1  # the largest event sequence number SQLite (and PostgreSQL) can hold

_COMMAND_ID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


_KEY_LOCKS = tuple(threading.Lock() for _ in range(64))  # striped: bounded memory


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _canonical(body: bytes) -> bytes:
    """Return the body as canonical JSON (key order and spacing do not matter), else as is."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body


def _template(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else request.url.path


async def command_id(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> AsyncIterator[str | None]:
    """Yield the command id of a request's Idempotency-Key: repeating it repeats no effect.

    A key is scoped by the caller and the endpoint (method and route), and bound
    to the request (its path and canonical body): the same caller repeating the
    same request gets the first outcome; another caller, or another endpoint,
    with the same key is a different command; the same caller reusing a key for
    a different request is refused with 422. Requests with one key are
    serialised, so two different bodies racing cannot both take effect.
    """
    if idempotency_key is None:
        yield None
        return
    if not _COMMAND_ID.match(idempotency_key):
        raise ValidationError(
            "Idempotency-Key must be 8-100 characters of A-Z a-z 0-9 . _ : -",
            field="Idempotency-Key",
        )
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # every command endpoint authenticates before this runs
        raise AuthError("an Idempotency-Key needs an authenticated caller", field="Authorization")
    scope = "K" + _digest(principal.name, request.method, _template(request), idempotency_key)[:24]
    bound = _digest(request.url.path, _canonical(await request.body()))[:16]
    ident = f"{scope}.{bound}"
    lock = _KEY_LOCKS[int(scope[1:9], 16) % len(_KEY_LOCKS)]
    await run_in_threadpool(lock.acquire)
    try:
        earlier = vigil_app(request).store.events_with_prefix(f"{scope}.")
        if any(not r.id.startswith(f"{ident}/") for r in earlier):
            raise ValidationError(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new command",
                field="Idempotency-Key",
            )
        yield ident
    finally:
        lock.release()


CommandId = Annotated[str | None, Depends(command_id)]


def purpose(
    x_vigil_purpose: Annotated[str | None, Header(alias="X-Vigil-Purpose")] = None,
) -> str:
    """Return the stated purpose of a personal-data access (required)."""
    if not x_vigil_purpose or len(x_vigil_purpose.strip()) < 5:
        raise ValidationError(
            "reading personal data needs an X-Vigil-Purpose header stating why (5+ chars)",
            field="X-Vigil-Purpose",
        )
    if len(x_vigil_purpose) > 500:
        raise ValidationError("X-Vigil-Purpose is at most 500 characters", field="X-Vigil-Purpose")
    try:
        return clean_line(x_vigil_purpose.strip())
    except ValueError as err:
        raise ValidationError(str(err), field="X-Vigil-Purpose") from None


Purpose = Annotated[str, Depends(purpose)]
