"""Hand incidents to other PSAPs/CADs as EIDO, and take theirs in.

Export reads the incident, its calls, notes and units from CAD and writes an
EIDO; caller identity goes in only when the exporter states a purpose, and the
look at it is audited (through `PersonalDataAccess`) before anything is
returned; the export itself is an event. Import validates (schema + profile),
then opens or updates an incident through CAD's own commands, assigns local
units the document names when they are free, and records ``eido.imported``
with the other agency's own times. Caller details an EIDO carries go to the
personal-data store (with retention), never into the log.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from vigil.audit.access import PersonalDataAccess
from vigil.bus import Bus
from vigil.cad.service import Cad
from vigil.core.clock import Clock
from vigil.core.errors import NotFoundError, TransitionError, ValidationError, VigilError
from vigil.core.events import Pending
from vigil.core.ids import IncidentId, UnitId, new_event_id
from vigil.exchange.eido import (
    Caller,
    Note,
    Origin,
    Received,
    export_document,
    incident_uri,
    profile_problems,
    read_document,
)
from vigil.exchange.events import EXCHANGE_STREAM, EidoExported, EidoImported
from vigil.exchange.schema import EidoSchema, Problem
from vigil.exchange.settings import ExchangeSettings
from vigil.incidents.events import IncidentNoteAdded
from vigil.store.ports import EventLog
from vigil.store.records import PersonalData
from vigil.units.model import UnitStatus


def caller_record_id(incident_id: IncidentId) -> str:
    """Return the personal-data key of the caller details an imported EIDO carried."""
    return f"EIDO-{incident_id}"


class Exchange:
    """EIDO export, import and validation over CAD."""

    def __init__(
        self,
        *,
        settings: ExchangeSettings,
        cad: Cad,
        store: EventLog,
        bus: Bus,
        clock: Clock,
        access: PersonalDataAccess,
        personal_data_retention: timedelta,
    ) -> None:
        self.settings = settings
        self._cad = cad
        self._store = store
        self._bus = bus
        self._clock = clock
        self._access = access
        self._retention = personal_data_retention
        self._schema: EidoSchema | None = None
        self._schema_lock = threading.Lock()
        self._lock = threading.Lock()
        self.origin = Origin(agency_id=settings.agency_id, element_id=settings.element_id)

    def schema(self) -> EidoSchema | None:
        """Return the EIDO schema (loaded on first use: the NIEM components take seconds)."""
        if self.settings.eido_schema is None:
            return None
        with self._schema_lock:
            if self._schema is None:
                self._schema = EidoSchema.load(Path(self.settings.eido_schema))
            return self._schema

    # ------------------------------------------------------------ validation

    def problems(self, doc: Any) -> list[Problem]:
        """Return what is wrong with an EIDO document (schema, when configured, and profile)."""
        schema = self.schema()
        found = schema.problems(doc) if schema is not None else []
        return found + profile_problems(doc)

    def _refuse_invalid(self, doc: Any) -> None:
        problems = self.problems(doc)
        if problems:
            raise ValidationError(
                f"not a valid EIDO: {problems[0]}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                field="eido",
                extra={"problems": [str(p) for p in problems[:50]]},
            )

    # ---------------------------------------------------------------- export

    def export(
        self, incident_id: IncidentId, *, actor: str, purpose: str | None = None
    ) -> dict[str, Any]:
        """Write an incident as EIDO; with a purpose, caller identity too (audited first)."""
        incident = self._cad.incident(incident_id)
        calls = [self._cad.call(c) for c in incident.call_ids]
        notes = [
            Note(at=r.at, author=r.actor, text=r.event.text)
            for r in self._cad.timeline(incident_id)
            if isinstance(r.event, IncidentNoteAdded) and r.event.incident_id == incident_id
        ]
        units = [self._cad.unit(u) for u in incident.units_ever if u in self._cad.state.units]
        callers: list[Caller] = []
        if purpose is not None:
            for call in calls:
                if not call.has_personal_data:
                    continue
                try:
                    pd = self._access.caller(
                        call.id, actor=actor, purpose=f"EIDO export: {purpose}"
                    )
                except NotFoundError:
                    continue  # purged: the audit entry says so
                callers.append(Caller(call_id=call.id, name=pd.caller_name, phone=pd.caller_phone))
        doc = export_document(
            incident,
            calls=calls,
            notes=notes,
            units=units,
            origin=self.origin,
            now=self._clock.now(),
            callers=callers,
        )
        self._refuse_invalid(doc)  # Vigil never hands out an invalid EIDO
        self._append(
            EidoExported(
                incident_id=incident_id,
                eido_id=incident_uri(incident_id, self.origin.agency_id),
                with_caller=bool(callers),
                purpose=purpose or "",
            ),
            actor=actor,
        )
        return doc

    # ---------------------------------------------------------------- import

    def parse(self, data: bytes) -> Any:
        """Decode JSON bytes (size-checked) into a document, or refuse them naming why."""
        if len(data) > self.settings.max_eido_bytes:
            raise ValidationError(
                f"EIDO is {len(data)} bytes, more than {self.settings.max_eido_bytes}", field="eido"
            )
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValidationError(f"not JSON: {err}", field="eido") from err

    def take(self, doc: Any, *, actor: str) -> tuple[IncidentId, bool]:
        """Open or update an incident from an EIDO; return (incident id, created)."""
        self._refuse_invalid(doc)
        try:
            received = read_document(doc)
        except (KeyError, TypeError, AttributeError) as err:
            # The schema is not configured, or allows a shape Vigil cannot use.
            raise ValidationError(
                f"unusable EIDO: missing or malformed {err}", field="eido"
            ) from err
        with self._lock:
            earlier = self._earlier(received)
            if earlier is None:
                return self._open(received, actor=actor), True
            self._update(earlier, received, actor=actor)
            return earlier[0], False

    def _earlier(self, r: Received) -> tuple[IncidentId, set[str]] | None:
        incident_id: IncidentId | None = None
        keys: set[str] = set()
        for rec in self._store.stream(EXCHANGE_STREAM):
            e = rec.event
            if isinstance(e, EidoImported) and e.eido_id == r.eido_id:
                incident_id = e.incident_id
                keys |= set(e.note_keys)
        ours = r.agency == self.origin.agency_id and r.internal_id in self._cad.state.incidents
        if incident_id is None and ours and r.internal_id:
            # One of ours coming back (a round trip): update the original.
            incident_id = r.internal_id
            keys = {_note_key(n) for n in self._local_notes(incident_id)}
        return (incident_id, keys) if incident_id is not None else None

    def _local_notes(self, incident_id: IncidentId) -> list[Note]:
        return [
            Note(at=r.at, author=r.actor, text=r.event.text)
            for r in self._cad.timeline(incident_id)
            if isinstance(r.event, IncidentNoteAdded)
        ]

    def _type(self, r: Received) -> tuple[str, str]:
        types = self._cad.catalogue.incident_types
        if r.type_code and r.type_code in types:
            return r.type_code, ""
        said = r.type_text or r.common_type or r.type_code or "not stated"
        return "other", f" (their type: {said})"

    def _open(self, r: Received, *, actor: str) -> IncidentId:
        itype, type_note = self._type(r)
        priority = r.priority if isinstance(r.priority, int) and 1 <= r.priority <= 5 else None
        description = (r.type_text or "") + type_note
        if r.location is None and not r.address:
            raise ValidationError(
                "the EIDO gives no usable location (no point and no civic address)",
                field="locationComponent",
            )
        outcome = self._cad.open_incident(
            actor=actor,
            type=itype,
            location=r.location,
            address=r.address,
            description=f"From {r.agency}: {description}".strip(),
            priority=priority,
        )
        incident_id: IncidentId = outcome.records[0].event.incident_id  # type: ignore[attr-defined]
        self._update((incident_id, set()), r, actor=actor, created=True)
        return incident_id

    def _update(
        self,
        earlier: tuple[IncidentId, set[str]],
        r: Received,
        *,
        actor: str,
        created: bool = False,
    ) -> None:
        incident_id, seen = earlier
        new_keys: list[str] = []
        for note in sorted(r.notes, key=lambda n: n.at):
            key = _note_key(note)
            if key in seen or not note.text:
                continue
            seen.add(key)
            new_keys.append(key)
            if r.agency == self.origin.agency_id and not created:
                continue  # our own note coming back
            self._cad.add_note(
                incident_id,
                actor=actor,
                text=f"[{note.at.isoformat(timespec='seconds')} {note.author or r.agency}] "
                + note.text,
            )
        if r.call_times and created:
            when = ", ".join(t.isoformat(timespec="seconds") for t in r.call_times)
            natures = "; ".join(n for n in r.call_natures if n)
            self._cad.add_note(
                incident_id,
                actor=actor,
                text=f"Calls at {r.agency}: {when}" + (f" ({natures})" if natures else ""),
            )
        assigned = self._assign(incident_id, r, actor=actor)
        foreign = [u for u in r.units if u.id not in self._cad.state.units]
        if foreign:
            listed = ", ".join(f"{u.name} ({u.type}, {u.status})" for u in foreign)
            self._cad.add_note(incident_id, actor=actor, text=f"Units of {r.agency}: {listed}")
        personal: list[PersonalData] = []
        if r.caller_phones or r.caller_names:
            now = self._clock.now()
            personal.append(
                PersonalData(
                    call_id=caller_record_id(incident_id),
                    caller_name=", ".join(r.caller_names) or None,
                    caller_phone=", ".join(r.caller_phones) or None,
                    stored_at=now,
                    expires_at=now + self._retention,
                )
            )
        self._append(
            EidoImported(
                incident_id=incident_id,
                eido_id=r.eido_id,
                agency=r.agency,
                element=r.element,
                created=created,
                source_updated_at=r.updated_at,
                source_opened_at=r.opened_at,
                call_times=r.call_times,
                note_keys=tuple(new_keys),
                units_there=tuple(f"{u.id} {u.status}" for u in r.units),
                assigned=tuple(assigned),
                has_caller=bool(personal),
                warnings=r.warnings,
            ),
            actor=actor,
            personal=personal,
        )

    def _assign(self, incident_id: IncidentId, r: Received, *, actor: str) -> list[UnitId]:
        inc = self._cad.incident(incident_id)
        free = [
            u.id
            for u in r.units
            if u.active
            and u.id in self._cad.state.units
            and u.id not in inc.unit_ids
            and self._cad.unit(u.id).status is UnitStatus.AVAILABLE
        ]
        if not free or not inc.active:
            return []
        try:
            self._cad.assign(incident_id, free, actor=actor)
        except (TransitionError, ValidationError):
            return []
        return free

    def _append(
        self,
        event: EidoExported | EidoImported,
        *,
        actor: str,
        personal: list[PersonalData] | None = None,
    ) -> None:
        pending = Pending(
            id=new_event_id(), at=self._clock.now(), actor=actor, cause=None, event=event
        )
        recorded = self._store.append([pending], personal=personal or ())
        self._bus.publish(recorded)


def _note_key(note: Note) -> str:
    digest = hashlib.sha256(note.text.encode()).hexdigest()[:16]
    return f"{note.at.isoformat()}|{digest}"


def validate_file(path: Path, exchange_schema: EidoSchema | None, *, max_bytes: int) -> list[str]:
    """Return a file's EIDO problems as text (empty when valid); never follows references."""
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as err:
        return [f"file: cannot read: {err.strerror}"]
    if len(data) > max_bytes:
        return [f"json: larger than {max_bytes} bytes"]
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [f"json: not JSON: {err}"]
    found = exchange_schema.problems(doc) if exchange_schema is not None else []
    problems = [str(p) for p in found + profile_problems(doc)]
    if not problems:
        try:
            read_document(doc)
        except (VigilError, KeyError, TypeError) as err:
            problems.append(f"profile: unreadable: {err}")
    return problems
