"""Login, current user, and user administration."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from vigil.api.limits import Tarpit
from vigil.api.problems import problem_responses
from vigil.api.schemas import LoginIn, TokenOut, UserIn, UserOut
from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.audit.roles import ADMINS, Role
from vigil.core.errors import BusyError, TooManyRequestsError

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login",
    dependencies=[Depends(Public())],
    responses=problem_responses(401, 429, 503),
)
async def login(body: LoginIn, app: AppDep, request: Request) -> TokenOut:
    """Exchange a user name and password for a session token.

    Attempts are limited per client address and per account (429 with
    Retry-After); passwords are checked in a small pool of their own (503 when
    it is saturated), so a login flood cannot slow call-taking down.
    """
    client = request.client.host if request.client else "unknown"
    try:
        future = app.logins.submit(body.username, body.password, client=client)
    except (TooManyRequestsError, BusyError) as err:
        # Answered late (a tarpit): a flooding client waits before its next try.
        tarpit: Tarpit = request.app.state.tarpit
        await tarpit.wait(err.retry_after_s)
        raise
    done = await asyncio.wrap_future(future)
    return TokenOut(token=done.token, name=done.name, role=Role(done.role))


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
