"""CAP in: subscribed feeds (file, Atom over HTTP, EDXL-DE), pushed documents, external alerts on the map."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, auth, shared_file
from tests.unit.alerts.test_hostile import BILLION_LAUGHS
from vigil.alerts import cap
from vigil.alerts.events import ExternalAlertReceived
from vigil.alerts.settings import CapFeed
from vigil.alerts.xmlsafe import parse_untrusted
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:test</id><title>Partner</title><updated>2026-06-01T08:00:00Z</updated>
  <entry><id>1</id><title>a</title><updated>2026-06-01T08:00:00Z</updated>
    <link rel="alternate" type="application/cap+xml" href="{base}/canada.cap"/></entry>
  <entry><id>2</id><title>b</title><updated>2026-06-01T08:00:00Z</updated>
    <link rel="alternate" type="application/cap+xml" href="http://127.0.0.2:9/elsewhere.cap"/></entry>
  <entry><id>3</id><title>c</title><updated>2026-06-01T08:00:00Z</updated>
    <link rel="alternate" type="application/cap+xml" href="{base}/laughs.cap"/></entry>
</feed>"""


class Site:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def site() -> Iterator[Site]:
    files = {
        "/canada.cap": shared_file("cap/canada.cap").read_bytes(),
        "/laughs.cap": BILLION_LAUGHS,
    }
    s = Site(files)
    files["/feed.atom"] = ATOM.format(base=s.base).encode()
    yield s
    s.close()


@pytest.fixture
def feed_app(tmp_path: Path, clock: ManualClock, cap_xsd_path: Path, site: Site) -> Iterator[App]:
    edxl = shared_file("cap/bushfire_valid.edxlde")
    app = build(
        load_settings(
            data_dir=tmp_path / "data",
            alerts={
                "cap_schema": str(cap_xsd_path),
                "feeds": [
                    {"name": "partner", "url": f"{site.base}/feed.atom"},
                    {"name": "rfs", "url": edxl.as_uri()},
                ],
            },
        ),
        clock=clock,
    )
    app.users.add("sup", Role.SUPERVISOR, PASSWORD, actor="t")
    app.users.add("disp", Role.DISPATCHER, PASSWORD, actor="t")
    yield app
    app.close()


def _feed(app: App, name: str) -> CapFeed:
    return next(f for f in app.settings.alerts.feeds if f.name == name)


def test_atom_feed_follows_own_links_only_and_refuses_hostile(feed_app: App, site: Site) -> None:
    result = feed_app.cap_in.poller.poll(_feed(feed_app, "partner"))
    assert result.accepted == 1
    reasons = sorted(r.split(":")[0] for r in result.rejected)
    assert reasons == ["doctype", "foreign_link"]
    assert "/canada.cap" in site.hits and "/laughs.cap" in site.hits
    counters = feed_app.cap_in.dead.counters()["partner"]
    assert counters == {"doctype": 1, "foreign_link": 1}
    # canada.cap expired in 2012: recorded, but not active now.
    assert feed_app.alerts.external_active() == []
    recorded = [
        r.event
        for r in feed_app.store.stream("alerts/external")
        if isinstance(r.event, ExternalAlertReceived)
    ]
    assert [e.identifier for e in recorded] == ["2.49.0.1.124.6bddbc91.2012"]
    assert recorded[0].source == "partner" and recorded[0].areas[0].polygons
    again = feed_app.cap_in.poller.poll(_feed(feed_app, "partner"))
    assert again.accepted == 0 and again.repeated == 1  # a re-poll records nothing twice


def test_edxl_de_file_feed(feed_app: App) -> None:
    result = feed_app.cap_in.poller.poll(_feed(feed_app, "rfs"))
    assert result.rejected == [] and result.accepted == 7


def test_pushed_alert_shows_on_the_map_marked_external(tmp_path: Path, cap_xsd_path: Path) -> None:
    xml = shared_file("cap/canada.cap").read_bytes()  # has polygons (wcatwc has geocodes only)
    alert = cap.parse(parse_untrusted(xml))
    # Run the clock at the time that warning was current, so it is active on the map.
    feed_app = build(
        load_settings(data_dir=tmp_path / "d", alerts={"cap_schema": str(cap_xsd_path)}),
        clock=ManualClock(alert.sent + timedelta(minutes=5)),
    )
    feed_app.users.add("sup", Role.SUPERVISOR, PASSWORD, actor="t")
    feed_app.users.add("disp", Role.DISPATCHER, PASSWORD, actor="t")
    with contextlib.closing(feed_app), TestClient(create_api(feed_app)) as http:
        sup = auth(feed_app.users.issue_token("sup", label="t", actor="t", ttl=None))
        disp = auth(feed_app.users.issue_token("disp", label="t", actor="t", ttl=None))
        r = http.post("/api/v1/alerts/external?source=ec", content=xml, headers=sup)
        assert r.json() == {"accepted": 1, "repeated": 0, "rejected": []}
        assert (
            http.post("/api/v1/alerts/external?source=x", content=xml, headers=disp).status_code
            == 403
        )
        bad = http.post(
            "/api/v1/alerts/external?source=evil", content=BILLION_LAUGHS, headers=sup
        ).json()
        assert bad["accepted"] == 0 and bad["rejected"][0].startswith("doctype")
        listed = http.get("/api/v1/alerts/external", headers=disp).json()
        assert [x["identifier"] for x in listed] == [alert.identifier]
        areas = http.get("/api/v1/alerts/areas.geojson", headers=disp).json()["features"]
        assert areas and all(f["properties"]["origin"] == "external" for f in areas)
        stats = http.get("/api/v1/alerts/intake", headers=sup).json()
        assert stats["refused"] == {"evil": {"doctype": 1}}
        # External alerts never appear on the city's own public feed.
        assert alert.identifier not in http.get("/api/v1/public/alerts.atom").text
