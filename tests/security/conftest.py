"""Fixtures of the attack tests."""

from __future__ import annotations

import pytest

from tests.conftest import user_name
from vigil.app import App
from vigil.audit.roles import HUMAN_ROLES, Role


@pytest.fixture
def tokens(app: App) -> dict[Role, str]:
    """One token-only login per human role (no argon2: these tests attack other things)."""
    out: dict[Role, str] = {}
    for role in HUMAN_ROLES:
        app.users.add(user_name(role), role, None, actor="test")
        out[role] = app.users.issue_token(user_name(role), label="test", actor="test", ttl=None)
    return out
