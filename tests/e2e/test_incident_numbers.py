"""Short incident numbers in the command centre: sequential, found by number, across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer, road_points
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def open_calls(server: LiveServer, n: int, seed: int) -> list[dict[str, str]]:
    out = []
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        for i, at in enumerate(road_points(server.network, n, seed=seed)):
            r = api.post(
                "/calls",
                json={
                    "location": {"lat": at.lat, "lon": at.lon},
                    "nature": f"numbered {seed}-{i}",
                    "incident_type": "medical",
                },
            )
            assert r.status_code == 201, r.text
            out.append(r.json()["incident"])
    return out


def test_numbers_are_sequential_shown_searchable_and_survive_a_restart(
    browser: Browser, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = LiveServer(data).start()
    try:
        first.add_user("dispatcher", Role.DISPATCHER)
        before = open_calls(first, 2, seed=21)
    finally:
        first.stop()

    second = LiveServer(data).start()  # a new process on the same store
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        second.tokens[Role.DISPATCHER] = second.app.users.issue_token(
            "dispatcher", label="e2e", actor="e2e", ttl=None
        )
        after = open_calls(second, 1, seed=22)
        numbers = [i["number"] for i in before + after]
        year = numbers[0].split("-")[0]
        assert numbers == [f"{year}-000001", f"{year}-000002", f"{year}-000003"]

        page = context.new_page()
        login(page, second, "dispatcher")
        for inc in before + after:
            expect(page.locator(f"#q-{inc['id']} .num")).to_have_text(inc["number"])
        # Find by the number a caller or crew reads out; the others are hidden.
        page.keyboard.press("f")
        expect(page.locator("#queue-find")).to_be_focused()
        page.keyboard.type("2")
        visible = page.locator("#queue-list li:visible")
        expect(visible).to_have_count(1)
        expect(visible.first).to_have_attribute("data-id", before[1]["id"])
        visible.first.click()
        expect(page.get_by_test_id("incident-number")).to_have_text(numbers[1])
    finally:
        context.close()
        second.stop()
