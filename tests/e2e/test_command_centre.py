"""The command centre in a real browser against a real server: call to close, live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer, busy_scene, road_points
from tests.e2e.test_alerts_panel import draft
from vigil.audit.roles import Role
from vigil.cad.service import NewCall
from vigil.core.geometry import LatLon
from vigil.incidents.events import IncidentOpened

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshots" / "command-centre.png"


def rendered(page: Page, layer: str, feature_id: str, prop: str | None = None) -> Any:
    """Return a property of a feature as drawn on the map (None if not drawn)."""
    return page.evaluate(
        """([layer, id, prop]) => {
            const m = window.vigil.mapView.map;
            const f = m.queryRenderedFeatures({layers: [layer]}).find(f => f.properties.id === id);
            if (!f) return null;
            return prop ? f.properties[prop] : true;
        }""",
        [layer, feature_id, prop],
    )


def wait_rendered(page: Page, layer: str, feature_id: str, prop: str, value: object) -> None:
    """Wait until the map draws a feature with a property value."""
    page.wait_for_function(
        """([layer, id, prop, value]) => {
            const m = window.vigil.mapView.map;
            const f = m.queryRenderedFeatures({layers: [layer]}).find(f => f.properties.id === id);
            return f && f.properties[prop] === value;
        }""",
        arg=[layer, feature_id, prop, value],
        timeout=15_000,
    )


def test_call_to_close_updates_queue_map_and_board_live(page: Page, server: LiveServer) -> None:
    login(page, server, "dispatcher")
    expect(page.get_by_test_id("who")).to_contain_text("dispatcher")

    # New call by address: search, choose the match, describe, submit.
    page.keyboard.press("n")
    address = page.locator("#call-address")
    expect(address).to_be_focused()
    address.type("Mannerheimintie 10", delay=20)
    match = page.locator("#call-matches li[role=option]").first
    expect(match).to_contain_text("Mannerheimintie 10")
    address.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#call-where")).to_contain_text("Mannerheimintie 10")
    page.fill("#call-nature", "smoke pouring from a shop")
    page.select_option("#call-type", "structure_fire")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".modal")).to_have_count(0)

    # The incident appears in the queue and on the map without a reload.
    row = page.locator("#queue-list li", has_text="Mannerheimintie 10")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "pending")
    incident_id = row.get_attribute("data-id")
    assert incident_id
    wait_rendered(page, "incident-dot", incident_id, "pending", True)

    # Open it; the recommendation lists units with drive times.
    row.click()
    expect(page.locator("#detail-title")).to_contain_text(incident_id)
    recs = page.get_by_test_id("recommendations").locator("li")
    expect(recs.first).to_be_visible(timeout=15_000)
    expect(recs.first.locator(".eta")).to_contain_text("ETA")
    recommended = recs.evaluate_all("els => els.map(e => e.dataset.unit)")
    assert recommended

    # Assign the recommendation in one keystroke.
    page.locator("body").press("a")
    expect(row).to_have_attribute("data-status", "dispatched")
    unit = recommended[0]
    board_row = page.locator(f"#u-{unit}")
    expect(board_row).to_have_attribute("data-status", "dispatched")
    wait_rendered(page, "unit-dot", unit, "status", "dispatched")
    expect(page.locator(f"#detail-head [data-unit='{unit}']")).to_be_visible()

    # The crew reports en route and on scene through the API: map and board follow.
    with server.client(server.tokens[Role.SUPERVISOR]) as api:
        r = api.post(f"/units/{unit}/status", json={"status": "en_route"})
        assert r.status_code == 200, r.text
        expect(board_row).to_have_attribute("data-status", "en_route")
        wait_rendered(page, "unit-dot", unit, "status", "en_route")
        # The crew drives up to the address (a fix next to the incident).
        loc = api.get(f"/incidents/{incident_id}").json()["location"]
        at = LatLon(loc["lat"] + 0.0002, loc["lon"] + 0.0002)
        r = api.post(f"/units/{unit}/position", json={"location": {"lat": at.lat, "lon": at.lon}})
        assert r.status_code == 202, r.text
        page.wait_for_function(
            """([id, lat, lon]) => {
                const data = window.vigil.mapView.map.getSource('units').serialize().data;
                const f = data.features.find(f => f.properties.id === id);
                if (!f) return false;
                const [x, y] = f.geometry.coordinates;
                return Math.abs(x - lon) < 1e-9 && Math.abs(y - lat) < 1e-9;
            }""",
            arg=[unit, at.lat, at.lon],
            timeout=15_000,
        )
        r = api.post(f"/units/{unit}/status", json={"status": "on_scene"})
        assert r.status_code == 200, r.text
    expect(board_row).to_have_attribute("data-status", "on_scene")
    wait_rendered(page, "unit-dot", unit, "status", "on_scene")
    expect(row).to_have_attribute("data-status", "on_scene")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("On scene")

    # Close it: it leaves the queue and the map; the units come free.
    page.locator("body").press("c")
    page.fill("#close-disposition", "fire extinguished")
    page.click("#close-submit")
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("closed-note")).to_contain_text("fire extinguished")
    expect(board_row).to_have_attribute("data-status", "available")
    page.wait_for_function(
        """id => !window.vigil.mapView.map.querySourceFeatures('incidents')
            .some(f => f.properties.id === id)""",
        arg=incident_id,
        timeout=15_000,
    )


def test_a_dropped_live_connection_resumes_and_misses_nothing(
    page: Page, server: LiveServer
) -> None:
    login(page, server, "dispatcher")
    # Cut the stream at the server and refuse reconnects, as a dropped network would.
    page.route("**/api/v1/live**", lambda route: route.abort("internetdisconnected"))
    server.api.state.live.disconnect_all_threadsafe()
    page.wait_for_function("() => window.vigil.live.state === 'reconnecting'", timeout=10_000)

    opened: list[str] = []
    points = road_points(server.network, 6, seed=5)
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        for i, at in enumerate(points):
            r = api.post(
                "/calls",
                json={
                    "location": {"lat": at.lat, "lon": at.lon},
                    "nature": f"resume check {i}",
                    "incident_type": "medical",
                },
            )
            assert r.status_code == 201, r.text
            opened.append(r.json()["incident"]["id"])
        r = api.patch(f"/incidents/{opened[0]}", json={"priority": 1, "reason": "worse"})
        assert r.status_code == 200, r.text
        r = api.post(f"/incidents/{opened[1]}/assignments", json={"unit_ids": ["M1"]})
        assert r.status_code == 200, r.text
        r = api.post("/units/M1/status", json={"status": "en_route"})
        assert r.status_code == 200, r.text
        r = api.post(f"/incidents/{opened[2]}/cancel", json={"reason": "duplicate call"})
        assert r.status_code == 200, r.text
        page.wait_for_timeout(1500)  # stay cut off for a while: reconnects are refused
        assert page.evaluate("() => window.vigil.live.state") == "reconnecting"
        page.unroute("**/api/v1/live**")
        page.wait_for_function("() => window.vigil.live.state === 'live'", timeout=20_000)

        last_seq = server.app.store.last_seq()
        page.wait_for_function(f"() => window.vigil.live.lastSeq >= {last_seq}", timeout=10_000)
        active = {i["id"]: i for i in api.get("/incidents", params={"active": True}).json()}
        units = {u["id"]: u for u in api.get("/units").json()}

    # Everything that happened during the drop is on screen.
    queue = page.locator("#queue-list li")
    expect(queue).to_have_count(len(active))
    shown = set(queue.evaluate_all("els => els.map(e => e.dataset.id)"))
    assert shown == set(active)
    assert opened[2] not in shown
    expect(page.locator(f"#q-{opened[0]}")).to_have_attribute("data-priority", "1")
    expect(page.locator(f"#q-{opened[1]}")).to_have_attribute("data-status", "dispatched")
    statuses = page.locator("#board tr[data-unit]").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.unit, e.dataset.status]))"
    )
    assert statuses == {uid: u["status"] for uid, u in units.items()}
    assert statuses["M1"] == "en_route"


def test_roles_see_only_what_they_may_do(page: Page, server: LiveServer) -> None:
    login(page, server, "analyst")
    expect(page.locator("#new-call")).to_have_count(0)
    page.keyboard.press("n")
    expect(page.locator(".modal")).to_have_count(0)
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        at = road_points(server.network, 1, seed=3)[0]
        r = api.post(
            "/calls",
            json={
                "location": {"lat": at.lat, "lon": at.lon},
                "nature": "x",
                "incident_type": "medical",
            },
        )
        inc = r.json()["incident"]["id"]
    row = page.locator(f"#q-{inc}")
    expect(row).to_have_count(1)
    row.click()
    expect(page.locator("#detail-title")).to_contain_text(inc)
    expect(page.locator("#assign-recommended")).to_have_count(0)
    expect(page.locator("#close-incident")).to_have_count(0)


def test_keyboard_help_and_focus(page: Page, server: LiveServer) -> None:
    login(page, server, "call-taker")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Assign the recommended units")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    page.keyboard.press("/")
    expect(page.locator("#call-address")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".modal")).to_have_count(0)


def test_screenshot_of_a_busy_command_centre(page: Page, server: LiveServer) -> None:
    incidents = busy_scene(server, server.tokens[Role.DISPATCHER])
    # A warning awaiting approval (drawn dashed) and a citizen's report on the map.
    waiting = draft(server, server.add_user("supervisor-2", Role.SUPERVISOR), "Flood warning",
                    "60.1668,24.9440 60.1688,24.9440 60.1688,24.9500 60.1668,24.9500 60.1668,24.9440")  # fmt: skip
    r = httpx.post(
        server.url + "/api/v1/public/reports",
        json={"category": "fallen_tree", "text": "tree across the path", "lat": 60.1712, "lon": 24.9445},
        timeout=30,
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    login(page, server, "dispatcher")
    page.wait_for_function(
        """(id) => window.vigil.mapView.map.queryRenderedFeatures({layers: ['alert-fill']})
             .some(f => f.properties.id === id)""",
        arg=waiting["id"],
        timeout=20_000,
    )
    expect(page.locator("#queue-list li")).to_have_count(
        sum(1 for i in incidents if i["status"] in {"pending", "dispatched", "on_scene"})
    )
    first = page.locator("#queue-list li").first
    first.click()
    expect(page.get_by_test_id("recommendations").locator("li").first).to_be_visible(timeout=15_000)
    page.wait_for_timeout(600)  # let the route preview and labels settle
    # The map may still be drawing the last update behind its still copy.
    page.wait_for_function("() => window.vigil.mapView.settled", timeout=10_000)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000


def test_a_client_told_to_resync_reopens_at_once_and_misses_nothing(
    browser: Browser, tmp_path: Path
) -> None:
    # The server's side (a slow reader gets a gap-free prefix, then `resync`, then its
    # stream ends) is tested on real sockets in tests/integration/test_live_swarm.py;
    # whether a socket backs up depends on kernel buffers and the machine's load, so
    # here the page is handed that frame deterministically: its next stream is the
    # server's last frame to a client that overflowed, and the page must reopen at
    # once from the last change it applied and miss none made meanwhile.
    srv = LiveServer(tmp_path / "data").start()
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    try:
        srv.add_user("dispatcher", Role.DISPATCHER)
        srv.register_fleet(srv.add_user("supervisor", Role.SUPERVISOR))
        page = context.new_page()
        login(page, srv, "dispatcher")
        ids = []
        for i, at in enumerate(road_points(srv.network, 3, seed=9)):
            out = srv.app.cad.take_call(
                NewCall(location=at, nature=f"resync {i}", incident_type="medical"), actor="e2e"
            )
            ids += [r.event.incident_id for r in out.records if isinstance(r.event, IncidentOpened)]
        page.wait_for_function(
            f"() => window.vigil.live.lastSeq >= {srv.app.store.last_seq()}", timeout=20_000
        )
        overflowed = {"sent": 0}

        def overflow_once(route: Any) -> None:
            if overflowed["sent"]:
                route.continue_()
                return
            overflowed["sent"] = 1
            after = page.evaluate("() => window.vigil.live.lastSeq")
            frame = f'event: resync\ndata: {{"after": {after}}}\n\n'
            route.fulfill(status=200, content_type="text/event-stream", body=frame)

        page.evaluate("() => window.vigil.live.drop(600000)")  # offline while changes happen
        for k in range(60):
            srv.app.cad.update_incident(
                ids[k % 3], actor="e2e", description=f"burst mk{k}k", reason="e2e"
            )
        page.route("**/api/v1/live?*", overflow_once)
        page.evaluate("() => window.vigil.live.drop(0)")
        last_seq = srv.app.store.last_seq()
        page.wait_for_function(f"() => window.vigil.live.lastSeq >= {last_seq}", timeout=20_000)
        assert overflowed["sent"] == 1
        assert page.evaluate("() => window.vigil.live.resyncs") == 1
        for j, inc in enumerate(ids):
            expect(page.locator(f"#q-{inc} .desc")).to_contain_text(f"burst mk{57 + j}k")
        context.close()
    finally:
        srv.stop()
