"""The command centre's alerts panel and map: two-person approval from the keyboard, live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer
from tests.e2e.test_accessibility import axe
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARKET_SQUARE = "60.1665,24.9500 60.1685,24.9500 60.1685,24.9560 60.1665,24.9560 60.1665,24.9500"
ESPLANADI = "60.1670,24.9420 60.1682,24.9420 60.1682,24.9470 60.1670,24.9470 60.1670,24.9420"


def draft(server: LiveServer, token: str, event: str, polygon: str) -> dict[str, Any]:
    """Compose a draft alert through the API as the token's user."""
    info = {
        "categories": ["Met"],
        "event": event,
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Observed",
        "headline": f"{event}: central Helsinki",
        "areas": [{"desc": "central Helsinki", "polygons": [polygon]}],
    }
    with server.client(token) as api:
        r = api.post("/alerts", json={"infos": [info], "reason": "e2e"})
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
    return out


def external_cap(now: datetime) -> bytes:
    """Another agency's CAP 1.2 alert over the Kaisaniemi park, valid for a day."""
    sent = now.replace(microsecond=0).isoformat()
    expires = (now + timedelta(days=1)).replace(microsecond=0).isoformat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>FMI-e2e-1</identifier>
  <sender>alerts@fmi.example</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en-GB</language>
    <category>Met</category>
    <event>Wind warning</event>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <expires>{expires}</expires>
    <headline>Strong winds at the coast</headline>
    <area>
      <areaDesc>Kaisaniemi</areaDesc>
      <polygon>60.1730,24.9440 60.1760,24.9440 60.1760,24.9500 60.1730,24.9500 60.1730,24.9440</polygon>
    </area>
  </info>
</alert>""".encode()


def drawn(page: Page, layer: str, feature_id: str) -> dict[str, Any] | None:
    """Return the properties of a feature as drawn on the map (None if not drawn)."""
    out: dict[str, Any] | None = page.evaluate(
        """([layer, id]) => {
            const m = window.vigil.mapView.map;
            const f = m.queryRenderedFeatures({layers: [layer]}).find(f => f.properties.id === id);
            return f ? f.properties : null;
        }""",
        [layer, feature_id],
    )
    return out


def wait_drawn(page: Page, layer: str, feature_id: str, state: str | None = None) -> None:
    """Wait until the map draws a feature (in a state)."""
    page.wait_for_function(
        """([layer, id, state]) => {
            const m = window.vigil.mapView.map;
            const f = m.queryRenderedFeatures({layers: [layer]}).find(f => f.properties.id === id);
            return f && (state === null || f.properties.state === state);
        }""",
        arg=[layer, feature_id, state],
        timeout=20_000,
    )


def test_supervisor_approves_from_the_keyboard_and_cannot_approve_own_draft(
    page: Page, server: LiveServer
) -> None:
    other = server.add_user("supervisor-2", Role.SUPERVISOR)
    mine = server.tokens[Role.SUPERVISOR]
    theirs = draft(server, other, "Flood warning", MARKET_SQUARE)
    own = draft(server, mine, "Heat warning", ESPLANADI)
    with server.client(mine) as api:
        r = api.post(
            "/alerts/external",
            params={"source": "fmi"},
            content=external_cap(server.app.clock.now().astimezone(UTC)),
            headers={"Content-Type": "application/xml"},
        )
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    login(page, server, "supervisor")
    page.keyboard.press("l")
    expect(page.locator("#tab-alerts")).to_have_attribute("aria-selected", "true")
    pending = page.get_by_test_id("alerts-pending")
    expect(pending.locator("li[data-state=draft]")).to_have_count(2)

    # The author's own draft: approving is refused in the UI, and the panel says why.
    own_row = pending.locator(f"li[data-alert='{own['id']}']")
    expect(own_row.get_by_test_id("why")).to_contain_text("two-person rule")
    own_approve = own_row.locator("button.approve")
    expect(own_approve).to_have_attribute("aria-disabled", "true")
    own_approve.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".toast.bad").last).to_contain_text("two-person rule")
    with server.client(mine) as api:
        assert api.get(f"/alerts/{own['id']}").json()["state"] == "draft"

    # Both areas are drawn, as drafts; the other agency's alert is drawn as external.
    wait_drawn(page, "alert-fill", theirs["id"], "draft")
    wait_drawn(page, "alert-fill", own["id"], "draft")
    wait_drawn(page, "alert-fill", "alerts@fmi.example/FMI-e2e-1")
    ext = drawn(page, "alert-fill", "alerts@fmi.example/FMI-e2e-1")
    assert ext is not None and ext["origin"] == "external"
    expect(page.get_by_test_id("alerts-external")).to_contain_text("Strong winds at the coast")
    expect(page.get_by_test_id("alerts-external")).to_contain_text("EXTERNAL")
    assert axe(page) == []  # drafts with their decisions, an external alert

    # Someone else's draft: a reason, then Tab to "Approve & publish" and Enter.
    row = pending.locator(f"li[data-alert='{theirs['id']}']")
    row.locator("input[data-reason]").focus()
    page.keyboard.type("river gauge confirmed by the duty officer")
    page.keyboard.press("Tab")
    expect(row.locator("button.approve")).to_be_focused()
    page.keyboard.press("Enter")
    active = page.get_by_test_id("alerts-active")
    expect(active.locator(f"li[data-alert='{theirs['id']}']")).to_contain_text("ACTIVE")
    with server.client(mine) as api:
        got = api.get(f"/alerts/{theirs['id']}").json()
    assert got["state"] == "published" and got["decided_by"] == "supervisor"
    wait_drawn(page, "alert-fill", theirs["id"], "published")

    # Live: a new draft written elsewhere appears without a reload, on the list and map.
    third = draft(server, other, "Storm surge warning", ESPLANADI)
    expect(pending.locator(f"li[data-alert='{third['id']}']")).to_be_visible(timeout=15_000)
    wait_drawn(page, "alert-fill", third["id"], "draft")

    # A reject needs a reason and is never published.
    third_row = pending.locator(f"li[data-alert='{third['id']}']")
    third_row.locator("button.reject").click()
    expect(page.locator(".toast.bad").last).to_contain_text("reason")
    third_row.locator("input[data-reason]").fill("duplicate of the flood warning")
    third_row.locator("button.reject").click()
    expect(page.get_by_test_id("alerts-closed")).to_contain_text("REJECTED")
    with server.client(mine) as api:
        assert api.get(f"/alerts/{third['id']}").json()["state"] == "rejected"


def test_a_dispatcher_sees_why_and_citizen_reports_on_the_map(
    page: Page, server: LiveServer
) -> None:
    other = server.add_user("supervisor-2", Role.SUPERVISOR)
    waiting = draft(server, other, "Flood warning", MARKET_SQUARE)
    login(page, server, "dispatcher")
    page.keyboard.press("l")
    row = page.get_by_test_id("alerts-pending").locator(f"li[data-alert='{waiting['id']}']")
    expect(row.get_by_test_id("why")).to_contain_text("supervisor")
    expect(row.locator("button.approve")).to_have_count(0)

    # A citizen's report (public API, no login) appears on the map live.
    r = httpx.post(
        server.url + "/api/v1/public/reports",
        json={"category": "flooding", "text": "water on the quay", "lat": 60.1674, "lon": 24.9529},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text
    report_id = r.json()["report_id"]
    wait_drawn(page, "report-dot", report_id)
