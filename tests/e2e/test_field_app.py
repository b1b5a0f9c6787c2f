"""The field unit app on a phone: assignment, route, one-tap statuses, notes, AVL, offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Geolocation, Page, ViewportSize, expect

from tests.e2e.server import PASSWORD, LiveServer
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "field-app.png"
# Where the crew's phone says it is (central Helsinki, on a street).
FIX: Geolocation = {"latitude": 60.16986, "longitude": 24.93837}


@pytest.fixture
def phone(browser: Browser, server: LiveServer) -> Iterator[Page]:
    server.add_user("m1", Role.FIELD_UNIT)
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation=FIX,
        permissions=["geolocation"],
    )
    # Count vibrations (headless Chromium has no motor).
    context.add_init_script(
        "navigator.vibrate = (p) => { window.__vibrated = (window.__vibrated || 0) + 1;"
        " return true; };"
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/field")
    page.fill("#login-unit", "M1")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("body[data-field-ready='1']", state="attached", timeout=30_000)


# What the field map's WebGL canvas holds: visibility and a census of its pixels
# (kept with preserveDrawingBuffer, so a 2D copy reads the last frame).
MAP_PIXELS = """() => {
  const canvas = document.querySelector('#fmap canvas.maplibregl-canvas')
    || document.querySelector('.fmap canvas.maplibregl-canvas');
  if (!canvas) return {visible: false, colours: 0, route: 0, background: 0, total: 0};
  let el = canvas, visible = true;
  while (el) { if (getComputedStyle(el).visibility === 'hidden') visible = false; el = el.parentElement; }
  const c = document.createElement('canvas');
  c.width = canvas.width; c.height = canvas.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  let route = 0, background = 0;
  for (let i = 0; i < px.length; i += 4) {
    const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
    seen.add((r >> 3) << 10 | (g >> 3) << 5 | (b >> 3));
    if (Math.abs(r - 0x00) < 30 && Math.abs(g - 0x72) < 30 && Math.abs(b - 0xb2) < 30) route++;
    if (Math.abs(r - 0xf1) < 6 && Math.abs(g - 0xee) < 6 && Math.abs(b - 0xe8) < 6) background++;
  }
  return {visible, colours: seen.size, route, background, total: px.length / 4};
}"""


def map_pixels(page: Page) -> dict[str, int | bool]:
    """Return whether the field map is visible and what its canvas holds."""
    out: dict[str, int | bool] = page.evaluate(MAP_PIXELS)
    return out


def unit_status(server: LiveServer) -> str:
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        status: str = api.get("/units/M1").json()["status"]
    return status


def wait_status(page: Page, server: LiveServer, want: str) -> None:
    for _ in range(100):
        if unit_status(server) == want:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"M1 never became {want}: {unit_status(server)}")


def test_a_crew_runs_an_incident_from_a_phone_through_a_network_loss(
    phone: Page, server: LiveServer
) -> None:
    page = phone
    sign_in(page, server)
    expect(page.get_by_test_id("no-assignment")).to_be_visible()
    expect(page.locator("link[rel=manifest]")).to_have_attribute(
        "href", "/field/manifest.webmanifest"
    )

    # AVL: the phone's position reaches the server.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=avl]').textContent.includes('10')"
    )
    for _ in range(50):
        with server.client(server.tokens[Role.DISPATCHER]) as api:
            loc = api.get("/units/M1").json()["location"]
        if abs(loc["lat"] - FIX["latitude"]) < 1e-6:
            break
        page.wait_for_timeout(100)
    assert abs(loc["lat"] - FIX["latitude"]) < 1e-6 and abs(loc["lon"] - FIX["longitude"]) < 1e-6

    # Dispatch assigns M1: the phone alerts and shows the assignment and route.
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        r = api.post(
            "/calls",
            json={
                "location": {"lat": 60.1718, "lon": 24.9414},
                "nature": "man collapsed at the station",
                "incident_type": "medical",
            },
        )
        assert r.status_code == 201, r.text
        inc = r.json()["incident"]
        r = api.post(f"/incidents/{inc['id']}/assignments", json={"unit_ids": ["M1", "E1"]})
        assert r.status_code == 200, r.text
    expect(page.get_by_test_id("new-assignment")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("incident-number")).to_have_text(inc["number"])
    expect(page.get_by_test_id("incident-address")).to_have_text(inc["address"])
    assert page.evaluate("() => window.__vibrated") >= 1
    expect(page.locator(".others")).to_contain_text("Engine 1")
    steps = page.get_by_test_id("steps").locator("li")
    expect(steps.last).to_have_attribute("data-maneuver", "arrive")
    assert steps.count() >= 2
    expect(page.get_by_test_id("eta")).to_contain_text("ETA")
    page.get_by_role("button", name="Acknowledge").tap()
    # The map draws the basemap and the route (software WebGL here, as in the command
    # centre): it must be on screen and hold real pixels, not stay a blank box.
    page.wait_for_selector("body[data-field-map-ready='1']", state="attached", timeout=60_000)
    page.wait_for_function("() => window.field.map && window.field.map.settled", timeout=30_000)
    drawn = map_pixels(page)
    assert drawn["visible"], drawn
    assert drawn["colours"] >= 6, drawn  # background, buildings, roads, route, units...
    assert drawn["route"] > 50, drawn  # the route's blue line
    assert drawn["background"] > 0.05 * drawn["total"], drawn  # the basemap's land colour
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Only the allowed moves are offered: dispatched -> en route / on scene / available.
    buttons = page.locator("button.status")
    assert sorted(buttons.evaluate_all("els => els.map(e => e.dataset.status)")) == [
        "available",
        "en_route",
        "on_scene",
    ]
    page.locator("button[data-status=en_route]").tap()
    wait_status(page, server, "en_route")

    # The network drops: actions queue, in order, and the app says so.
    expect(page.locator("button[data-status=on_scene]")).to_be_visible()
    page.context.set_offline(True)
    page.locator("button[data-status=on_scene]").tap()
    page.fill("#note-text", "patient conscious, breathing")
    page.click("#note-submit")
    pending = page.get_by_test_id("pending")
    # (An AVL fix may wait there too; only the newest fix is ever kept.)
    queued = pending.locator("li:not([data-kind=position])")
    expect(queued).to_have_count(2)
    assert queued.evaluate_all("els => els.map(e => e.dataset.kind)") == ["status", "note"]
    assert pending.locator("li[data-kind=position]").count() <= 1
    expect(page.get_by_test_id("connection")).to_have_attribute("data-online", "false")
    page.wait_for_timeout(1000)
    assert unit_status(server) == "en_route"

    # Back online: delivered once each, in the order taken.
    page.context.set_offline(False)
    expect(pending).to_have_attribute("data-count", "0", timeout=20_000)
    wait_status(page, server, "on_scene")
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        timeline = api.get(f"/incidents/{inc['id']}/timeline").json()
    mine = [
        (e["type"], e["data"].get("new") or e["data"].get("text"))
        for e in timeline
        if e["actor"] == "m1" and e["type"] in {"unit.status_changed", "incident.note_added"}
    ]
    assert mine == [
        ("unit.status_changed", "en_route"),
        ("unit.status_changed", "on_scene"),
        ("incident.note_added", "patient conscious, breathing"),
    ]
    expect(page.get_by_test_id("notes")).to_contain_text("patient conscious")

    # Clear: available again, the assignment is gone.
    page.locator("button[data-status=available]").tap()
    wait_status(page, server, "available")
    expect(page.get_by_test_id("no-assignment")).to_be_visible(timeout=15_000)
