"""End-to-end fixtures: a real server on a free port and headless Debian Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, LiveServer
from vigil.audit.roles import Role
from vigil.web.static import built


def _require_browser_and_ui() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not built():
        pytest.skip("the UI is not built (run scripts/build-web)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session (Debian's, not a Playwright download)."""
    _require_browser_and_ui()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real Vigil server with users and a registered fleet."""
    _require_browser_and_ui()
    srv = LiveServer(tmp_path / "data").start()
    try:
        for role in (Role.DISPATCHER, Role.SUPERVISOR, Role.CALL_TAKER, Role.ANALYST):
            srv.add_user(role.value.replace("_", "-"), role)
        srv.register_fleet(srv.tokens[Role.SUPERVISOR])
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A fresh browser context and page (own sessionStorage), closed before the server."""
    del server  # only ordering: the page must go before its server stops
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def login(page: Page, server: LiveServer, user: str) -> None:
    """Sign in through the login form and wait until queue and map are drawn."""
    page.goto(server.url)
    page.fill("#login-user", user)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("body[data-queue-ready='1']", state="attached", timeout=30_000)
    page.wait_for_selector("body[data-map-ready='1']", state="attached", timeout=60_000)
    page.wait_for_function(
        "() => window.vigil && window.vigil.live && window.vigil.live.state === 'live'",
        timeout=30_000,
    )
