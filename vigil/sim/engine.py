"""The discrete-event core: a heap of timed events played against the platform.

The engine owns no platform state: it talks to Vigil through a `Platform` port
(the HTTP API and MQTT in practice, see `driver.py`) exactly as call-takers,
dispatchers, field units and devices do. Simulated time is paced by a `Pacer`:
a virtual clock that jumps from event to event (``--fast``), or a scaled wall
clock (``--speed N``). Every random draw comes from one seeded generator, and
events at the same instant run in the order they were scheduled, so one seed
always gives the same inputs.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Protocol

from vigil.core.errors import ConfigError
from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.demand import PlannedCall, draw
from vigil.sim.devices import DeviceModel, Reading, SimDevice
from vigil.sim.fleet import Fix, Path
from vigil.sim.scenario import Distribution, Scenario, Spread, StationKind

log = logging.getLogger(__name__)

DEFAULT_ON_SCENE = Spread(median=1200, p90=2400)
GIVE_UP_AFTER_S = 3600.0  # an incident no unit could be sent to for an hour is cancelled


class PlatformError(Exception):
    """The platform refused or failed a request; `status` is the HTTP status (0 = transport)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """A unit the recommender chose, with the route it would drive."""

    unit_id: str
    path: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentView:
    """What the dispatcher's screen shows of an active incident."""

    id: str
    type: str
    status: str
    unit_ids: tuple[str, ...]
    location: LatLon | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitView:
    """What the platform believes about a unit."""

    id: str
    status: str
    incident_id: str | None


class Platform(Protocol):
    """Vigil as the simulator's people and devices reach it."""

    def take_call(
        self, call: PlannedCall, *, received_at: datetime, incident_id: str | None
    ) -> tuple[str, bool]:
        """Record a call; return (incident id, whether it opened the incident)."""
        ...

    def recommend(self, incident_id: str) -> list[Choice]:
        """Return the recommended units with their routes."""
        ...

    def assign_recommended(self, incident_id: str) -> list[str]:
        """Accept the recommendation; return the units now on the incident."""
        ...

    def assign(self, incident_id: str, unit_ids: Sequence[str]) -> list[str]:
        """Send these units; return the units now on the incident."""
        ...

    def route(self, incident_id: str, unit_id: str) -> Path:
        """Return the route Vigil computes from a unit to an incident."""
        ...

    def set_status(self, unit_id: str, status: str) -> None:
        """Report a unit's status as its crew would."""
        ...

    def report_positions(self, fixes: Sequence[tuple[str, Fix, datetime]]) -> None:
        """Send a batch of AVL fixes."""
        ...

    def close_incident(self, incident_id: str, disposition: str) -> None:
        """Close an incident."""
        ...

    def cancel(self, incident_id: str, reason: str) -> None:
        """Cancel an incident."""
        ...

    def active_incidents(self) -> list[IncidentView]:
        """Return the active incidents."""
        ...

    def units(self) -> list[UnitView]:
        """Return every unit as the platform sees it."""
        ...

    def publish(self, readings: Sequence[Reading], start: datetime) -> None:
        """Publish device readings (their times are offsets from `start`)."""
        ...

    def settle(self) -> None:
        """Wait until the platform has processed everything sent so far."""
        ...


class Pacer(Protocol):
    """Moves simulated time."""

    def wait_until(self, t_s: float) -> float | None:
        """Return once simulated time reaches `t_s`: the time it is then, None if stopped."""
        ...


RouteFn = Callable[[LatLon, LatLon, str], Path]  # origin, target, unit type -> path


@dataclass(frozen=True, slots=True, kw_only=True)
class Base:
    """A station or hospital as the simulator uses it."""

    id: str
    name: str
    kind: StationKind
    location: LatLon


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitPlan:
    """A unit to register: id, type, agency and home station."""

    id: str
    type: str
    agency: str
    capabilities: tuple[str, ...]
    station: Base


class Task(IntEnum):
    """What a simulated crew is doing."""

    IDLE = 0
    TURNOUT = 1
    TO_SCENE = 2
    ON_SCENE = 3
    TO_HOSPITAL = 4
    AT_HOSPITAL = 5
    RETURNING = 6


BUSY = frozenset({Task.TURNOUT, Task.TO_SCENE, Task.ON_SCENE, Task.TO_HOSPITAL, Task.AT_HOSPITAL})
MOVING = frozenset({Task.TO_SCENE, Task.TO_HOSPITAL, Task.RETURNING})


@dataclass(slots=True)
class SimUnit:
    """A crew's own state (mutable; private to the engine)."""

    plan: UnitPlan
    position: LatLon
    task: Task = Task.IDLE
    incident: str | None = None
    path: Path | None = None
    path_start: float = 0.0
    next_path: Path | None = None
    token: int = 0


@dataclass(slots=True)
class SimIncident:
    """What the simulated world knows an incident needs."""

    id: str
    type: str
    on_scene: Distribution
    turnout: Distribution | None
    turnout_by_unit: Mapping[str, Distribution]
    dispatch_lag_by_unit: Mapping[str, Distribution]
    travel_factor: Distribution | None
    travel: Mapping[str, Distribution]
    transport: bool
    opened_s: float
    units: set[str] = field(default_factory=set)
    transported: bool = False
    attempts: int = 0
    dispatching: bool = False
    done: bool = False


class Kind(IntEnum):
    """Kinds of scheduled events."""

    CALL = 0
    DISPATCH = 1
    TURNOUT_DONE = 2
    ARRIVE = 3
    SCENE_DONE = 4
    HANDOVER_DONE = 5
    AVL = 6
    DEVICES = 7
    SWEEP = 8
    WATCH = 9
    ASSIGN_LATE = 10


@dataclass(slots=True)
class Counters:
    """What the simulator sent (the summary itself is read back from the platform)."""

    calls: int = 0
    readings: int = 0
    assignments: int = 0
    transports: int = 0
    closed: int = 0
    cancelled: int = 0
    position_batches: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class Engine:
    """Plays a scenario against the platform, event by event."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        platform: Platform,
        pacer: Pacer,
        units: Sequence[UnitPlan],
        hospitals: Sequence[Base],
        calls: Sequence[PlannedCall],
        devices: DeviceModel,
        route: RouteFn,
        rng: random.Random,
        manual: bool = False,
        until_s: float | None = None,
        device_tick_s: float = 10.0,
        sweep_s: float = 30.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.platform = platform
        self.pacer = pacer
        self.units = {u.id: SimUnit(plan=u, position=u.station.location) for u in units}
        self.hospitals = list(hospitals)
        self.calls = list(calls)
        self.devices = devices
        self.route_fn = route
        self.rng = rng
        self.manual = manual
        self.until_s = min(until_s if until_s is not None else math.inf, scenario.duration)
        self.device_tick_s = device_tick_s
        self.sweep_s = sweep_s
        self.on_progress = on_progress
        self.incidents: dict[str, SimIncident] = {}
        self.groups: dict[str, str] = {}
        self.counters = Counters()
        self.now_s = 0.0
        self._heap: list[tuple[float, int, Kind, object]] = []
        self._seq = 0
        self._device_due: list[tuple[float, int]] = [
            (d.first_s, i) for i, d in enumerate(devices.devices)
        ]
        heapq.heapify(self._device_due)
        self._scripted = devices.scripted()
        self._scripted_next = 0

    # ------------------------------------------------------------ schedule

    def at(self, t_s: float, kind: Kind, payload: object = None) -> None:
        """Schedule an event."""
        self._seq += 1
        heapq.heappush(self._heap, (t_s, self._seq, kind, payload))

    def ts(self, t_s: float) -> datetime:
        """Return the absolute time of an offset."""
        return self.scenario.start + timedelta(seconds=t_s)

    def run(self) -> Counters:
        """Run until the end of the scenario (or `until_s`, or a stop); return the counters."""
        for call in self.calls:
            self.at(call.at_s + call.entry_s, Kind.CALL, call)
        self.at(0.0, Kind.DEVICES)
        self.at(self.scenario.units.avl_interval_s, Kind.AVL)
        if not self.manual:
            self.at(self.sweep_s, Kind.SWEEP)
        self.at(15.0 if self.manual else 60.0, Kind.WATCH)
        handlers: dict[Kind, Callable[[object], None]] = {
            Kind.CALL: self._on_call,
            Kind.DISPATCH: self._on_dispatch,
            Kind.TURNOUT_DONE: self._on_turnout_done,
            Kind.ARRIVE: self._on_arrive,
            Kind.SCENE_DONE: self._on_scene_done,
            Kind.HANDOVER_DONE: self._on_handover_done,
            Kind.AVL: self._on_avl,
            Kind.DEVICES: self._on_devices,
            Kind.SWEEP: self._on_sweep,
            Kind.WATCH: self._on_watch,
            Kind.ASSIGN_LATE: self._on_assign_late,
        }
        while self._heap:
            t_s, _, kind, payload = heapq.heappop(self._heap)
            if t_s >= self.until_s:
                break
            now_s = self.pacer.wait_until(t_s)
            if now_s is None:
                break
            self.now_s = max(self.now_s, now_s)
            try:
                handlers[kind](payload)
            except PlatformError as err:
                self.counters.errors[f"{kind.name.lower()}:{err.status}"] += 1
                log.warning("sim %s at %.0fs: %s", kind.name.lower(), t_s, err)
            if self.on_progress is not None:
                self.on_progress(t_s)
        self.platform.settle()
        return self.counters

    # ------------------------------------------------------------ calls

    def _plan_incident(self, incident_id: str, itype: str, transport: bool | None) -> SimIncident:
        mix = self.scenario.demand.mix.get(itype)
        if transport is None:
            transport = mix is not None and self.rng.random() < mix.transport_share
        inc = SimIncident(
            id=incident_id,
            type=itype,
            on_scene=mix.on_scene if mix else DEFAULT_ON_SCENE,
            turnout=mix.turnout if mix else None,
            turnout_by_unit=mix.turnout_by_unit if mix else {},
            dispatch_lag_by_unit=mix.dispatch_lag_by_unit if mix else {},
            travel_factor=mix.travel_factor if mix else None,
            travel=mix.travel if mix else {},
            transport=transport,
            opened_s=self.now_s,
        )
        self.incidents[incident_id] = inc
        return inc

    def _on_call(self, payload: object) -> None:
        assert isinstance(payload, PlannedCall)
        call = payload
        attach = self.groups.get(call.group) if call.group else None
        if attach is not None and self.incidents[attach].done:
            attach = None
        incident_id, opened = self.platform.take_call(
            call, received_at=self.ts(call.at_s), incident_id=attach
        )
        self.counters.calls += 1
        if call.group:
            self.groups[call.group] = incident_id
        if opened:
            inc = self._plan_incident(incident_id, call.incident_type, call.transport)
            if not self.manual:
                inc.dispatching = True
                self.at(self.now_s + call.dispatch_s, Kind.DISPATCH, incident_id)

    # ------------------------------------------------------------ dispatch

    def _on_dispatch(self, payload: object) -> None:
        assert isinstance(payload, str)
        inc = self.incidents.get(payload)
        if inc is None or inc.done or inc.units:
            if inc is not None:
                inc.dispatching = False
            return
        inc.attempts += 1
        choices = self.platform.recommend(inc.id)
        if not choices:
            self._retry_or_give_up(inc)
            return
        later = self._dispatch_lags(inc, choices)
        try:
            if later:
                now = [c.unit_id for c in choices if c.unit_id not in later]
                assigned = self.platform.assign(inc.id, now)
            else:
                assigned = self.platform.assign_recommended(inc.id)
        except PlatformError as err:
            if err.status == 422:  # nothing to send: retry later
                self._retry_or_give_up(inc)
                return
            inc.dispatching = False
            raise
        inc.dispatching = False
        paths = {c.unit_id: c.path for c in choices}
        for uid in assigned:
            unit = self.units.get(uid)
            if unit is None or unit.task in BUSY:
                continue
            path = paths.get(uid) or self.platform.route(inc.id, uid)
            self._start_assignment(unit, inc, path)
        for uid, lag in later.items():
            self.at(self.now_s + lag, Kind.ASSIGN_LATE, (inc.id, uid))

    def _dispatch_lags(self, inc: SimIncident, choices: Sequence[Choice]) -> dict[str, float]:
        """Return the recommended units the dispatcher sends later, and how much later.

        A fitted city says how long after the first unit each type was really sent; the
        first unit goes at once by definition, so the smallest lag is taken as zero.
        """
        if not inc.dispatch_lag_by_unit:
            return {}
        lags: dict[str, float] = {}
        for c in choices:
            unit = self.units.get(c.unit_id)
            table = inc.dispatch_lag_by_unit.get(unit.plan.type) if unit is not None else None
            lags[c.unit_id] = draw(self.rng, table) if table is not None else 0.0
        first = min(lags.values())
        return {uid: lag - first for uid, lag in lags.items() if lag - first >= 1.0}

    def _on_assign_late(self, payload: object) -> None:
        assert isinstance(payload, tuple)
        incident_id, uid = payload
        inc, unit = self.incidents.get(incident_id), self.units.get(uid)
        if inc is None or inc.done or unit is None or unit.task in BUSY:
            return  # closed meanwhile, or the unit went elsewhere: the call does without it
        try:
            assigned = self.platform.assign(inc.id, [uid])
        except PlatformError as err:
            if err.status in {409, 422}:  # no longer available or no longer needed
                return
            raise
        if uid in assigned:
            self._start_assignment(unit, inc, self.platform.route(inc.id, uid))

    def _retry_or_give_up(self, inc: SimIncident) -> None:
        if self.now_s - inc.opened_s >= GIVE_UP_AFTER_S:
            inc.dispatching = False
            inc.done = True
            self.platform.cancel(inc.id, "no unit could be sent within an hour (simulation)")
            self.counters.cancelled += 1
            return
        self.at(self.now_s + min(600.0, 60.0 * inc.attempts), Kind.DISPATCH, inc.id)

    def _start_assignment(self, unit: SimUnit, inc: SimIncident, path: Path) -> None:
        unit.token += 1
        unit.task = Task.TURNOUT
        unit.incident = inc.id
        unit.next_path = self._drive_time(unit, inc, path)
        # A unit dispatched while driving stops where it is and turns round.
        if unit.path is not None:
            unit.position = unit.path.at(self.now_s - unit.path_start).location
        unit.path = None
        inc.units.add(unit.plan.id)
        self.counters.assignments += 1
        turnout = (
            inc.turnout_by_unit.get(unit.plan.type)
            or inc.turnout
            or self.scenario.units.turnout.get(unit.plan.agency)
        )
        delay = draw(self.rng, turnout) if turnout else 60.0
        self.at(self.now_s + delay, Kind.TURNOUT_DONE, (unit.plan.id, unit.token))

    def _drive_time(self, unit: SimUnit, inc: SimIncident, path: Path) -> Path:
        """Return the route driven in the time this response takes (fitted, if given)."""
        drive = inc.travel.get(unit.plan.type)
        if drive is not None:
            return path.taking(draw(self.rng, drive))
        factor = inc.travel_factor or self.scenario.units.travel_factor
        return path if factor is None else path.taking(path.seconds * draw(self.rng, factor))

    def _unit(self, payload: object) -> SimUnit | None:
        assert isinstance(payload, tuple)
        uid, token = payload
        unit = self.units[uid]
        return unit if unit.token == token else None

    def _drive(self, unit: SimUnit, path: Path, task: Task) -> None:
        unit.task = task
        unit.path = path
        unit.path_start = self.now_s
        self.at(self.now_s + path.seconds, Kind.ARRIVE, (unit.plan.id, unit.token))

    def _on_turnout_done(self, payload: object) -> None:
        unit = self._unit(payload)
        if unit is None or unit.task is not Task.TURNOUT or unit.next_path is None:
            return
        self.platform.set_status(unit.plan.id, "en_route")
        self._drive(unit, unit.next_path, Task.TO_SCENE)
        unit.next_path = None

    def _fix_now(self, unit: SimUnit) -> None:
        self.platform.report_positions(
            [
                (
                    unit.plan.id,
                    Fix(location=unit.position, heading_deg=None, speed_mps=0.0),
                    self.ts(self.now_s),
                )
            ]
        )
        self.counters.position_batches += 1

    def _on_arrive(self, payload: object) -> None:
        unit = self._unit(payload)
        if unit is None or unit.path is None:
            return
        unit.position = unit.path.end
        unit.path = None
        task = unit.task
        self._fix_now(unit)
        if task is Task.TO_SCENE:
            self.platform.set_status(unit.plan.id, "on_scene")
            unit.task = Task.ON_SCENE
            inc = self.incidents.get(unit.incident or "")
            spread = inc.on_scene if inc else DEFAULT_ON_SCENE
            self.at(
                self.now_s + draw(self.rng, spread),
                Kind.SCENE_DONE,
                (unit.plan.id, unit.token),
            )
        elif task is Task.TO_HOSPITAL:
            self.platform.set_status(unit.plan.id, "at_hospital")
            unit.task = Task.AT_HOSPITAL
            self.at(
                self.now_s + draw(self.rng, self.scenario.units.hospital_handover),
                Kind.HANDOVER_DONE,
                (unit.plan.id, unit.token),
            )
        elif task is Task.RETURNING:
            unit.task = Task.IDLE

    def _nearest_hospital(self, here: LatLon) -> Base | None:
        if not self.hospitals:
            return None
        return min(self.hospitals, key=lambda h: (haversine_m(here, h.location), h.id))

    def _on_scene_done(self, payload: object) -> None:
        unit = self._unit(payload)
        if unit is None or unit.task is not Task.ON_SCENE:
            return
        inc = self.incidents.get(unit.incident or "")
        hospital = self._nearest_hospital(unit.position)
        if (
            inc is not None
            and inc.transport
            and not inc.transported
            and "transport" in unit.plan.capabilities
            and hospital is not None
        ):
            inc.transported = True
            self.platform.set_status(unit.plan.id, "transporting")
            self.counters.transports += 1
            path = self.route_fn(unit.position, hospital.location, unit.plan.type)
            self._drive(unit, path, Task.TO_HOSPITAL)
            return
        self._finish(unit)

    def _on_handover_done(self, payload: object) -> None:
        unit = self._unit(payload)
        if unit is None or unit.task is not Task.AT_HOSPITAL:
            return
        self._finish(unit)

    def _finish(self, unit: SimUnit) -> None:
        """The crew is done: clear (or close the incident if it was the last), go home."""
        inc = self.incidents.get(unit.incident or "")
        if inc is not None:
            inc.units.discard(unit.plan.id)
        try:
            if inc is not None and not inc.units and not inc.done:
                inc.done = True
                self.platform.close_incident(inc.id, "handled (simulated)")
                self.counters.closed += 1
            else:
                self.platform.set_status(unit.plan.id, "available")
        finally:
            self._go_home(unit)

    def _go_home(self, unit: SimUnit) -> None:
        unit.token += 1
        unit.incident = None
        unit.next_path = None
        home = unit.plan.station.location
        if haversine_m(unit.position, home) < 5:
            unit.task = Task.IDLE
            unit.path = None
            return
        path = self.route_fn(unit.position, home, unit.plan.type)
        self._drive(unit, path, Task.RETURNING)

    # ------------------------------------------------------------ periodic

    def _on_avl(self, _: object) -> None:
        fixes: list[tuple[str, Fix, datetime]] = []
        when = self.ts(self.now_s)
        for uid in sorted(self.units):
            unit = self.units[uid]
            if unit.task in MOVING and unit.path is not None:
                fix = unit.path.at(self.now_s - unit.path_start)
                unit.position = fix.location
                fixes.append((uid, fix, when))
        self.at(self.now_s + self.scenario.units.avl_interval_s, Kind.AVL)
        if fixes:
            self.counters.position_batches += 1
            self.platform.report_positions(fixes)

    def _on_devices(self, _: object) -> None:
        due: list[Reading] = []
        while self._device_due and self._device_due[0][0] <= self.now_s:
            t, i = heapq.heappop(self._device_due)
            device: SimDevice = self.devices.devices[i]
            due += self.devices.periodic(device, t)
            heapq.heappush(self._device_due, (t + device.interval_s, i))
        while (
            self._scripted_next < len(self._scripted)
            and self._scripted[self._scripted_next].at_s <= self.now_s
        ):
            due.append(self._scripted[self._scripted_next])
            self._scripted_next += 1
        self.at(self.now_s + self.device_tick_s, Kind.DEVICES)
        if due:
            due.sort(key=lambda r: (r.at_s, r.device_id, r.stream))
            self.platform.publish(due, self.scenario.start)
            self.counters.readings += len(due)
            self.platform.settle()

    def _on_sweep(self, _: object) -> None:
        """The dispatcher looks at the queue: dispatch what waits (rule-opened incidents too)."""
        self.at(self.now_s + self.sweep_s, Kind.SWEEP)
        for view in self.platform.active_incidents():
            if view.status != "pending" or view.unit_ids:
                continue
            inc = self.incidents.get(view.id)
            if inc is None:
                inc = self._plan_incident(view.id, view.type, None)
            if inc.dispatching or inc.done:
                continue
            inc.dispatching = True
            self.at(self.now_s, Kind.DISPATCH, view.id)

    def _on_watch(self, _: object) -> None:
        """Reconcile with the platform: assignments and releases made by someone else."""
        self.at(self.now_s + (15.0 if self.manual else 60.0), Kind.WATCH)
        for view in self.platform.units():
            unit = self.units.get(view.id)
            if unit is None:
                continue
            if view.status == "dispatched" and view.incident_id and unit.task not in BUSY:
                inc = self.incidents.get(view.incident_id) or self._plan_incident(
                    view.incident_id, _type_of(self.platform, view.incident_id), None
                )
                self._start_assignment(unit, inc, self.platform.route(inc.id, unit.plan.id))
            elif view.status == "available" and unit.task in BUSY:
                left = self.incidents.get(unit.incident or "")
                if left is not None:
                    left.units.discard(unit.plan.id)
                    if not left.units:
                        left.done = True
                self._go_home(unit)


def _type_of(platform: Platform, incident_id: str) -> str:
    for view in platform.active_incidents():
        if view.id == incident_id:
            return view.type
    return "other"


def spread_units(
    scenario: Scenario,
    bases: Sequence[Base],
    *,
    agencies: Mapping[str, str],
    capabilities: Mapping[str, tuple[str, ...]],
) -> list[UnitPlan]:
    """Place the fleet: each line's units round-robin over stations of its kinds."""
    plans: list[UnitPlan] = []
    by_id = {b.id: b for b in bases}
    for line in scenario.fleet:
        if line.stations:
            missing = [s for s in line.stations if s not in by_id]
            if missing:
                raise ConfigError(
                    f"fleet line {line.prefix} ({line.type}) names unknown stations "
                    f"{', '.join(missing)}; add them under stations.extra"
                )
            homes = [by_id[s] for s in line.stations]
        else:
            homes = [b for b in bases if b.kind in line.based_at]
        if not homes:
            kinds = ", ".join(line.based_at)
            raise ConfigError(
                f"fleet line {line.prefix} ({line.type}) is based at {kinds}, "
                "but the city has no such station; add one under stations.extra"
            )
        for i in range(line.count):
            plans.append(
                UnitPlan(
                    id=f"{line.prefix}{i + 1}",
                    type=line.type,
                    agency=agencies[line.type],
                    capabilities=capabilities[line.type],
                    station=homes[i % len(homes)],
                )
            )
    return plans
