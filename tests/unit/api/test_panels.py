"""The Devices panel's detail: a device's recent readings and the rules that watch it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.unit.ingest.test_api import NOISE
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.clock import ManualClock


def test_recent_readings_newest_first_and_watching_rules(
    client: TestClient, tokens: dict[Role, str], app: App, clock: ManualClock
) -> None:
    r = client.post("/api/v1/devices", json=NOISE, headers=auth(tokens[Role.SUPERVISOR]))
    assert r.status_code == 201, r.text
    dev = auth(r.json()["token"])
    start = clock.now()
    for i in range(5):
        ts = (start - timedelta(seconds=60 * (5 - i))).isoformat()
        obs = {"device_id": "nm-1", "stream": "laeq", "seq": i + 1, "ts": ts, "value": 50 + i}
        assert client.post("/api/v1/observations", json=obs, headers=dev).status_code == 200
    got = client.get(
        "/api/v1/devices/nm-1/recent", params={"limit": 3}, headers=auth(tokens[Role.DISPATCHER])
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert [x["value"] for x in body["readings"]] == [54, 53, 52]
    assert body["readings"][0]["unit"] == "dB(A)"
    watchers = {w["ref"].split("@")[0]: w for w in body["watched_by"]}
    noise_rules = [r for r in app.rules.rules.rules if r.match[0] == "noise_meter"]
    assert noise_rules, "the default rules watch noise meters"
    assert set(watchers) == {r.name for r in noise_rules if r.scope_zone is None}
    assert all(w["stream"] for w in watchers.values())
    unknown = client.get("/api/v1/devices/nope/recent", headers=auth(tokens[Role.DISPATCHER]))
    assert unknown.status_code == 404
