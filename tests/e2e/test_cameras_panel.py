"""The command centre's cameras panel: zones' latest counts and behaviours, the blurred snapshot, the map."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer
from tests.e2e.test_accessibility import axe
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAM = "cam-esplanadi"
ZONE = f"{CAM}.steps"


def jpeg() -> bytes:
    """A small JPEG, as the worker uploads after blurring (a flat grey frame here)."""
    buf = io.BytesIO()
    Image.new("RGB", (160, 90), (120, 120, 120)).save(buf, format="JPEG")
    return buf.getvalue()


def test_cameras_panel_shows_counts_behaviour_snapshot_and_map_label(
    page: Page, server: LiveServer
) -> None:
    sup = server.tokens[Role.SUPERVISOR]
    tokens: dict[str, str] = {}
    with server.client(sup) as api:
        for dev, streams, zone in (
            (CAM, {"fps": "Hz", "lag": "s", "dropped": "frames", "online": ""}, None),
            (ZONE, {"count": "people", "density": "people/m²", "behaviour": ""}, "esplanadi"),
        ):
            r = api.post(
                "/devices",
                json={
                    "id": dev,
                    "kind": "camera_analytics",
                    "lat": 60.1676,
                    "lon": 24.9480,
                    "zone": zone,
                    "streams": streams,
                    "interval_s": 10,
                    "label": "Esplanadi camera" if dev == CAM else "Esplanadi camera: zone steps",
                },
            )
            assert r.status_code == 201, r.text
            tokens[dev] = r.json()["token"]
    now = server.app.clock.now().isoformat()
    readings = {
        CAM: [{"device_id": CAM, "stream": "online", "seq": 1, "ts": now, "value": 1}],
        ZONE: [
            {"device_id": ZONE, "stream": "count", "seq": 1, "ts": now, "value": 4,
             "attrs": {"class": "person"}},
            {"device_id": ZONE, "stream": "behaviour", "seq": 2, "ts": now, "value": 1,
             "attrs": {"kind": "intrusion"}},
        ],
    }  # fmt: skip
    for dev, obs in readings.items():
        with server.client(tokens[dev]) as api:
            r = api.post("/observations", json={"observations": obs})
            assert r.status_code == 200 and not r.json().get("rejected"), r.text
    with server.client(tokens[CAM]) as api:
        r = api.post(
            f"/cameras/{CAM}/snapshot", content=jpeg(), headers={"Content-Type": "image/jpeg"}
        )
        assert r.status_code == 201, r.text

    login(page, server, "dispatcher")
    page.keyboard.press("v")
    expect(page.locator("#tab-cameras")).to_have_attribute("aria-selected", "true")
    button = page.locator(f"button.cam[data-camera='{CAM}']")
    expect(button).to_contain_text("INTRUSION")
    expect(button).to_contain_text("online")
    button.focus()
    page.keyboard.press("Enter")  # keyboard: the list is buttons
    detail = page.get_by_test_id("camera-detail")
    expect(detail.locator(f"tr[data-zone='{ZONE}']")).to_contain_text("person 4")
    expect(detail.locator(f"tr[data-zone='{ZONE}']")).to_contain_text("intrusion")
    snapshot = page.get_by_test_id("camera-snapshot")
    expect(snapshot).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=camera-snapshot]');"
        " return i && i.complete && i.naturalWidth === 160; }"
    )
    expect(snapshot).to_have_attribute("alt", "Latest blurred snapshot from Esplanadi camera")
    assert axe(page) == []

    # The map labels the camera with its counts and behaviour.
    page.evaluate("() => window.vigil.mapView.map.jumpTo({center: [24.9480, 60.1676], zoom: 16})")
    page.wait_for_function(
        """(id) => {
            const m = window.vigil.mapView.map;
            return m.queryRenderedFeatures({layers: ['camera-count']})
              .some(f => f.properties.id === id && f.properties.text.includes('INTRUSION'));
        }""",
        arg=CAM,
        timeout=20_000,
    )
