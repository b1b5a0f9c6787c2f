"""The Devices panel: grouped with counts, latest reading and age, offline first, search, detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_devices_panel_groups_searches_and_details(page: Page, server: LiveServer) -> None:
    sup = server.tokens[Role.SUPERVISOR]
    tokens = {}
    with server.client(sup) as api:
        for i, (kind, zone, streams) in enumerate(
            [
                ("noise_meter", "kallio", {"laeq": "dB(A)"}),
                ("noise_meter", "kallio", {"laeq": "dB(A)"}),
                ("flood_gauge", "harbour", {"level": "m"}),
            ]
        ):
            r = api.post(
                "/devices",
                json={
                    "id": f"d-{i}",
                    "kind": kind,
                    "lat": 60.17 + i * 0.001,
                    "lon": 24.94,
                    "zone": zone,
                    "streams": streams,
                    "interval_s": 60,
                    "label": f"Sensor {i}",
                },
            )
            assert r.status_code == 201, r.text
            tokens[f"d-{i}"] = r.json()["token"]
    now = server.app.clock.now()
    for i in range(4):
        with server.client(tokens["d-0"]) as dev:
            ts = (now - timedelta(seconds=30 * (4 - i))).isoformat()
            r = dev.post(
                "/observations",
                json={
                    "device_id": "d-0",
                    "stream": "laeq",
                    "seq": i + 1,
                    "ts": ts,
                    "value": 55 + i,
                },
            )
            assert r.status_code == 200, r.text
    login(page, server, "dispatcher")
    page.keyboard.press("d")
    panel = page.locator("#devices")
    expect(panel.locator("#dev-counts")).to_contain_text("3 devices")
    expect(panel.locator("table.devs caption")).to_have_count(2)
    expect(panel.locator("caption", has_text="noise meter · kallio — 2")).to_have_count(1)
    row = panel.locator("tr[data-device='d-0']")
    expect(row.locator(".reading")).to_have_text("laeq 58.0 dB(A)")
    expect(row.locator(".timer")).not_to_be_empty()
    page.fill("#dev-find", "harbour")
    expect(panel.locator("tr[data-device]")).to_have_count(1)
    page.fill("#dev-find", "")
    row.click()
    expect(page.locator("#dev-detail svg.spark polyline")).to_have_count(1)
    expect(page.locator("#dev-detail")).to_contain_text("Watched by")
