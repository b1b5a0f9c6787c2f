"""Passwords are argon2-hashed; tokens are shown once, stored hashed, and expire."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from vigil.app import App
from vigil.audit.roles import Role
from vigil.auth.users import hash_token
from vigil.core.clock import ManualClock
from vigil.core.errors import AuthError, ConflictError, ValidationError


def test_password_login_issues_an_expiring_token(app: App, clock: ManualClock) -> None:
    user = app.users.add("ana", Role.DISPATCHER, PASSWORD, actor="t")
    assert user.password_hash.startswith("$argon2")
    token = app.users.login("ana", PASSWORD)
    assert app.users.authenticate(token).name == "ana"
    clock.advance(13 * 3600)
    with pytest.raises(AuthError, match="expired"):
        app.users.authenticate(token)


def test_tokens_are_stored_hashed(app: App) -> None:
    app.users.add("bo", Role.ANALYST, None, actor="t")
    token = app.users.issue_token("bo", label="cli", actor="t", ttl=None)
    assert token.startswith("vgl_")
    raw = (app.settings.data_dir / "vigil.sqlite3").read_bytes()
    assert token.encode() not in raw
    assert app.store.user_for_token(hash_token(token), app.clock.now()) is not None


def test_refusals(app: App) -> None:
    app.users.add("cy", Role.AUDITOR, PASSWORD, actor="t")
    with pytest.raises(ConflictError):
        app.users.add("cy", Role.AUDITOR, PASSWORD, actor="t")
    with pytest.raises(ValidationError, match="10 characters"):
        app.users.add("dee", Role.AUDITOR, "short", actor="t")
    with pytest.raises(ValidationError, match="user names"):
        app.users.add("Bad Name", Role.AUDITOR, PASSWORD, actor="t")
    with pytest.raises(AuthError):
        app.users.login("cy", "wrong password!")
    with pytest.raises(AuthError):
        app.users.login("nobody", PASSWORD)
    app.users.add("tok", Role.AUDITOR, None, actor="t")
    with pytest.raises(AuthError):
        app.users.login("tok", "anything at all")  # token-only users have no password


def test_user_creation_is_logged_without_secrets(app: App) -> None:
    app.users.add("eve", Role.SUPERVISOR, PASSWORD, actor="admin")
    recs = [r for r in app.store.read() if r.type == "user.added"]
    assert recs[-1].actor == "admin"
    assert PASSWORD not in str(recs[-1].event)


def test_a_checked_token_is_remembered_for_seconds_and_revoking_forgets_at_once(
    app: App, clock: ManualClock
) -> None:
    app.users.add("fay", Role.DISPATCHER, None, actor="t")
    token = app.users.issue_token("fay", label="cli", actor="t", ttl=None)
    assert app.users.recent(token) is None  # never checked yet
    assert app.users.authenticate(token).name == "fay"
    remembered = app.users.recent(token)
    assert remembered is not None and remembered.name == "fay"
    # Revoked behind the service's back (another process): honoured once the memory lapses.
    app.store.revoke_tokens("fay")
    assert app.users.recent(token) is not None
    clock.advance(app.users.RECENT.total_seconds())
    assert app.users.recent(token) is None
    with pytest.raises(AuthError):
        app.users.authenticate(token)
    # Revoked through the service: forgotten at once.
    token = app.users.issue_token("fay", label="cli", actor="t", ttl=None)
    app.users.authenticate(token)
    assert app.users.revoke_tokens("fay") == 1
    assert app.users.recent(token) is None
    with pytest.raises(AuthError):
        app.users.authenticate(token)
