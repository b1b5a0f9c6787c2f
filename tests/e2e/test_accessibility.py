"""WCAG 2.1 AA by axe-core on the command centre, the field app and the public pages.

axe-core comes from the web build's npm packages (vigil/web/node_modules), injected
into each page; a page passes with no serious or critical violation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import PASSWORD, LiveServer, busy_scene
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AXE = (
    Path(__file__).resolve().parents[2]
    / "vigil"
    / "web"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page; return the serious and critical violations."""
    if not AXE.is_file():
        pytest.skip(f"{AXE} is missing (scripts/build-web installs it)")
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_command_centre(page: Page, server: LiveServer) -> None:
    busy_scene(server, server.tokens[Role.DISPATCHER])
    page.goto(server.url)
    assert axe(page) == []  # the sign-in form
    login(page, server, "dispatcher")
    page.locator("#queue-list li").first.click()
    expect(page.get_by_test_id("recommendations").locator("li").first).to_be_visible(timeout=15_000)
    assert axe(page) == []
    for tab in ("units", "devices", "cameras", "alerts", "reports"):
        page.click(f"#tab-{tab}")
        assert axe(page) == [], tab
    page.keyboard.press("n")
    expect(page.locator("#call-address")).to_be_focused()
    assert axe(page) == []  # the new-call dialog


def test_field_app(browser: Browser, server: LiveServer) -> None:
    server.add_user("m1", Role.FIELD_UNIT)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(server.url + "/field/")
        assert axe(page) == []  # the crew sign-in
        page.fill("#login-unit", "M1")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("body[data-field-ready='1']", state="attached")
        with server.client(server.tokens[Role.DISPATCHER]) as api:
            inc = api.post(
                "/calls",
                json={
                    "location": {"lat": 60.1718, "lon": 24.9414},
                    "nature": "fall",
                    "incident_type": "medical",
                },
            ).json()["incident"]
            api.post(f"/incidents/{inc['id']}/assignments", json={"unit_ids": ["M1"]})
        expect(page.get_by_test_id("new-assignment")).to_be_visible(timeout=15_000)
        expect(page.get_by_test_id("steps").locator("li").first).to_be_visible()
        assert axe(page) == []
    finally:
        context.close()


def test_public_pages(page: Page, server: LiveServer) -> None:
    r = page.goto(server.url + "/transparency")
    assert r is not None and r.ok, "the public transparency page must be served"
    assert axe(page) == []


def test_command_centre_on_a_phone(browser: Browser, server: LiveServer) -> None:
    """A supervisor looking in from a phone: the narrow layout passes too (header wraps)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        login(page, server, "dispatcher")
        header = page.locator("header.top").bounding_box()
        logout = page.get_by_role("button", name="Log out").bounding_box()
        assert header is not None and logout is not None
        # Every header control stays on the header's dark background (white text).
        assert logout["x"] + logout["width"] <= header["x"] + header["width"] + 0.5
        assert logout["y"] + logout["height"] <= header["y"] + header["height"] + 0.5
        assert axe(page) == []
    finally:
        context.close()
