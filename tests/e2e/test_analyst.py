"""The analyst page in headless Chromium: KPIs with intervals, a plot, keyboard, phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import shared_file
from tests.e2e.server import PASSWORD, LiveServer
from tests.e2e.test_accessibility import axe
from vigil.history.store import HistoryStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIRES = "cad/sffd_calls_fires_2009_2019.csv"
INTERVAL = re.compile(r"^\d+–\d+$")


def _import_history(server: LiveServer) -> None:
    store = HistoryStore.in_data_dir(server.app.settings.data_dir)
    store.import_file(shared_file(FIRES), "sffd", tz="America/Los_Angeles", progress=False)


def _sign_in(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/analyst")
    page.fill("#login-user", "analyst")
    page.fill("#login-password", PASSWORD)
    page.press("#login-password", "Enter")  # the keyboard submits the form
    expect(page.locator("#an-status")).to_have_text(re.compile(r"^\d+ groups$"), timeout=60_000)


def test_the_analyst_page_shows_kpis_with_intervals_and_a_plot(
    page: Page, server: LiveServer
) -> None:
    _import_history(server)
    _sign_in(page, server)
    table = page.locator("#an-table")
    expect(table).to_be_visible()
    expect(table.locator("caption")).to_contain_text("95% confidence intervals")
    rows = table.locator("tbody tr")
    assert rows.count() >= 3  # station areas of the SFFD fires extract
    first = rows.first.locator("td")
    assert int(first.nth(0).inner_text()) > 0  # n
    assert INTERVAL.match(first.nth(6).inner_text()), first.nth(6).inner_text()  # p90 CI
    plot = page.locator("#an-plot")
    expect(plot).to_be_visible()
    assert plot.locator("rect").count() == rows.count()  # one bar per group
    assert plot.get_attribute("aria-label")


def test_the_analyst_page_works_from_the_keyboard(page: Page, server: LiveServer) -> None:
    _import_history(server)
    _sign_in(page, server)
    expect(page.locator("#an-table")).to_be_visible()
    page.locator("#an-source").focus()
    reached: list[str] = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement && document.activeElement.id"))
    assert reached[:3] == ["an-interval", "an-breakdown", "an-stat"], reached
    # Change the breakdown with the arrow keys: the table is rebuilt by hour of day.
    page.locator("#an-breakdown").focus()
    page.keyboard.press("ArrowDown")  # area -> hour
    expect(page.locator("#an-breakdown")).to_have_value("hour")
    expect(page.locator("#an-table caption")).to_contain_text("by hour", timeout=60_000)
    # The table's scroll region is reachable by Tab too (it scrolls on small screens).
    page.locator("#an-stat").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "an-table-wrap" in focused, focused
    assert axe(page) == []  # WCAG 2.1 AA: no serious or critical violation


def test_the_analyst_page_fits_a_phone(browser: Browser, server: LiveServer) -> None:
    _import_history(server)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        _sign_in(page, server)
        expect(page.locator("#an-table")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px wide)"
        box = page.locator("#an-plot").bounding_box()
        assert box is not None and box["width"] <= 390
    finally:
        context.close()
