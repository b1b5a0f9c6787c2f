"""A real Vigil server (uvicorn on a free port, temp data dir) and a seeded city scene.

Used by the end-to-end tests and by ``benchmarks/ui_live.py``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.conftest import free_port
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import Clock
from vigil.core.geometry import LatLon
from vigil.geo.network import RoadNetwork, load_network
from vigil.geo.settings import GeoSettings

PASSWORD = "correct horse battery"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # MapLibre needs WebGL: software GL (SwiftShader) in headless Chromium.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]

# A small fleet; types come from the built-in catalogue.
FLEET: list[tuple[str, str, str, str]] = [
    ("E1", "engine", "Keskuspaloasema", "Engine 1"),
    ("E2", "engine", "Keskuspaloasema", "Engine 2"),
    ("E3", "engine", "Erottaja", "Engine 3"),
    ("L1", "ladder", "Keskuspaloasema", "Ladder 1"),
    ("C1", "chief", "Keskuspaloasema", "Chief 1"),
    ("R1", "rescue", "Erottaja", "Rescue 1"),
    ("M1", "medic_als", "Meilahti", "Medic 1"),
    ("M2", "medic_als", "Töölö", "Medic 2"),
    ("M3", "medic_bls", "Töölö", "Medic 3"),
    ("P1", "patrol", "Pasila", "Patrol 1"),
    ("P2", "patrol", "Pasila", "Patrol 2"),
    ("P3", "patrol", "Kamppi", "Patrol 3"),
    ("S1", "supervisor_car", "Pasila", "Sergeant 1"),
]


_NETWORK: dict[str, RoadNetwork] = {}


def helsinki() -> RoadNetwork:
    """Return the Helsinki road network (built once per process, cached on disk)."""
    if "helsinki" not in _NETWORK:
        _NETWORK["helsinki"] = load_network(GeoSettings())
    return _NETWORK["helsinki"]


def road_points(network: RoadNetwork, n: int, seed: int) -> list[LatLon]:
    """Return n distinct road-graph nodes, reproducibly."""
    rng = random.Random(seed)
    idx = rng.sample(range(network.graph.n_nodes), n)
    return [LatLon(float(network.graph.lat[i]), float(network.graph.lon[i])) for i in idx]


@dataclass
class LiveServer:
    """uvicorn serving a freshly built App in a background thread."""

    data_dir: Path
    network: RoadNetwork = field(default_factory=helsinki)
    clock: Clock | None = None  # None: the wall clock
    overrides: dict[str, Any] = field(default_factory=dict)  # settings, e.g. {"server": {...}}
    app: App = field(init=False)
    port: int = field(init=False)
    tokens: dict[Role, str] = field(default_factory=dict)
    _server: uvicorn.Server = field(init=False)
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.app = build(
            load_settings(data_dir=self.data_dir, **self.overrides),
            network=self.network,
            clock=self.clock,
        )
        self.port = free_port()
        self.api = create_api(self.app)
        config = uvicorn.Config(
            self.api,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="e2e-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        """Start serving and wait until the server answers."""
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the e2e server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and release the App."""
        feed = getattr(self.api.state, "live", None)
        if feed is not None:
            feed.disconnect_all_threadsafe()
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.app.close()

    # ------------------------------------------------------------ seeding
    def add_user(self, name: str, role: Role) -> str:
        """Add a login with the shared test password; return an API token."""
        self.app.users.add(name, role, PASSWORD, actor="e2e")
        token = self.app.users.issue_token(name, label="e2e", actor="e2e", ttl=None)
        self.tokens.setdefault(role, token)
        return token

    def client(self, token: str) -> httpx.Client:
        """Return an HTTP client for the running server with a bearer token."""
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def register_fleet(self, token: str, *, seed: int = 7) -> list[str]:
        """Register FLEET at reproducible road positions; return the unit ids."""
        points = road_points(self.network, len(FLEET), seed)
        with self.client(token) as c:
            for (uid, utype, station, callsign), at in zip(FLEET, points, strict=True):
                r = c.post(
                    "/units",
                    json={
                        "id": uid,
                        "type": utype,
                        "station": station,
                        "callsign": callsign,
                        "location": {"lat": at.lat, "lon": at.lon},
                    },
                )
                r.raise_for_status()
        return [u[0] for u in FLEET]


def busy_scene(server: LiveServer, token: str, *, seed: int = 11) -> list[dict[str, Any]]:
    """Open a realistic mix of incidents, some assigned and moving; return the incidents."""
    rng = random.Random(seed)
    kinds = [
        ("structure_fire", "smoke from a third-floor window"),
        ("cardiac_arrest", "man collapsed at a tram stop"),
        ("traffic_collision", "two cars, one person trapped"),
        ("medical", "elderly woman fell, hip pain"),
        ("disturbance", "loud fight outside a bar"),
        ("crime_in_progress", "shop window smashed, suspects inside"),
        ("alarm_fire", "automatic alarm, office building"),
        ("welfare_check", "neighbour not seen for days"),
        ("vehicle_fire", "van burning in a car park"),
        ("infrastructure", "water main burst, street flooding"),
        ("public_order", "crowd blocking the street"),
        ("medical", "child with breathing difficulty"),
    ]
    points = road_points(server.network, len(kinds), seed)
    out: list[dict[str, Any]] = []
    with server.client(token) as c:
        for (itype, nature), at in zip(kinds, points, strict=True):
            address = server.app.geocoder.reverse(at).label if server.app.geocoder else None
            r = c.post(
                "/calls",
                json={
                    "location": {"lat": at.lat, "lon": at.lon},
                    "address": address,
                    "nature": nature,
                    "incident_type": itype,
                },
            )
            r.raise_for_status()
            out.append(r.json()["incident"])
        # Dispatch a few, and move their units along.
        for inc in out[1:5]:
            r = c.post(f"/incidents/{inc['id']}/assignments", json={"accept_recommendation": True})
            if r.status_code != 200:
                continue
            for uid in r.json()["unit_ids"]:
                status = rng.choice(["en_route", "en_route", "on_scene"])
                c.post(f"/units/{uid}/status", json={"status": status}).raise_for_status()
    return out
