"""Item 1: registering a device must never hand out a token of a non-device login.

Attack (before): an admin login named ``device-boss`` existed; a supervisor
registered device ``boss``; ``POST /devices`` revoked the admin's tokens and
returned a fresh token of that admin login to the supervisor.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.auth.events import UserAdded
from vigil.core.events import Pending
from vigil.core.ids import new_event_id
from vigil.store.records import UserRecord

BOSS = {"id": "boss", "kind": "noise_meter", "lat": 60.17, "lon": 24.94, "interval_s": 60}


def _admin_named_device_boss(app: App) -> None:
    """Plant the login the attack needs, as an older Vigil (or a direct insert) could."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    app.store.add_user(
        UserRecord(name="device-boss", role="admin", password_hash="!", created_at=now),
        Pending(
            id=new_event_id(),
            at=now,
            actor="test",
            cause=None,
            event=UserAdded(name="device-boss", role="admin"),
        ),
    )


def test_admin_cannot_create_a_login_in_the_device_namespace(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    r = client.post(
        "/api/v1/users",
        json={"name": "device-boss", "role": "admin"},
        headers=auth(tokens[Role.ADMIN]),
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "name"
    assert "reserved" in r.json()["detail"]


def test_registering_a_device_never_returns_a_token_of_another_role(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    _admin_named_device_boss(app)
    admin_token = app.users.issue_token("device-boss", label="t", actor="t", ttl=None)
    r = client.post("/api/v1/devices", json=BOSS, headers=auth(tokens[Role.SUPERVISOR]))
    assert r.status_code == 409, r.text
    assert "device login" in r.json()["detail"]
    # The admin keeps its token (nothing was revoked) and nobody got a new one.
    assert app.users.authenticate(admin_token).role == "admin"
    assert "token" not in r.json()
    me = client.get("/api/v1/auth/me", headers=auth(admin_token))
    assert me.json() == {"name": "device-boss", "role": "admin"}


def test_a_device_token_belongs_to_a_device_login(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    r = client.post("/api/v1/devices", json=BOSS, headers=auth(tokens[Role.SUPERVISOR]))
    assert r.status_code == 201, r.text
    me = client.get("/api/v1/auth/me", headers=auth(r.json()["token"]))
    assert me.json() == {"name": "device-boss", "role": "device"}
    # The registry may create device logins; nobody else may.
    r = client.post(
        "/api/v1/users",
        json={"name": "gateway-x", "role": "device"},
        headers=auth(tokens[Role.ADMIN]),
    )
    assert r.status_code == 422
