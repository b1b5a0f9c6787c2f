"""HTTP: GET /rules (supervisor, admin, analyst) and GET /alerts/drafts (viewers)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.unit.rules.conftest import T0, minutes, obs
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.geometry import LatLon
from vigil.ingest.model import DeviceKind


def test_rules_lists_versions_counters_and_reload_error(
    app: App, client: TestClient, tokens: dict[Role, str]
) -> None:
    app.rules.on_observations([obs(DeviceKind.SMOKE_PANEL, "alarm", 1.0, T0, device="SP-9")])
    r = client.get("/api/v1/rules", headers=auth(tokens[Role.ANALYST]))
    assert r.status_code == 200, r.text
    body = r.json()
    rules = {x["name"]: x for x in body["rules"]}
    assert rules["smoke-panel-alarm"]["ref"] == "smoke-panel-alarm@v1"
    assert rules["smoke-panel-alarm"]["fired"] == 1
    assert rules["flood-market-square"]["fired"] == 0
    assert body["last_reload_error"] is None
    assert body["files"] == ["<built-in default_rules.yaml>"]
    for role, code in (
        (Role.SUPERVISOR, 200),
        (Role.ADMIN, 200),
        (Role.DISPATCHER, 403),
        (Role.CALL_TAKER, 403),
    ):
        assert client.get("/api/v1/rules", headers=auth(tokens[role])).status_code == code
    assert client.get("/api/v1/rules").status_code == 401


def test_drafts_are_listed_for_viewers(
    app: App, client: TestClient, tokens: dict[Role, str]
) -> None:
    gauge = LatLon(60.1670, 24.9530)
    app.rules.on_observations(
        [
            obs(
                DeviceKind.FLOOD_GAUGE,
                "level",
                3.5,
                T0 + minutes(m),
                device="FG-1",
                location=gauge,
                unit="m",
            )
            for m in range(11)
        ]
    )
    r = client.get("/api/v1/alerts/drafts", headers=auth(tokens[Role.DISPATCHER]))
    assert r.status_code == 200, r.text
    (draft,) = r.json()
    assert draft["status"] == "draft"
    assert draft["event"] == "Flood warning"
    assert draft["rule"] == "flood-market-square@v1"
    assert draft["drafted_by"] == "rule:flood-market-square@v1"
    assert draft["polygon"].startswith("60.168100,24.950600 ")
    assert len(draft["evidence"]) == 11
    assert (
        client.get("/api/v1/alerts/drafts", headers=auth(tokens[Role.AUDITOR])).status_code == 403
    )
