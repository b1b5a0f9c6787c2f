"""CAD command handling: idempotency, loading state, committing — the decisions are elsewhere.

A command method builds a command (with every id it needs) and queues it. The
decisions are pure functions of (state, command, now): `vigil.incidents.decide`
(call intake, lifecycle) and `vigil.units.decide` (registration, assignment,
status, positions). The handler only

- answers a repeated command id (the client's Idempotency-Key, or a rule's
  firing id) with the first outcome, applying nothing again;
- decides each queued command against the current state plus the commands
  decided before it in the same group (a copy-on-write overlay);
- appends the events of the whole group with the projection rows they change
  and any personal data in one transaction (group commit: one fsync for every
  command that arrived while the previous group was being written), then
  takes the overlay into the live state and announces the events on the bus;
- guards the append with an expectation (optimistic concurrency): several
  processes decide against their own copy of the state, so the append fails
  if another one changed the group's streams after the seq this state
  reflects; the state then catches up with the log and the group is decided
  again (a bounded number of times).

Consumers (rules, the live feed) run after that, on their own threads; no
command ever runs inside another one's transaction or lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

from vigil.bus import Bus
from vigil.cad.state import CadState
from vigil.core.clock import Clock
from vigil.core.errors import NotFoundError, ValidationError, VigilError, WriteConflictError
from vigil.core.events import Event, Pending, Recorded
from vigil.core.geometry import BBox, LatLon
from vigil.core.ids import CallId, EventId, IncidentId, UnitId, new_id
from vigil.incidents import decide as decide_incident
from vigil.incidents.catalogue import Catalogue
from vigil.incidents.events import IncidentOpened
from vigil.incidents.model import Agency, Call, Incident, IncidentStatus
from vigil.incidents.numbers import assign_numbers, note_number
from vigil.store.ports import EventLog, Expectation, ProjectionRow, Projections
from vigil.store.records import PersonalData
from vigil.units import decide as decide_unit
from vigil.units.model import Unit, UnitStatus

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""How often a group is decided against the log when other writers keep changing its streams."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCall:
    """What a call-taker records."""

    received_at: datetime | None = None
    location: LatLon | None = None
    accuracy_m: float | None = None
    address: str | None = None
    nature: str
    notes: str = ""
    caller_name: str | None = None
    caller_phone: str | None = None
    incident_id: IncidentId | None = None
    incident_type: str | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a command recorded; `replayed` when it was a repeat of an earlier command."""

    records: tuple[Recorded, ...]
    replayed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """A resolved address: where, how sure, and what it matched."""

    location: LatLon
    label: str
    confidence: float


AddressResolver = Callable[[str], Located]
# Describes a point as an address a dispatcher can read ("Mannerheimintie 10"), or None.
PlaceDescriber = Callable[[LatLon], str | None]


class CadStore(EventLog, Projections, Protocol):
    """What CAD needs from the store: the log it appends to and the projection it loads."""


@dataclass(frozen=True, slots=True)
class Picture:
    """What decisions read: incidents, units and the catalogue (a view of an overlay)."""

    incidents: Mapping[IncidentId, Incident]
    units: Mapping[UnitId, Unit]
    catalogue: Catalogue


Decision = Callable[[Picture, datetime], list[Event]]


@dataclass(slots=True, kw_only=True)
class _Job:
    """One queued command and, once written, its outcome or error."""

    decide: Decision
    actor: str
    command_id: str | None
    cause: str | None
    personal: tuple[PersonalData, ...]
    outcome: Outcome | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass(slots=True, kw_only=True)
class _Draft:
    """A group decided against the state at `base`, not yet appended."""

    base: int
    scratch: CadState  # the state plus the group's events (a copy-on-write overlay)
    touched: set[tuple[str, str]] = field(default_factory=set)
    pending: list[Pending] = field(default_factory=list)
    personal: list[PersonalData] = field(default_factory=list)
    decided: dict[int, list[Pending]] = field(default_factory=dict)  # job index -> its events
    errors: dict[int, BaseException] = field(default_factory=dict)  # job index -> refusal
    replays: dict[int, Outcome] = field(default_factory=dict)  # answered from the log
    repeats: dict[int, int] = field(default_factory=dict)  # repeated in the group -> the first


class Cad:
    """The CAD command and query service over one store."""

    def __init__(
        self,
        *,
        store: CadStore,
        bus: Bus,
        clock: Clock,
        catalogue: Catalogue,
        personal_data_retention: timedelta,
        resolve_address: AddressResolver | None = None,
        describe_place: PlaceDescriber | None = None,
        shared_log: bool = False,
    ) -> None:
        self._store = store
        # Other processes append to the same log (several API processes, rules workers):
        # each group is decided on the state caught up with the log, and the state
        # follows the log between groups (`follow`).
        self._shared = shared_log
        self._bus = bus
        self._clock = clock
        self.catalogue = catalogue
        self._retention = personal_data_retention
        self._resolve = resolve_address
        self._describe = describe_place
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._writing = False
        self.groups = 0  # transactions written (each holds one or more commands)
        self.conflicts = 0  # appends refused because another writer changed a stream first
        self.state = load_state(store)

    # -------------------------------------------------------------- plumbing

    def _run(
        self,
        decide: Decision,
        *,
        actor: str,
        command_id: str | None,
        cause: str | None = None,
        personal: Sequence[PersonalData] = (),
    ) -> Outcome:
        """Queue a command; the first waiting caller writes everything queued as one group."""
        job = _Job(
            decide=decide,
            actor=actor,
            command_id=command_id,
            cause=cause,
            personal=tuple(personal),
        )
        with self._cond:
            self._queue.append(job)
            while not job.done and self._writing:
                self._cond.wait()
            if not job.done:
                self._writing = True
                group, self._queue = self._queue, []
        if not job.done:
            try:
                self._write(group)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    def _write(self, group: list[_Job]) -> None:
        """Commit a group; when another writer changed what it was decided on, decide again.

        Optimistic concurrency: the append carries an expectation (nothing was
        appended to the group's streams after the seq its state reflects). When
        another process broke it, the state catches up with the log and the whole
        group is decided again (a command that is no longer valid gets its domain
        error then), at most `ATTEMPTS` times; after that its callers get the
        `WriteConflictError`. Jobs are only answered by the attempt that counts.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._attempt(group)
            except WriteConflictError as err:
                self.conflicts += 1
                if attempt == ATTEMPTS:
                    log.warning("gave up after %d write conflicts: %s", attempt, err)
                    for job in group:
                        job.error, job.done = err, True
                    return
                log.info(
                    "write conflict (%s); deciding %d command(s) again", err.message, len(group)
                )
                self._catch_up()
            else:
                return

    def _attempt(self, group: list[_Job]) -> None:
        """Decide the group against the state so far, then commit it in one transaction.

        Raises WriteConflictError (with no job answered) when the append's
        expectation failed; any other failure answers every job with it.
        """
        draft: _Draft | None = None
        try:
            draft = self._decide(group)
            recorded = (
                self._store.append(
                    draft.pending,
                    projection=projection_rows(draft.scratch, draft.touched),
                    personal=draft.personal,
                    expect=expectation(draft.base, draft.pending),
                )
                if draft.pending
                else []
            )
        except WriteConflictError:
            raise
        except Exception as err:  # noqa: BLE001 - every caller of the group re-raises it
            errors = {} if draft is None else draft.errors
            for i, job in enumerate(group):
                job.error, job.done = errors.get(i, err), True
            return
        self.groups += 1
        self._take(draft.scratch, recorded, wrote=len(draft.pending), base=draft.base)
        if any(r.seq > self.state.last_seq for o in draft.replays.values() for r in o.records):
            # Answered from events another process recorded after this state was caught up:
            # the caller reads what its command did from the state next, so take them in.
            self._catch_up()
        by_id = {r.id: r for r in recorded}
        for i, job in enumerate(group):
            first = draft.repeats.get(i, i)
            if first in draft.errors:
                job.error = draft.errors[first]
            elif i in draft.replays:
                job.outcome = draft.replays[i]
            else:
                job.outcome = Outcome(
                    records=tuple(by_id[p.id] for p in draft.decided[first] if p.id in by_id),
                    replayed=first != i,
                )
            job.done = True
        self._bus.publish(recorded)

    def _decide(self, group: list[_Job]) -> _Draft:
        """Decide each job against the state plus the jobs decided before it (an overlay)."""
        now = self._clock.now()
        if self._shared:
            self._catch_up()
        draft = _Draft(base=self.state.last_seq, scratch=self.state.overlay())
        scratch = draft.scratch
        picture = Picture(scratch.incidents, scratch.units, self.catalogue)
        first_of: dict[str, int] = {}
        seq = draft.base
        for i, job in enumerate(group):
            if job.command_id is not None:
                if job.command_id in first_of:
                    draft.repeats[i] = first_of[job.command_id]
                    continue
                replay = self._replay(job.command_id)
                if replay is not None:
                    draft.replays[i] = replay
                    continue
                first_of[job.command_id] = i
            try:
                events = job.decide(picture, now)
            except Exception as err:  # noqa: BLE001 - re-raised on the caller's own thread
                draft.errors[i] = err
                continue
            # Numbered here, from the state this group extends: gap-free and unique
            # (across processes too: the expectation covers every incident.opened).
            events = assign_numbers(events, scratch.numbers, now)
            command_id = job.command_id or new_id("CMD")
            mine = [
                Pending(
                    id=EventId(f"{command_id}/{n}"),
                    at=now,
                    actor=job.actor,
                    cause=job.cause,
                    event=e,
                )
                for n, e in enumerate(events)
            ]
            for p in mine:
                seq += 1
                draft.touched |= scratch.apply(_provisional(p, seq))
            draft.pending.extend(mine)
            draft.personal.extend(job.personal)
            draft.decided[i] = mine
        return draft

    def _take(self, scratch: CadState, recorded: list[Recorded], *, wrote: int, base: int) -> None:
        """Take a committed group's overlay into the state."""
        if self._shared and (len(recorded) != wrote or (recorded and recorded[0].seq != base + 1)):
            # Another process appended meanwhile (to other streams: the expectation held):
            # the state is what the log says, in its order, not this group's overlay.
            self._catch_up()
        else:
            self.state.merge(
                scratch, last_seq=recorded[-1].seq if recorded else self.state.last_seq
            )

    def _catch_up(self) -> None:
        """Apply what the log holds beyond the state (appended by other processes)."""
        if self._store.last_seq() > self.state.last_seq:
            for rec in self._store.read(after_seq=self.state.last_seq):
                self.state.apply(rec)

    def follow(self, rec: Recorded) -> None:
        """Bring the state up to a committed record (a bus consumer, with a shared log)."""
        if rec.seq <= self.state.last_seq:
            return  # this process's own, or already applied
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
        try:
            self._catch_up()
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _place(self, location: LatLon | None) -> str | None:
        """Describe a location as an address (reverse geocoding), when a geocoder is set."""
        if location is None or self._describe is None:
            return None
        try:
            return self._describe(location)
        except VigilError:
            return None  # no address is better than no incident

    def _replay(self, command_id: str) -> Outcome | None:
        earlier = self._store.events_with_prefix(f"{command_id}/")
        return Outcome(records=tuple(earlier), replayed=True) if earlier else None

    # --------------------------------------------------------------- queries

    def incident(self, incident_id: IncidentId) -> Incident:
        """Return one incident or refuse an unknown id."""
        return decide_incident.incident(self._picture(), incident_id)

    def unit(self, unit_id: UnitId) -> Unit:
        """Return one unit or refuse an unknown id."""
        return decide_unit.unit(self._picture(), unit_id)

    def _picture(self) -> Picture:
        return Picture(self.state.incidents, self.state.units, self.catalogue)

    def call(self, call_id: CallId) -> Call:
        """Return one call or refuse an unknown id."""
        try:
            return self.state.calls[call_id]
        except KeyError:
            raise NotFoundError(f"no call {call_id!r}", field="call_id") from None

    def incidents(
        self,
        *,
        statuses: frozenset[IncidentStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bbox: BBox | None = None,
    ) -> list[Incident]:
        """Return incidents matching every given filter, most urgent and oldest first."""
        found = [
            i
            for i in self.state.incidents.values()
            if (statuses is None or i.status in statuses)
            and (since is None or i.opened_at >= since)
            and (until is None or i.opened_at < until)
            and (bbox is None or (i.location is not None and bbox.contains(i.location)))
        ]
        return sorted(found, key=lambda i: (i.priority, i.opened_at, i.id))

    def units(
        self, *, status: UnitStatus | None = None, agency: Agency | None = None
    ) -> list[Unit]:
        """Return units, optionally by status and agency, sorted by id."""
        return sorted(
            (
                u
                for u in self.state.units.values()
                if (status is None or u.status is status) and (agency is None or u.agency is agency)
            ),
            key=lambda u: u.id,
        )

    def timeline(self, incident_id: IncidentId) -> list[Recorded]:
        """Return every event of an incident, its calls and its units' work on it."""
        self.incident(incident_id)
        return self._store.stream(f"incident/{incident_id}")

    # -------------------------------------------------------------- commands

    def _incident_command(
        self,
        command: decide_incident.IncidentCommand,
        *,
        actor: str,
        command_id: str | None,
        cause: str | None = None,
        personal: Sequence[PersonalData] = (),
    ) -> Outcome:
        return self._run(
            lambda state, now: decide_incident.decide(state, command, now),
            actor=actor,
            command_id=command_id,
            cause=cause,
            personal=personal,
        )

    def _unit_command(
        self, command: decide_unit.UnitCommand, *, actor: str, command_id: str | None
    ) -> Outcome:
        return self._run(
            lambda state, now: decide_unit.decide(state, command, now),
            actor=actor,
            command_id=command_id,
        )

    def register_unit(
        self,
        *,
        actor: str,
        unit_id: UnitId,
        callsign: str | None,
        type: str,  # noqa: A002 - the domain's word
        station: str | None,
        location: LatLon | None,
        extra_capabilities: tuple[str, ...] = (),
        command_id: str | None = None,
    ) -> Outcome:
        """Add a unit to the fleet, available at `location`."""
        command = decide_unit.RegisterUnit(
            unit_id=unit_id,
            callsign=callsign,
            type=type,
            station=station,
            location=location,
            extra_capabilities=extra_capabilities,
        )
        return self._unit_command(command, actor=actor, command_id=command_id)

    def take_call(self, call: NewCall, *, actor: str, command_id: str | None = None) -> Outcome:
        """Record a call: attach it to the incident named, or open a new incident."""
        call_id = new_id("CALL")
        now = self._clock.now()
        received = call.received_at or now
        location, address = call.location, call.address
        located_note = ""
        if location is None:
            if not address:
                raise ValidationError("a call needs a location or an address", field="location")
            if self._resolve is None:
                raise ValidationError(
                    "no geocoder is configured; give the caller's location", field="location"
                )
            found = self._resolve(address)
            location = found.location
            located_note = f" (address matched {found.label!r}, confidence {found.confidence:.2f})"
        has_pd = bool(call.caller_name or call.caller_phone)
        command = decide_incident.TakeCall(
            call_id=CallId(call_id),
            new_incident_id=IncidentId(new_id("INC")),
            incident_id=call.incident_id,
            incident_type=call.incident_type,
            priority=call.priority,
            received_at=received,
            location=location,
            accuracy_m=call.accuracy_m,
            address=address,
            incident_address=address or self._place(location),
            nature=call.nature,
            notes=call.notes,
            has_personal_data=has_pd,
            located_note=located_note,
        )
        personal = (
            [
                PersonalData(
                    call_id=call_id,
                    caller_name=call.caller_name,
                    caller_phone=call.caller_phone,
                    stored_at=now,
                    expires_at=received + self._retention,
                )
            ]
            if has_pd
            else []
        )
        return self._incident_command(
            command, actor=actor, command_id=command_id, personal=personal
        )

    def open_incident(
        self,
        *,
        actor: str,
        type: str,  # noqa: A002 - the domain's word
        location: LatLon | None,
        address: str | None = None,
        description: str = "",
        priority: int | None = None,
        rule: str | None = None,
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Open an incident without a call (an operator, or a rule on sensor evidence)."""
        command = decide_incident.OpenIncident(
            incident_id=IncidentId(new_id("INC")),
            type=type,
            location=location,
            address=address or self._place(location),
            description=description,
            priority=priority,
            rule=rule,
        )
        return self._incident_command(command, actor=actor, command_id=command_id, cause=cause)

    def update_incident(
        self,
        incident_id: IncidentId,
        *,
        actor: str,
        type: str | None = None,  # noqa: A002 - the domain's word
        priority: int | None = None,
        location: LatLon | None = None,
        address: str | None = None,
        description: str | None = None,
        reason: str = "",
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Change an active incident's type, priority, location or description."""
        command = decide_incident.UpdateIncident(
            incident_id=incident_id,
            type=type,
            priority=priority,
            location=location,
            address=address,
            description=description,
            reason=reason,
        )
        return self._incident_command(command, actor=actor, command_id=command_id, cause=cause)

    def add_note(
        self,
        incident_id: IncidentId,
        *,
        actor: str,
        text: str,
        rule: str | None = None,
        evidence: tuple[str, ...] = (),
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Add a note (or a rule's explanation with its evidence) to the timeline."""
        command = decide_incident.AddNote(
            incident_id=incident_id, text=text, rule=rule, evidence=evidence
        )
        return self._incident_command(command, actor=actor, command_id=command_id, cause=cause)

    def assign(
        self,
        incident_id: IncidentId,
        unit_ids: Sequence[UnitId],
        *,
        actor: str,
        etas: dict[UnitId, float] | None = None,
        recommended: bool = False,
        command_id: str | None = None,
    ) -> Outcome:
        """Send available units to an active incident."""
        command = decide_unit.AssignUnits(
            incident_id=incident_id,
            unit_ids=tuple(unit_ids),
            etas=dict(etas or {}),
            recommended=recommended,
        )
        return self._unit_command(command, actor=actor, command_id=command_id)

    def release(
        self,
        incident_id: IncidentId,
        unit_id: UnitId,
        *,
        actor: str,
        reason: str,
        command_id: str | None = None,
    ) -> Outcome:
        """Take a unit off an incident; it becomes available."""
        command = decide_unit.ReleaseUnit(incident_id=incident_id, unit_id=unit_id, reason=reason)
        return self._unit_command(command, actor=actor, command_id=command_id)

    def set_unit_status(
        self, unit_id: UnitId, new: UnitStatus, *, actor: str, command_id: str | None = None
    ) -> Outcome:
        """Apply a status a unit reports (en route, on scene, transporting, ...)."""
        command = decide_unit.ReportStatus(unit_id=unit_id, status=new)
        return self._unit_command(command, actor=actor, command_id=command_id)

    def report_positions(
        self,
        fixes: Sequence[tuple[UnitId, LatLon, datetime, float | None, float | None]],
        *,
        actor: str,
        command_id: str | None = None,
    ) -> Outcome:
        """Record AVL fixes (unit id, location, fix time, heading, speed) in one batch."""
        command = decide_unit.ReportPositions(
            fixes=tuple(
                decide_unit.Fix(
                    unit_id=u, location=loc, fix_at=at, heading_deg=heading, speed_mps=speed
                )
                for u, loc, at, heading, speed in fixes
            )
        )
        return self._unit_command(command, actor=actor, command_id=command_id)

    def close_incident(
        self,
        incident_id: IncidentId,
        *,
        actor: str,
        disposition: str,
        notes: str = "",
        command_id: str | None = None,
    ) -> Outcome:
        """Close an incident with a disposition; units still on it are cleared."""
        command = decide_incident.CloseIncident(
            incident_id=incident_id, disposition=disposition, notes=notes
        )

        def decide(state: Picture, now: datetime) -> list[Event]:
            closed = decide_incident.decide(state, command, now)
            return [
                *decide_unit.clear_incident(state, command.incident_id, "incident closed"),
                *closed,
            ]

        return self._run(decide, actor=actor, command_id=command_id)

    def cancel_incident(
        self, incident_id: IncidentId, *, actor: str, reason: str, command_id: str | None = None
    ) -> Outcome:
        """Cancel an incident before anyone arrived; assigned units are released."""
        command = decide_incident.CancelIncident(incident_id=incident_id, reason=reason)

        def decide(state: Picture, now: datetime) -> list[Event]:
            cancelled = decide_incident.decide(state, command, now)
            return [
                *decide_unit.clear_incident(state, command.incident_id, "incident cancelled"),
                *cancelled,
            ]

        return self._run(decide, actor=actor, command_id=command_id)

    def reopen_incident(
        self, incident_id: IncidentId, *, actor: str, reason: str, command_id: str | None = None
    ) -> Outcome:
        """Bring a closed or cancelled incident back to the queue."""
        command = decide_incident.ReopenIncident(incident_id=incident_id, reason=reason)
        return self._incident_command(command, actor=actor, command_id=command_id)


def expectation(base: int, pending: Sequence[Pending]) -> Expectation:
    """Return what a group's append expects: none of its streams changed after `base`.

    The streams are those its events belong to and relate to: a decision reads
    the records it changes (the unit it assigns, the incident it closes and the
    units on it), so a concurrent change to any of them breaks it. A group that
    opens incidents numbered them from every incident opened so far, so it also
    expects no other ``incident.opened`` after `base`.
    """
    streams: set[str] = set()
    opens = False
    for p in pending:
        ev = p.event
        streams.add(ev.stream())
        streams.update(ev.related())
        opens = opens or isinstance(ev, IncidentOpened)
    return Expectation(
        after_seq=base, streams=frozenset(streams), types=_OPENED if opens else frozenset()
    )


_OPENED = frozenset({IncidentOpened.type_name()})


def _provisional(p: Pending, seq: int) -> Recorded:
    """Return a pending event as the overlay applies it (before the log assigns its link)."""
    return Recorded(
        seq=seq,
        id=p.id,
        at=p.at,
        actor=p.actor,
        cause=p.cause,
        event=p.event,
        prev_hash="",
        hash="",
    )


def _record(state: CadState, kind: str, ident: str) -> msgspec.Struct | None:
    """Return the record a projection row (kind, id) holds, or None (deleted)."""
    if kind == "call":
        return state.calls.get(CallId(ident))
    if kind == "incident":
        return state.incidents.get(IncidentId(ident))
    if kind == "unit":
        return state.units.get(UnitId(ident))
    raise KeyError(kind)


def projection_rows(state: CadState, touched: Iterable[tuple[str, str]]) -> list[ProjectionRow]:
    """Encode the touched records of a state as projection rows."""
    rows: list[ProjectionRow] = []
    for kind, ident in sorted(touched):
        record = _record(state, kind, ident)
        rows.append((kind, ident, None if record is None else msgspec.json.encode(record)))
    return rows


def load_state(store: CadStore) -> CadState:
    """Load the persisted projection, then apply any log tail it has not seen."""
    seq, rows = store.projection_rows()
    state = CadState(last_seq=seq)
    for kind, ident, body in rows:
        if kind == "incident":
            state.incidents[IncidentId(ident)] = msgspec.json.decode(body, type=Incident)
        elif kind == "call":
            state.calls[CallId(ident)] = msgspec.json.decode(body, type=Call)
        elif kind == "unit":
            state.units[UnitId(ident)] = msgspec.json.decode(body, type=Unit)
    for incident in state.incidents.values():
        note_number(state.numbers, incident.number)
    for rec in store.read(after_seq=seq):
        state.apply(rec)
    return state


def rebuild_state(store: CadStore) -> CadState:
    """Replay the whole log into a fresh state."""
    state = CadState()
    for rec in store.read():
        state.apply(rec)
    return state


def all_rows(state: CadState) -> list[tuple[str, str, bytes]]:
    """Encode every record of a state as projection rows."""
    encode = msgspec.json.encode
    return [
        *(("call", i, encode(r)) for i, r in sorted(state.calls.items())),
        *(("incident", i, encode(r)) for i, r in sorted(state.incidents.items())),
        *(("unit", i, encode(r)) for i, r in sorted(state.units.items())),
    ]
