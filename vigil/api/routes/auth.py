"""Login, current user, and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from vigil.api.schemas import LoginIn, TokenOut, UserIn, UserOut
from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.audit.roles import ADMINS, Role

router = APIRouter(tags=["auth"])


@router.post("/auth/login", dependencies=[Depends(Public())])
def login(body: LoginIn, app: AppDep) -> TokenOut:
    """Exchange a user name and password for a session token."""
    token = app.users.login(body.username, body.password)
    user = app.users.authenticate(token)
    return TokenOut(token=token, name=user.name, role=Role(user.role))


@router.get("/auth/me")
def me(who: Annotated[Principal, Depends(Allow(Role))]) -> dict[str, str]:
    """Return who the token belongs to."""
    return {"name": who.name, "role": who.role.value}


@router.get("/users")
def list_users(app: AppDep, _: Annotated[Principal, Depends(Allow(ADMINS))]) -> list[UserOut]:
    """List logins."""
    return [
        UserOut(name=u.name, role=Role(u.role), created_at=u.created_at, active=u.active)
        for u in app.store.users()
    ]


@router.post("/users", status_code=201)
def add_user(
    body: UserIn, app: AppDep, who: Annotated[Principal, Depends(Allow(ADMINS))]
) -> TokenOut:
    """Create a login and return its first API token (shown once)."""
    app.users.add(body.name, body.role, body.password, actor=who.name)
    token = app.users.issue_token(body.name, label="created", actor=who.name, ttl=None)
    return TokenOut(token=token, name=body.name, role=body.role)
