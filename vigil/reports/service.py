"""Citizen reports: take them from the public, rate-limit them, moderate them into incidents.

Anonymous by default: the log holds what was reported, where and when — never
who. Contact details, when a reporter volunteers them, go to the personal-data
store with their own retention (read only with a stated, audited purpose, and
purged on schedule with the callers' data). The reporter gets a private status
link: a random token whose hash alone is recorded. Photos are re-encoded
without metadata, with every person and vehicle the camera worker's detector
finds mosaicked (`photos.clean_photo`), and kept in their own file.

Retention: after `report_retention_days` a scheduled purge deletes the photo and
records `ReportExpired`, after which the report is in no list and its status
link answers 404. (Its text stays in the tamper-evident log, like any event;
the form asks reporters not to write names.)

Rate limits survive a restart and hold across processes: the per-area limit is
counted from the log itself (the reports submitted in the cell in the last
hour, which every process's book follows), the per-client limit in a table of
keyed client hashes in the photo store (`PhotoStore`: an SQLite file shared by
the processes of one host, or PostgreSQL shared by every host), pruned after an
hour. The client key is an HMAC under a secret kept in that store: no address
is stored, and the key cannot be reversed without the store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import msgspec

from vigil.bus import Bus
from vigil.cad.service import Cad
from vigil.core.clock import Clock
from vigil.core.errors import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from vigil.core.events import Event, Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import EventId, IncidentId, new_id
from vigil.reports.events import (
    REPORTS_STREAM,
    ReportDismissed,
    ReportExpired,
    ReportMerged,
    ReportPromoted,
    ReportSubmitted,
)
from vigil.reports.photos import Pixels, clean_photo
from vigil.store.ports import EventLog
from vigil.store.records import PersonalData
from vigil.store.sqlite_file import SqliteFile

CATEGORIES: dict[str, str] = {
    "flooding": "Flooding or blocked drain",
    "fallen_tree": "Fallen tree or branch",
    "road_hazard": "Road hazard (pothole, debris, broken signal)",
    "fire_smoke": "Smoke or small fire (call 112 for a fire in a building)",
    "street_light": "Street light out",
    "noise": "Noise",
    "waste": "Illegal dumping or overflowing bins",
    "other": "Something else",
}
ReportState = Literal["new", "promoted", "merged", "dismissed"]
REPORT_EVENTS = (ReportSubmitted, ReportPromoted, ReportMerged, ReportDismissed, ReportExpired)
RATE_SPAN_S = 3600.0

PHOTO_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    report_id TEXT PRIMARY KEY, jpeg BLOB NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS client_hits (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS client_hits_key ON client_hits (key, at);
CREATE TABLE IF NOT EXISTS secret (id INTEGER PRIMARY KEY CHECK (id = 1), value BLOB NOT NULL);
"""


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """One report as it stands."""

    id: str
    state: ReportState
    category: str
    text: str
    location: LatLon
    accuracy_m: float | None
    has_photo: bool
    has_contact: bool
    submitted_at: datetime
    updated_at: datetime
    status_key: str
    incident_id: IncidentId | None = None
    merged_into: str | None = None
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewReport:
    """What a member of the public sends."""

    category: str
    text: str
    location: LatLon
    accuracy_m: float | None = None
    photo: bytes | None = None
    contact_name: str | None = None
    contact: str | None = None  # phone or e-mail


def area_cell(location: LatLon) -> str:
    """Return the ~1 km grid cell of a location (0.01 degree latitude/longitude)."""
    return f"{round(location.lat, 2):.2f},{round(location.lon, 2):.2f}"


def status_key(token: str) -> str:
    """Return the recorded key of a private status token."""
    return hashlib.sha256(token.encode()).hexdigest()


class ReportBook:
    """The projection of report events."""

    def __init__(self) -> None:
        self.reports: dict[str, Report] = {}
        self.by_key: dict[str, str] = {}
        self.by_cell: dict[str, list[datetime]] = {}  # submission times, for the area limit
        self._seen: set[int] = set()

    def apply(self, rec: Recorded) -> None:
        """Apply one recorded event once."""
        if rec.seq in self._seen or not isinstance(rec.event, REPORT_EVENTS):
            return
        self._seen.add(rec.seq)
        e = rec.event
        if isinstance(e, ReportSubmitted):
            self.reports[e.report_id] = Report(
                id=e.report_id,
                state="new",
                category=e.category,
                text=e.text,
                location=e.location,
                accuracy_m=e.accuracy_m,
                has_photo=e.photo_sha256 is not None,
                has_contact=e.has_contact,
                submitted_at=rec.at,
                updated_at=rec.at,
                status_key=e.status_key,
            )
            self.by_key[e.status_key] = e.report_id
            self.by_cell.setdefault(area_cell(e.location), []).append(rec.at)
            return
        old = self.reports.get(e.report_id)
        if old is None:
            return
        if isinstance(e, ReportExpired):
            del self.reports[e.report_id]
            self.by_key.pop(old.status_key, None)
            return
        if isinstance(e, ReportPromoted):
            new = msgspec.structs.replace(old, state="promoted", incident_id=e.incident_id)
        elif isinstance(e, ReportMerged):
            new = msgspec.structs.replace(
                old,
                state="merged",
                merged_into=e.into_report or e.into_incident,
                incident_id=e.into_incident,
            )
        elif isinstance(e, ReportDismissed):
            new = msgspec.structs.replace(old, state="dismissed")
        else:
            return
        self.reports[e.report_id] = msgspec.structs.replace(
            new, decided_by=rec.actor, reason=e.reason, updated_at=rec.at
        )

    def area_count(self, cell: str, since: datetime) -> int:
        """Return how many reports of a cell were submitted after `since` (and prune older)."""
        times = self.by_cell.get(cell, [])
        recent = [t for t in times if t > since]
        if len(recent) != len(times):
            self.by_cell[cell] = recent
        return len(recent)


class PhotoStore(Protocol):
    """Report photos and the per-client rate-limit hits, beside the log.

    SQLite: `SqlitePhotos` (one file in the data directory: shared by the processes
    of one host); PostgreSQL: `reports.postgres.PostgresPhotos` (shared by every host).
    """

    def put(self, report_id: str, jpeg: bytes, at: datetime) -> None:
        """Store (or replace) a report's photo."""
        ...

    def get(self, report_id: str) -> bytes | None:
        """Return a report's photo, if stored."""
        ...

    def delete(self, report_ids: list[str], *, before: datetime) -> None:
        """Delete these reports' photos and any photo stored before `before`."""
        ...

    def secret(self) -> bytes:
        """Return the store's secret that keys client hashes (made on first use, then kept)."""
        ...

    def client_hit(self, key: str, *, now: float, span_s: float, limit: int) -> bool:
        """Count one request of `key` at `now` unless it already made `limit` within `span_s`.

        Atomic across processes sharing the store; hits older than `span_s` are dropped.
        """
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class SqlitePhotos:
    """Report photos in their own SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteFile(path, schema=PHOTO_SCHEMA, what="report photos")

    def put(self, report_id: str, jpeg: bytes, at: datetime) -> None:
        """Store (or replace) a report's photo."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO photos VALUES (?,?,?)", (report_id, jpeg, at.isoformat())
            )

    def get(self, report_id: str) -> bytes | None:
        """Return a report's photo, if stored."""
        row = (
            self._db.reader()
            .execute("SELECT jpeg FROM photos WHERE report_id = ?", (report_id,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def delete(self, report_ids: list[str], *, before: datetime) -> None:
        """Delete these reports' photos and any photo stored before `before`."""
        with self._db.tx() as conn:
            conn.execute("DELETE FROM photos WHERE at <= ?", (before.isoformat(),))
            conn.executemany("DELETE FROM photos WHERE report_id = ?", [(i,) for i in report_ids])

    def secret(self) -> bytes:
        """Return the secret that keys client hashes (made on first use, then kept)."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO secret (id, value) VALUES (1, ?)", (os.urandom(32),)
            )
            row = conn.execute("SELECT value FROM secret WHERE id = 1").fetchone()
        return bytes(row[0])

    def client_hit(self, key: str, *, now: float, span_s: float, limit: int) -> bool:
        """Count one request of `key` unless over `limit` in `span_s` (one writer at a time)."""
        with self._db.tx() as conn:
            conn.execute("DELETE FROM client_hits WHERE at <= ?", (now - span_s,))
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM client_hits WHERE key = ? AND at > ?", (key, now - span_s)
            ).fetchone()
            if int(n) >= limit:
                return False
            conn.execute("INSERT INTO client_hits (key, at) VALUES (?, ?)", (key, now))
        return True

    def close(self) -> None:
        """Close the file."""
        self._db.close()


class Reports:
    """Citizen reports over the log, a photo store, the rate limits and CAD."""

    def __init__(
        self,
        *,
        store: EventLog,
        bus: Bus,
        clock: Clock,
        cad: Cad,
        photo_path: Path | None = None,
        photos: PhotoStore | None = None,
        per_client_per_hour: int,
        per_area_per_hour: int,
        photo_max_bytes: int,
        contact_retention: timedelta,
        retention: timedelta = timedelta(days=90),
        blur: Callable[[Pixels], Pixels] | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._cad = cad
        if photos is None:
            if photo_path is None:
                raise ValueError("Reports needs a photo store or the path of its file")
            photos = SqlitePhotos(photo_path)
        self._photos = photos
        self._per_client = per_client_per_hour
        self._per_area = per_area_per_hour
        self._photo_max = photo_max_bytes
        self._retention = contact_retention
        self._report_retention = retention
        self._blur = blur
        # Client addresses are never stored: a secret kept in the side file keys their hashes.
        self._salt = self._photos.secret()
        self._lock = threading.RLock()
        self.refused: dict[str, int] = {}
        self.book = ReportBook()
        for rec in store.stream(REPORTS_STREAM):
            self.book.apply(rec)
        # Not durable: the book is rebuilt from the log at start-up, then follows the bus.
        self._unsubscribe = bus.subscribe(
            "reports", self._on_record, kinds=REPORT_EVENTS, durable=False
        )
        self.listeners: list[Callable[[Recorded], None]] = []

    def close(self) -> None:
        """Stop following the bus; close the photo file."""
        self._unsubscribe()
        self._photos.close()

    def _on_record(self, rec: Recorded) -> None:
        if isinstance(rec.event, REPORT_EVENTS):
            with self._lock:
                self.book.apply(rec)

    def _count(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    # --------------------------------------------------------------- public

    def submit(self, report: NewReport, *, client: str) -> tuple[Report, str]:
        """Record a report; return it and the reporter's private status token."""
        if report.category not in CATEGORIES:
            self._count("category")
            raise ValidationError(
                f"unknown category {report.category!r} (one of: {', '.join(CATEGORIES)})",
                field="category",
            )
        text = report.text.strip()
        if not 3 <= len(text) <= 2000:
            self._count("text")
            raise ValidationError("describe it in 3 to 2000 characters", field="text")
        if report.accuracy_m is not None and not 0 <= report.accuracy_m <= 50_000:
            self._count("accuracy")
            raise ValidationError("accuracy_m must be 0..50000 metres", field="accuracy_m")
        now = self._clock.now()
        key = hmac.new(self._salt, client.encode(), "sha256").hexdigest()
        with self._lock:
            since = now - timedelta(seconds=RATE_SPAN_S)
            if self.book.area_count(area_cell(report.location), since) >= self._per_area:
                self._count("rate_area")
                raise RateLimitedError(
                    "many reports for this area already: operators are looking at it",
                    field="location",
                )
            if not self._photos.client_hit(
                key, now=now.timestamp(), span_s=RATE_SPAN_S, limit=self._per_client
            ):
                self._count("rate_client")
                raise RateLimitedError(
                    "too many reports from this device in the last hour; try again later",
                    field="client",
                )
        jpeg = None
        if report.photo is not None:
            try:
                jpeg = clean_photo(report.photo, max_bytes=self._photo_max, blur=self._blur)
            except ValidationError:
                self._count("photo")
                raise
        token = secrets.token_urlsafe(24)
        report_id = new_id("RPT")
        event = ReportSubmitted(
            report_id=report_id,
            category=report.category,
            text=text,
            location=report.location,
            accuracy_m=report.accuracy_m,
            photo_sha256=hashlib.sha256(jpeg).hexdigest() if jpeg is not None else None,
            has_contact=bool(report.contact or report.contact_name),
            status_key=status_key(token),
        )
        personal = []
        if event.has_contact:
            personal.append(
                PersonalData(
                    call_id=report_id,
                    caller_name=(report.contact_name or "").strip()[:200] or None,
                    caller_phone=(report.contact or "").strip()[:200] or None,
                    stored_at=now,
                    expires_at=now + self._retention,
                )
            )
        if jpeg is not None:
            # The photo first: a crash between the two leaves an unreferenced photo, never a
            # report that points at a photo that is not there.
            self._photos.put(report_id, jpeg, now)
        self._append([event], actor="public", personal=personal)
        return self.get(report_id), token

    def by_token(self, token: str) -> Report:
        """Return the report a private status token belongs to."""
        report_id = self.book.by_key.get(status_key(token))
        if report_id is None:
            raise NotFoundError("no report has this status link", field="token")
        return self.get(report_id)

    # ------------------------------------------------------------ operators

    def get(self, report_id: str) -> Report:
        """Return one report or refuse an unknown id."""
        try:
            return self.book.reports[report_id]
        except KeyError:
            raise NotFoundError(f"no report {report_id!r}", field="report_id") from None

    def find(self, *, states: frozenset[str] | None = None) -> list[Report]:
        """Return reports (optionally in some states), newest first."""
        found = [r for r in self.book.reports.values() if states is None or r.state in states]
        return sorted(found, key=lambda r: (r.submitted_at, r.id), reverse=True)

    def photo(self, report_id: str) -> bytes:
        """Return a report's stored (metadata-free) photo."""
        self.get(report_id)
        jpeg = self._photos.get(report_id)
        if jpeg is None:
            raise NotFoundError(f"report {report_id} has no photo", field="report_id")
        return jpeg

    def _open(self, report_id: str) -> Report:
        report = self.get(report_id)
        if report.state != "new":
            raise ConflictError(f"report {report_id} is already {report.state}", field="report_id")
        return report

    def promote(
        self,
        report_id: str,
        *,
        actor: str,
        incident_type: str,
        priority: int | None,
        reason: str,
    ) -> Report:
        """Open an incident from a report (in the queue like any other) and link them."""
        with self._lock:
            report = self._open(report_id)
            if not reason.strip():
                raise ValidationError("promoting needs a reason", field="reason")
            outcome = self._cad.open_incident(
                actor=actor,
                type=incident_type,
                location=report.location,
                description=f"Citizen report ({CATEGORIES[report.category]}): {report.text}",
                priority=priority,
                cause=report_id,
            )
            opened = outcome.records[0].event
            incident_id: IncidentId = opened.incident_id  # type: ignore[attr-defined]
            self._append(
                [ReportPromoted(report_id=report_id, incident_id=incident_id, reason=reason)],
                actor=actor,
            )
        return self.get(report_id)

    def merge(
        self,
        report_id: str,
        *,
        actor: str,
        into_report: str | None,
        into_incident: IncidentId | None,
        reason: str,
    ) -> Report:
        """Mark a report a duplicate of another report or of an incident."""
        with self._lock:
            self._open(report_id)
            if (into_report is None) == (into_incident is None):
                raise ValidationError(
                    "name exactly one of into_report, into_incident", field="into"
                )
            if into_report is not None:
                if into_report == report_id:
                    raise ValidationError(
                        "a report cannot be merged into itself", field="into_report"
                    )
                self.get(into_report)
            if into_incident is not None:
                self._cad.incident(into_incident)
            if not reason.strip():
                raise ValidationError("merging needs a reason", field="reason")
            self._append(
                [
                    ReportMerged(
                        report_id=report_id,
                        into_report=into_report,
                        into_incident=into_incident,
                        reason=reason,
                    )
                ],
                actor=actor,
            )
        return self.get(report_id)

    def dismiss(self, report_id: str, *, actor: str, reason: str) -> Report:
        """Dismiss a report with the reason the reporter will see."""
        with self._lock:
            self._open(report_id)
            if not reason.strip():
                raise ValidationError("dismissing needs a reason", field="reason")
            self._append([ReportDismissed(report_id=report_id, reason=reason)], actor=actor)
        return self.get(report_id)

    def purge_expired(self, *, actor: str = "system") -> list[str]:
        """Expire reports past their retention: delete their photos, record `ReportExpired`."""
        now = self._clock.now()
        cutoff = now - self._report_retention
        with self._lock:
            due = [r.id for r in self.book.reports.values() if r.submitted_at <= cutoff]
        # Also any photo left without a report (a crash between photo and log).
        self._photos.delete(due, before=cutoff)
        days = self._report_retention.total_seconds() / 86400
        if due:
            self._append(
                [ReportExpired(report_id=i, retention_days=days) for i in due], actor=actor
            )
        return due

    def _append(
        self, events: list[Event], *, actor: str, personal: list[PersonalData] | None = None
    ) -> None:
        now = self._clock.now()
        cid = new_id("CMD")
        pending = [
            Pending(id=EventId(f"{cid}/{i}"), at=now, actor=actor, cause=None, event=e)
            for i, e in enumerate(events)
        ]
        recorded = self._store.append(pending, personal=personal or ())
        with self._lock:
            for rec in recorded:
                self.book.apply(rec)
        self._bus.publish(recorded)
