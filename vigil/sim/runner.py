"""Run a scenario end to end: the platform in-process, the simulator on its real inputs.

`Stack` is the platform side: the App (embedded store, MQTT ingest, rules) and
its HTTP API served by a real uvicorn server on a loopback port. `SimRun` is
the simulator side: it provisions logins, units and devices through the API,
then plays the scenario through HTTP and MQTT. In ``--fast`` mode the App runs
on a `ManualClock` the engine moves from event to event, waiting after each
device sweep until the platform has committed every reading (so one seed gives
one summary); with ``--speed N`` both sides read one `ScaledClock`.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import Settings, load_settings
from vigil.core.clock import Clock, ManualClock, ScaledClock
from vigil.core.errors import ConfigError, GeoError, VigilError
from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.demand import LocationPool, plan_calls
from vigil.sim.devices import DeviceModel, place_devices
from vigil.sim.driver import HttpPlatform
from vigil.sim.engine import Base, Counters, Engine, UnitPlan, spread_units
from vigil.sim.fleet import Path
from vigil.sim.scenario import Scenario, StationKind, check_scenario
from vigil.sim.summary import Summary, percentile, summarise

if TYPE_CHECKING:
    from vigil.geo.network import RoadNetwork

log = logging.getLogger(__name__)

SIM_USERS = {
    "sim-calltaker": Role.CALL_TAKER,
    "sim-dispatcher": Role.DISPATCHER,
    "sim-avl": Role.DISPATCHER,
}
FALLBACK_SPEED_MPS = 8.0


class VirtualPacer:
    """Jumps a ManualClock to each event's time (``--fast``)."""

    def __init__(self, clock: ManualClock, start: datetime, stop: threading.Event) -> None:
        self._clock = clock
        self._start = start
        self._stop = stop

    def wait_until(self, t_s: float) -> float | None:
        """Set the clock to the event time."""
        at = self._start + timedelta(seconds=t_s)
        if at > self._clock.now():
            self._clock.set(at)
        return None if self._stop.is_set() else t_s


class ScaledPacer:
    """Sleeps until a scaled clock reaches each event's time (``--speed N``)."""

    def __init__(
        self, clock: ScaledClock, start: datetime, speed: float, stop: threading.Event
    ) -> None:
        self._clock = clock
        self._start = start
        self._speed = speed
        self._stop = stop

    def wait_until(self, t_s: float) -> float | None:
        """Sleep (interruptibly) until simulated time reaches `t_s`; return the time then."""
        self._clock.go()
        while True:
            now_s = (self._clock.now() - self._start).total_seconds()
            ahead = t_s - now_s
            if ahead <= 0:
                # Late (the platform was slow): act at the real time, not the planned one,
                # so simulated durations stay true.
                return None if self._stop.is_set() else now_s
            if self._stop.wait(min(ahead / self._speed, 0.25)):
                return None


def free_socket(host: str, port: int = 0) -> socket.socket:
    """Bind a listening socket (port 0 = any free port)."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says it is TCP, and without it every keep-alive
    # response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


@dataclass(slots=True)
class Stack:
    """The platform: App + uvicorn in a thread."""

    app: App
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    admin_token: str

    @classmethod
    def start(
        cls, settings: Settings, *, clock: Clock, network: RoadNetwork | None, port: int = 0
    ) -> Stack:
        """Build the App, start its services and serve the API; wait until it answers."""
        app = build(settings, clock=clock, network=network)
        try:
            if app.store.user("admin") is None:
                app.users.add("admin", Role.ADMIN, None, actor="sim")
            admin = app.users.issue_token("admin", label="sim", actor="sim", ttl=None)
            api = create_api(app)
            app.start()
            host = settings.server.host
            sock = free_socket(host, port)
            bound = sock.getsockname()[1]
            server = uvicorn.Server(
                uvicorn.Config(api, log_level="warning", lifespan="on", access_log=False)
            )
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="vigil-http", daemon=True
            )
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise ConfigError("the HTTP server did not start")
                time.sleep(0.02)
        except BaseException:
            app.close()
            raise
        return cls(
            app=app, url=f"http://{host}:{bound}", server=server, thread=thread, admin_token=admin
        )

    def stop(self) -> None:
        """Stop serving, then stop the App's services and close the store."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.app.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class World:
    """The simulated city: where units live, where patients go, where callers stand."""

    bases: list[Base]
    hospitals: list[Base]
    units: list[UnitPlan]
    pool: LocationPool


def build_world(scenario: Scenario, app: App) -> World:
    """Seed stations from OSM plus the scenario's, spread the fleet, collect road nodes."""
    network = app.network
    if network is None:
        raise ConfigError("the simulator needs the road network")
    from vigil.geo.stations import stations  # noqa: PLC0415 - heavy; only with a network

    bases: list[Base] = []
    if scenario.stations.from_osm:
        for s in stations(network):
            bases.append(Base(id=s.id, name=s.name, kind=StationKind(s.kind), location=s.location))
    for i, extra in enumerate(scenario.stations.extra):
        try:
            snap = network.snap(LatLon(extra.lat, extra.lon))
        except GeoError as err:
            raise ConfigError(
                f"stations.extra[{i}] ({extra.id}) is off the road network: {err.message}"
            ) from err
        bases.append(Base(id=extra.id, name=extra.name, kind=extra.kind, location=snap.on_road))
    catalogue = app.cad.catalogue
    units = spread_units(
        scenario,
        bases,
        agencies={k: v.agency.value for k, v in catalogue.unit_types.items()},
        capabilities={k: v.capabilities for k, v in catalogue.unit_types.items()},
    )
    g = network.graph
    pool = LocationPool([LatLon(float(a), float(b)) for a, b in zip(g.lat, g.lon, strict=True)])
    hospitals = [b for b in bases if b.kind is StationKind.HOSPITAL]
    return World(bases=bases, hospitals=hospitals, units=units, pool=pool)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run a scenario."""

    seed: int = 1
    speed: float | None = None  # None = as fast as possible (virtual clock)
    until_s: float | None = None
    manual: bool = False
    data_dir: FsPath
    host: str = "127.0.0.1"
    port: int = 0
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    progress: bool = False
    device_tick_s: float | None = None
    session_hours: float | None = None


@dataclass(slots=True)
class RunResult:
    """A finished run: the summary (from the platform's log) and what the simulator sent."""

    summary: Summary
    counters: Counters
    wall_s: float
    sim_s: float
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)


class SimRun:
    """One scenario run against an in-process platform."""

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.stop_event = threading.Event()
        self.stack: Stack | None = None
        self.platform: HttpPlatform | None = None
        self.engine: Engine | None = None
        self.run_site = f"{scenario.city.site}-{secrets.token_hex(3)}"

    # ---------------------------------------------------------------- setup

    def settings(self) -> Settings:
        """Return the platform settings of this run."""
        o = self.options
        extra: dict[str, Any] = {
            "geo": {
                "osm_file": self.scenario.city.osm_file,
                **{
                    k: v
                    for k, v in (
                        ("travel_model", self.scenario.city.travel_model),
                        ("country", self.scenario.city.country),
                    )
                    if v is not None
                },
            },
            **(
                {"catalogue": self.scenario.city.catalogue}
                if self.scenario.city.catalogue is not None
                else {}
            ),
            **(
                {"rules": {"files": list(self.scenario.city.rules)}}
                if self.scenario.city.rules is not None
                else {}
            ),
            "server": {"host": o.host, "port": o.port or 8080},
            "ingest": {
                "mqtt": {
                    "enabled": True,
                    "host": o.mqtt_host,
                    "port": o.mqtt_port,
                    # Subscribing only to this run's site keeps concurrent or earlier
                    # runs on the same broker from reaching this platform.
                    "site": self.run_site,
                    "client_id": f"vigil-ingest-{self.run_site}",
                }
            },
        }
        if o.session_hours is not None:
            extra["auth"] = {"session_hours": o.session_hours}
        return load_settings(None, data_dir=o.data_dir, **extra)

    def start(self, *, on_stage: Callable[[str], None] | None = None) -> Stack:
        """Load the city, start the platform and provision it through the API."""
        stage = on_stage or (lambda _msg: None)
        settings = self.settings()
        check_scenario(self.scenario, _catalogue(settings))
        from vigil.geo.network import load_network  # noqa: PLC0415 - heavy import

        stage("loading the road network (built once, then cached)")
        network = load_network(settings.geo, progress=self.options.progress)
        _warm_up(network)
        start = self.scenario.start
        clock: Clock = (
            ManualClock(start)
            if self.options.speed is None
            else ScaledClock(start, self.options.speed, held=True)
        )
        stage("starting the platform")
        self.stack = Stack.start(settings, clock=clock, network=network, port=self.options.port)
        return self.stack

    def _admin(self) -> httpx.Client:
        assert self.stack is not None
        return httpx.Client(
            base_url=self.stack.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.stack.admin_token}"},
            timeout=60,
        )

    def _add_user(self, admin: httpx.Client, name: str, role: Role, password: str | None) -> str:
        body: dict[str, Any] = {"name": name, "role": role.value}
        if password is not None:
            body["password"] = password
        r = admin.post("/users", json=body)
        if r.status_code != 201:
            raise ConfigError(f"cannot create login {name}: {r.status_code} {r.text}")
        return str(r.json()["token"])

    def add_login(self, name: str, role: Role, password: str | None) -> str:
        """Create a login through the API; return its token."""
        with self._admin() as admin:
            return self._add_user(admin, name, role, password)

    def provision(self, world: World, devices: DeviceModel) -> HttpPlatform:
        """Create logins, register units and devices through the API; connect MQTT."""
        assert self.stack is not None
        tokens: dict[str, str] = {}
        unit_tokens: dict[str, str] = {}
        with self._admin() as admin:
            for name, role in SIM_USERS.items():
                tokens[name.removeprefix("sim-").replace("calltaker", "call_taker")] = (
                    self._add_user(admin, name, role, None)
                )
            for u in world.units:
                r = admin.post(
                    "/units",
                    json={
                        "id": u.id,
                        "callsign": u.id,
                        "type": u.type,
                        "station": u.station.name,
                        "location": {"lat": u.station.location.lat, "lon": u.station.location.lon},
                    },
                )
                if r.status_code != 201:
                    raise ConfigError(f"cannot register unit {u.id}: {r.status_code} {r.text}")
                unit_tokens[u.id] = self._add_user(admin, u.id.lower(), Role.FIELD_UNIT, None)
            for d in devices.devices:
                r = admin.post(
                    "/devices",
                    json={
                        "id": d.id,
                        "kind": d.kind.value,
                        "lat": d.location.lat,
                        "lon": d.location.lon,
                        "zone": d.zone,
                        "site": self.run_site,
                        "interval_s": round(d.interval_s, 1),
                        "label": f"simulated {d.kind.value.replace('_', ' ')} ({d.group})",
                    },
                )
                if r.status_code != 201:
                    raise ConfigError(f"cannot register device {d.id}: {r.status_code} {r.text}")
        settle = self._settle if self.options.speed is None else None
        self.platform = HttpPlatform(
            self.stack.url,
            tokens=tokens,
            unit_tokens=unit_tokens,
            mqtt_host=self.options.mqtt_host,
            mqtt_port=self.options.mqtt_port,
            site=self.run_site,
            settle=settle,
        )
        return self.platform

    def _settle(self, published: int) -> None:
        """Wait until the platform has received, committed and reacted to `published` messages."""
        assert self.stack is not None
        ingest = self.stack.app.ingest
        deadline = time.monotonic() + 60
        while ingest.mqtt.messages < published:
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"the platform received {ingest.mqtt.messages} of {published} MQTT messages"
                )
            time.sleep(0.0005)
        ingest.drain()

    # ---------------------------------------------------------------- run

    def _route_fn(self) -> Callable[[LatLon, LatLon, str], Path]:
        assert self.stack is not None
        network = self.stack.app.network
        factors = self.stack.app.settings.geo.speed_factors
        assert network is not None

        def route(origin: LatLon, target: LatLon, unit_type: str) -> Path:
            try:
                r = network.route(origin, target, speed_factor=factors.get(unit_type, 1.0))
            except GeoError:
                # Off the graph (e.g. a disconnected service road): drive straight, slowly.
                metres = haversine_m(origin, target)
                return Path([origin, target], metres / FALLBACK_SPEED_MPS)
            return Path.from_geojson(r.geometry, r.seconds)

        return route

    def run(
        self,
        *,
        on_stage: Callable[[str], None] | None = None,
        on_ready: Callable[[SimRun], None] | None = None,
        on_done: Callable[[SimRun, RunResult], None] | None = None,
    ) -> RunResult:
        """Start everything, play the scenario, summarise from the store, stop everything.

        `on_ready` runs once the platform is provisioned, `on_done` after the summary and
        before anything stops (the demo keeps serving there until Ctrl-C).
        """
        stage = on_stage or (lambda _msg: None)
        started = time.perf_counter()
        try:
            stack = self.start(on_stage=stage)
            rng = random.Random(self.options.seed)  # noqa: S311 - a seeded simulation, not secrets
            world = build_world(self.scenario, stack.app)
            devices = DeviceModel(
                self.scenario,
                place_devices(self.scenario.devices, world.pool, rng=rng),
                rng=rng,
            )
            calls = plan_calls(self.scenario, world.pool, rng=rng)
            stage(
                f"registering {len(world.units)} units and {len(devices.devices)} devices "
                "through the API"
            )
            platform = self.provision(world, devices)
            if on_ready is not None:
                on_ready(self)
            clock = stack.app.clock
            pacer: VirtualPacer | ScaledPacer
            if isinstance(clock, ScaledClock):
                speed = self.options.speed or 1.0
                pacer = ScaledPacer(clock, self.scenario.start, speed, self.stop_event)
            elif isinstance(clock, ManualClock):
                pacer = VirtualPacer(clock, self.scenario.start, self.stop_event)
            else:
                raise ConfigError(f"cannot pace a simulation on {type(clock).__name__}")
            until = min(self.options.until_s or math.inf, self.scenario.duration)
            bar = _progress(until) if self.options.progress else None
            self.engine = Engine(
                self.scenario,
                platform=platform,
                pacer=pacer,
                units=world.units,
                hospitals=world.hospitals,
                calls=calls,
                devices=devices,
                route=self._route_fn(),
                rng=rng,
                manual=self.options.manual,
                until_s=until,
                device_tick_s=self.options.device_tick_s
                or (10.0 if self.options.speed is None else 2.0),
                on_progress=bar.update_to if bar else None,
            )
            run_started = time.perf_counter()
            try:
                counters = self.engine.run()
            finally:
                if bar is not None:
                    bar.close()
            wall = time.perf_counter() - run_started
            sim_s = self.engine.now_s
            stage("summarising from the platform's event log")
            summary = self.summarise(counters, wall_s=wall, sim_s=sim_s)
            log.info("sim run took %.1f s in all", time.perf_counter() - started)
            result = RunResult(
                summary=summary,
                counters=counters,
                wall_s=wall,
                sim_s=sim_s,
                latencies_ms=platform.latencies.samples,
            )
            if on_done is not None:
                on_done(self, result)
            return result
        finally:
            self.close()

    def summarise(self, counters: Counters, *, wall_s: float, sim_s: float) -> Summary:
        """Compute the summary from the platform's store, plus the simulator's own figures."""
        assert self.stack is not None and self.platform is not None
        app = self.stack.app
        stats = app.ingest.stats()
        lat = self.platform.latencies.samples.get("call_to_recommendation", [])
        extra: dict[str, Any] = {
            "devices": len(app.ingest.registry.all()),
            "units": len(app.cad.units()),
            "observations_stored": stats.stored,
            "observations_rejected": dict(sorted(stats.by_reason.items())),
            "sim_readings_sent": counters.readings,
            "sim_errors": dict(sorted(counters.errors.items())),
            "sim_seconds": round(sim_s, 1),
        }
        timing: dict[str, Any] = {
            "wall_seconds": round(wall_s, 2),
            "speedup": round(sim_s / wall_s, 1) if wall_s > 0 else None,
            "call_to_recommendation_ms": {
                "n": len(lat),
                "p50": round(percentile(lat, 50), 1) if lat else None,
                "p99": round(percentile(lat, 99), 1) if lat else None,
            },
        }
        return summarise(app.store.read(), extra=extra, timing=timing)

    def close(self) -> None:
        """Stop the simulator's connections and the platform (idempotent)."""
        self.stop_event.set()
        if self.platform is not None:
            self.platform.close()
            self.platform = None
        if self.stack is not None:
            self.stack.stop()
            self.stack = None


def _warm_up(network: RoadNetwork) -> None:
    """Route once before the clock runs: the first search compiles the router's kernels,
    which would otherwise stall the first recommendation by seconds (minutes of
    simulated time at --speed)."""
    g = network.graph
    a = LatLon(float(g.lat[0]), float(g.lon[0]))
    b = LatLon(float(g.lat[g.n_nodes - 1]), float(g.lon[g.n_nodes - 1]))
    try:
        network.etas_to(a, {"warm-up": b})
        network.route(b, a)
    except GeoError:
        log.debug("warm-up route failed; the first real one will compile the kernels")


class _Bar:
    """Progress in simulated minutes."""

    def __init__(self, total_s: float) -> None:
        from tqdm import tqdm  # noqa: PLC0415

        self._bar = tqdm(
            total=int(total_s // 60), unit="sim min", desc="simulating", mininterval=0.5
        )
        self._done = 0

    def update_to(self, t_s: float) -> None:
        minutes = int(t_s // 60)
        if minutes > self._done:
            self._bar.update(minutes - self._done)
            self._done = minutes

    def close(self) -> None:
        self._bar.close()


def _progress(total_s: float) -> _Bar:
    return _Bar(total_s)


def _catalogue(settings: Settings) -> Any:
    from vigil.incidents.catalogue import load_catalogue  # noqa: PLC0415

    return load_catalogue(settings.catalogue)


__all__ = ["RunOptions", "RunResult", "SimRun", "Stack", "VigilError"]
