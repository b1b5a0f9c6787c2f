"""A citizen reports a hazard from a phone; an operator promotes it; the reporter follows it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Geolocation, Page, ViewportSize

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer
from tests.unit.reports.conftest import jpeg_with_gps
from vigil.audit.roles import Role

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}
WHERE: Geolocation = {"latitude": 60.1699, "longitude": 24.9384}


@pytest.fixture
def phone(browser: Browser, server: LiveServer) -> Iterator[Page]:
    del server
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        geolocation=WHERE,
        permissions=["geolocation"],
        user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile",
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_report_from_a_phone_with_photo_then_promoted(
    phone: Page, server: LiveServer, tmp_path: Path
) -> None:
    photo = tmp_path / "flood.jpg"
    photo.write_bytes(jpeg_with_gps((1200, 900)))
    phone.goto(server.url + "/report")
    phone.wait_for_selector("#report-form")
    # The form fits the phone: no sideways scrolling.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.select_option("#category", "flooding")
    phone.fill("#text", "Water across the road next to the tram stop")
    phone.tap("#use-gps")
    phone.wait_for_function("document.querySelector('#where').textContent.includes('60.16990')")
    phone.set_input_files("#photo", str(photo))
    phone.tap("#send")
    phone.wait_for_selector("#report-sent", timeout=20_000)
    phone.screenshot(path=str(tmp_path / "sent.png"))
    link = phone.inner_text("#status-link")
    assert "/report#status=" in link

    with server.client(server.tokens[Role.DISPATCHER]) as api:
        queue = api.get("/reports", params={"state": "new"}).json()
        assert len(queue) == 1
        report = queue[0]
        assert (
            report["category"] == "flooding" and report["has_photo"] and not report["has_contact"]
        )
        assert abs(report["lat"] - WHERE["latitude"]) < 1e-6
        stored = api.get(f"/reports/{report['id']}/photo")
        assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(stored.content)) as img:
            assert dict(img.getexif()) == {} and "exif" not in img.info
        assert b"TestCam" not in stored.content
        promoted = api.post(
            f"/reports/{report['id']}/promote",
            json={
                "incident_type": "flood",
                "priority": 3,
                "reason": "two reports, camera confirms",
            },
        )
        assert promoted.status_code == 200, promoted.text
        incident = api.get(f"/incidents/{promoted.json()['incident_id']}").json()
        assert incident["type"] == "flood" and incident["status"] == "pending"

    phone.goto(link)
    phone.wait_for_selector("#report-status [data-status='incident opened']", timeout=20_000)


def test_operator_promotes_from_the_reports_panel(page: Page, server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as public:
        sent = public.post(
            "/api/v1/public/reports",
            json={
                "category": "fallen_tree",
                "text": "Tree across the cycle path",
                "lat": 60.17,
                "lon": 24.94,
            },
        )
        assert sent.status_code == 201
    login(page, server, "dispatcher")
    page.click("#tab-reports")
    page.wait_for_selector("#reports li[data-report] button.promote", timeout=20_000)
    assert "Tree across the cycle path" in page.inner_text("#reports")
    page.click("#reports button.promote")
    page.wait_for_selector("#reports >> text=No reports awaiting moderation.", timeout=20_000)
    with server.client(server.tokens[Role.DISPATCHER]) as api:
        (report,) = api.get("/reports", params={"state": "promoted"}).json()
        incident = api.get(f"/incidents/{report['incident_id']}").json()
        assert incident["type"] == "infrastructure"
        assert "Tree across the cycle path" in incident["description"]
