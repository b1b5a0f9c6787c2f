"""Authentication and per-endpoint role declarations.

Every endpoint under /api/v1 declares who may call it with exactly one
dependency: ``Allow(roles)`` or ``Public()``. The role-matrix test reads these
declarations from the routes and checks each endpoint with every role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.errors import AuthError, ForbiddenError, ValidationError
from vigil.core.text import clean_line


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role


def vigil_app(request: Request) -> App:
    """Return the App the API was built around."""
    app: App = request.app.state.vigil
    return app


AppDep = Annotated[App, Depends(vigil_app)]


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

    def __call__(
        self, request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        """Authenticate the bearer token and check the role."""
        return self.check(request, _bearer(authorization))

    def check(self, request: Request, token: str) -> Principal:
        """Authenticate `token`, check the role and remember who is calling."""
        user = vigil_app(request).users.authenticate(token)
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

    def __call__(
        self,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        access_token: Annotated[
            str | None, Query(max_length=200, description="Token, for EventSource clients.")
        ] = None,
    ) -> Principal:
        """Authenticate the bearer header, or the query token when there is no header."""
        token = _bearer(authorization) if authorization or not access_token else access_token
        return self.check(request, token)


class Public:
    """Dependency: no credentials needed (declared explicitly, so it is a choice)."""

    roles: frozenset[Role] = frozenset(Role)

    def __call__(self) -> None:
        """Allow anyone."""


MAX_SEQ = 2**63 - 1  # the largest event sequence number SQLite (and PostgreSQL) can hold

_COMMAND_ID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


def command_id(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str | None:
    """Return the client's Idempotency-Key: repeating it repeats no effect."""
    if idempotency_key is None:
        return None
    if not _COMMAND_ID.match(idempotency_key):
        raise ValidationError(
            "Idempotency-Key must be 8-100 characters of A-Z a-z 0-9 . _ : -",
            field="Idempotency-Key",
        )
    return idempotency_key


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
