"""The command centre's cameras panel: zones' latest counts and behaviours, the blurred snapshot
with the zone overlay drawn over it (desktop and phone), the map."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import login
from tests.e2e.server import LiveServer
from tests.e2e.test_accessibility import AXE, TAGS, axe
from vigil.audit.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAM = "cam-esplanadi"
ZONE = f"{CAM}.steps"
LINE = f"{CAM}.gate"
W, H = 160, 90  # the snapshot's (and the layout's) frame, pixels
STEPS = [[20, 30], [100, 30], [100, 80], [20, 80]]  # the restricted zone, frame pixels


def jpeg() -> bytes:
    """A small JPEG, as the worker uploads after blurring (a flat grey frame here)."""
    buf = io.BytesIO()
    Image.new("RGB", (160, 90), (120, 120, 120)).save(buf, format="JPEG")
    return buf.getvalue()


def _camera_with_counts_snapshot_and_layout(server: LiveServer) -> None:
    """Register a camera, its restricted zone and a line; post readings, a snapshot, the layout."""
    sup = server.tokens[Role.SUPERVISOR]
    tokens: dict[str, str] = {}
    with server.client(sup) as api:
        for dev, streams, zone in (
            (CAM, {"fps": "Hz", "lag": "s", "dropped": "frames", "online": ""}, None),
            (ZONE, {"count": "people", "density": "people/m²", "behaviour": ""}, "esplanadi"),
            (LINE, {"crossed_in": "people", "crossed_out": "people"}, None),
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
                    "label": "Esplanadi camera" if dev == CAM else f"Esplanadi camera: {dev}",
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
        LINE: [
            {"device_id": LINE, "stream": "crossed_in", "seq": 1, "ts": now, "value": 3,
             "attrs": {"class": "person"}},
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
        r = api.put(
            f"/cameras/{CAM}/layout",
            json={
                "width": W,
                "height": H,
                "zones": [
                    {"name": "steps", "kind": "restricted", "points": STEPS},
                    {"name": "gate", "kind": "line", "points": [[0, 85], [160, 85]]},
                ],
            },
        )
        assert r.status_code == 200, r.text


def _open_camera(page: Page) -> None:
    page.keyboard.press("v")
    expect(page.locator("#tab-cameras")).to_have_attribute("aria-selected", "true")
    button = page.locator(f"button.cam[data-camera='{CAM}']")
    expect(button).to_contain_text("INTRUSION")
    expect(button).to_contain_text("online")
    button.focus()
    page.keyboard.press("Enter")  # keyboard: the list is buttons


def _check_overlay(page: Page) -> None:
    """The zone polygons lie over the snapshot where the layout puts them, at its scale."""
    snapshot = page.get_by_test_id("camera-snapshot")
    expect(snapshot).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=camera-snapshot]');"
        f" return i && i.complete && i.naturalWidth === {W}; }}"
    )
    overlay = page.get_by_test_id("zone-overlay")
    expect(overlay).to_be_visible()
    img = snapshot.bounding_box()
    svg = overlay.bounding_box()
    assert img is not None and svg is not None
    for k in ("x", "y", "width", "height"):
        assert abs(img[k] - svg[k]) <= 1.0, (k, img, svg)  # the SVG covers the picture exactly
    steps = overlay.locator("g[data-zone='steps']")
    expect(steps).to_have_attribute("data-kind", "restricted")
    shape = steps.locator("polygon.shape")
    assert (shape.get_attribute("fill") or "").startswith("url(#")  # hatched, not only a colour
    # The polygon's geometry (without its stroke) mapped to the screen by the SVG's own
    # transform lies where the layout's points scaled to the displayed picture are.
    box = shape.evaluate(
        """(el) => { const b = el.getBBox(), m = el.getScreenCTM();
            return {x: m.e + m.a * b.x, y: m.f + m.d * b.y,
                    width: m.a * b.width, height: m.d * b.height}; }"""
    )
    sx, sy = img["width"] / W, img["height"] / H
    assert sx > 1.5 and sy > 1.5  # the snapshot is shown larger than its pixels: it scales
    xs, ys = [p[0] for p in STEPS], [p[1] for p in STEPS]
    assert abs(box["x"] - (img["x"] + min(xs) * sx)) <= 1.0, (box, img)
    assert abs(box["y"] - (img["y"] + min(ys) * sy)) <= 1.0, (box, img)
    assert abs(box["width"] - (max(xs) - min(xs)) * sx) <= 1.0, (box, img)
    assert abs(box["height"] - (max(ys) - min(ys)) * sy) <= 1.0, (box, img)
    expect(steps.locator("text.label")).to_contain_text("RESTRICTED")
    expect(steps.locator("text.label")).to_contain_text("person 4")
    expect(overlay.locator("g[data-zone='gate'][data-kind='line'] line.shape")).to_have_count(1)
    # The text equivalent: every zone with its kind and latest counts.
    described = overlay.get_attribute("aria-describedby")
    assert described
    legend = page.locator(f"#{described}")
    expect(legend.locator("li[data-zone='steps']")).to_contain_text("restricted zone")
    expect(legend.locator("li[data-zone='steps']")).to_contain_text("person 4")
    expect(legend.locator("li[data-zone='steps']")).to_contain_text("INTRUSION")
    expect(legend.locator("li[data-zone='gate']")).to_contain_text("counting line")
    expect(legend.locator("li[data-zone='gate']")).to_contain_text("person 3")


def test_cameras_panel_shows_counts_behaviour_snapshot_and_map_label(
    page: Page, server: LiveServer
) -> None:
    _camera_with_counts_snapshot_and_layout(server)
    login(page, server, "dispatcher")
    _open_camera(page)
    detail = page.get_by_test_id("camera-detail")
    expect(detail.locator(f"tr[data-zone='{ZONE}']")).to_contain_text("person 4")
    expect(detail.locator(f"tr[data-zone='{ZONE}']")).to_contain_text("intrusion")
    _check_overlay(page)
    snapshot = page.get_by_test_id("camera-snapshot")
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


def test_zone_overlay_scales_with_the_snapshot_on_a_phone(
    browser: Browser, server: LiveServer
) -> None:
    _camera_with_counts_snapshot_and_layout(server)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        login(page, server, "dispatcher")
        _open_camera(page)
        _check_overlay(page)
        img = page.get_by_test_id("camera-snapshot").bounding_box()
        assert img is not None and img["width"] <= 390  # fits the phone's width
        # The cameras panel itself (the header's sign-out button on a phone is not this test's).
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "tags => axe.run('#cameras', {runOnly: {type: 'tag', values: tags}})", TAGS
        )
        assert [
            (v["id"], [n["target"] for n in v["nodes"][:5]])
            for v in result["violations"]
            if v["impact"] in {"serious", "critical"}
        ] == []
    finally:
        context.close()
