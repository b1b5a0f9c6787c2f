"""Honest time: the command centre shows ages from the server's clock, not the browser's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer, road_points
from vigil.audit.roles import Role
from vigil.core.clock import ManualClock

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Far from real time in both directions the browser could be wrong by.
SIMULATED = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SIMULATED)


@pytest.fixture
def sim_server(tmp_path: Path, clock: ManualClock) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "data", clock=clock).start()
    try:
        srv.add_user("dispatcher", Role.DISPATCHER)
        srv.add_user("supervisor", Role.SUPERVISOR)
        srv.register_fleet(srv.tokens[Role.SUPERVISOR])
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sim_page(browser: Browser, sim_server: LiveServer) -> Iterator[Page]:
    del sim_server
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def age_seconds(text: str) -> int:
    """Parse the queue's age display ("42s", "3m 05s", "1h 02m") into seconds."""
    m = re.fullmatch(r"(?:(\d+)h )?(?:(\d+)m ?)?(?:(\d+)s)?", text.strip())
    assert m and text.strip(), f"not an age: {text!r}"
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def test_ages_come_from_the_simulated_server_clock(
    sim_page: Page, sim_server: LiveServer, clock: ManualClock
) -> None:
    at = road_points(sim_server.network, 1, seed=2)[0]
    with sim_server.client(sim_server.tokens[Role.DISPATCHER]) as api:
        r = api.post(
            "/calls",
            json={
                "location": {"lat": at.lat, "lon": at.lon},
                "nature": "honest time",
                "incident_type": "medical",
            },
        )
        assert r.status_code == 201, r.text
        inc = r.json()["incident"]["id"]
    clock.advance(90)  # the call came in 90 simulated seconds ago
    login(sim_page, sim_server, "dispatcher")
    timer = sim_page.locator(f"#q-{inc} .timer")
    expect(timer).to_have_count(1)
    # The browser's clock is years away from 2031: an age from it would read in
    # the tens of thousands of hours (or 0 s, clamped, if the server ran ahead).
    shown = age_seconds(timer.inner_text())
    assert 90 <= shown <= 90 + 30, timer.inner_text()

    # The server's clock jumps an hour: the next clock frame on the live feed
    # (every 5 s) moves every age on screen, with no event about the incident.
    clock.advance(3600)
    sim_page.wait_for_function(
        """id => {
            const t = document.querySelector(`#q-${id} .timer`).textContent;
            return t.startsWith("1h ");
        }""",
        arg=inc,
        timeout=15_000,
    )
    assert 3660 <= age_seconds(timer.inner_text()) <= 3720  # "1h 01m": minutes shown
