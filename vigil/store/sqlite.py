"""SQLite adapter: the embedded default store (WAL, synchronous=FULL).

Connections, locking and error conversion live in `sqlite_file.SqliteFile`.

Every append is one transaction holding the events, their hash-chain links,
the projection rows they changed and any personal data they carry: it is all
there after a crash, or none of it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from vigil.core.errors import ConflictError
from vigil.core.events import Pending, Recorded, decode_event, encode_event
from vigil.core.geometry import LatLon, haversine_m
from vigil.core.ids import EventId
from vigil.store.chain import GENESIS, link
from vigil.store.leases import claimed, fenced
from vigil.store.ports import Expectation, Lease, ProjectionRow
from vigil.store.records import AuditEntry, ChainBreak, PersonalData, UserRecord
from vigil.store.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    stream TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    cause TEXT,
    data BLOB NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_stream ON events(stream, seq);
CREATE INDEX IF NOT EXISTS events_type ON events(type, seq);
CREATE INDEX IF NOT EXISTS events_cause ON events(cause);
CREATE TABLE IF NOT EXISTS event_refs (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES events(seq),
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS projection (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS personal_data (
    call_id TEXT PRIMARY KEY,
    caller_name TEXT,
    caller_phone TEXT,
    stored_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    purpose TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS cursors (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    token INTEGER NOT NULL,
    PRIMARY KEY (grp, name)
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
"""


def _event_hash(prev: str, seq: int, fields: tuple[str | bytes | None, ...]) -> str:
    """Hash a log row: (id, type, stream, at, actor, cause, data) after `prev`."""
    return link(prev, seq, *fields)


def _audit_hash(prev: str, seq: int, e: AuditEntry) -> str:
    """Hash an audit row after `prev` (same field order as the table)."""
    return link(prev, seq, e.at.isoformat(), e.actor, e.action, e.subject, e.purpose, e.detail)


def _row_fields(p: Pending, data: bytes) -> tuple[str | bytes | None, ...]:
    return (p.id, p.event.type_name(), p.event.stream(), p.at.isoformat(), p.actor, p.cause, data)


def _check(conn: sqlite3.Connection, expect: Expectation) -> None:
    """Raise WriteConflictError if an event after `expect.after_seq` breaks `expect`.

    Each probe is a range seek on an index ((stream, seq) of events and of
    event_refs, (type, seq) of events) and reads at most one row.
    """
    after = expect.after_seq
    streams = sorted(expect.streams)
    marks = ",".join("?" * len(streams))
    probes: list[tuple[str, list[str]]] = []
    if streams:
        probes += [
            (f"SELECT seq, stream FROM events WHERE stream IN ({marks}) AND seq > ?", streams),  # noqa: S608 - placeholders only
            (f"SELECT seq, stream FROM event_refs WHERE stream IN ({marks}) AND seq > ?", streams),  # noqa: S608 - placeholders only
        ]
    if expect.types:
        types = sorted(expect.types)
        probes.append(
            (
                f"SELECT seq, type FROM events WHERE type IN ({','.join('?' * len(types))}) "  # noqa: S608 - placeholders only
                "AND seq > ?",
                types,
            )
        )
    for sql, values in probes:
        row = conn.execute(sql + " LIMIT 1", (*values, after)).fetchone()
        if row is not None:
            raise expect.broken_by(int(row[0]), str(row[1]))


class _Place(msgspec.Struct):
    """The part of a projection body a place query needs (the rest is ignored)."""

    location: LatLon | None = None
    status: str | None = None


_PLACE = msgspec.json.Decoder(_Place)


def _raw(data: object) -> bytes:
    return bytes(data) if isinstance(data, bytes | memoryview) else str(data).encode()


class SqliteStore:
    """The SQLite adapter of every store port (`vigil.store.ports.Store`), in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteFile(path, schema=SCHEMA, what="store")

    def close(self) -> None:
        """Close every connection."""
        self._db.close()

    # ----------------------------------------------------------------- events

    def append(
        self,
        batch: Sequence[Pending],
        *,
        projection: Iterable[ProjectionRow] = (),
        personal: Iterable[PersonalData] = (),
        expect: Expectation | None = None,
    ) -> list[Recorded]:
        """Append events atomically with their projection rows and personal data.

        Events whose id is already in the log are skipped (idempotent resend);
        the returned list holds only the events recorded by this call. `expect`
        is checked inside the same BEGIN IMMEDIATE transaction, which holds the
        file's write lock, so no other process appends between check and write.
        """
        recorded: list[Recorded] = []
        with self._db.tx() as conn:
            seq, prev = self._head(conn, "events")
            if expect is not None and seq > expect.after_seq:
                _check(conn, expect)
            for p in batch:
                if conn.execute("SELECT 1 FROM events WHERE id = ?", (p.id,)).fetchone():
                    if expect is not None:
                        raise expect.broken_by(None, f"event {p.id}")
                    continue
                rec = self._write_event(conn, p, seq + 1, prev)
                recorded.append(rec)
                seq, prev = rec.seq, rec.hash
            if recorded:
                self._set_head(conn, "events", seq, prev)
            self._write_projection(conn, projection, seq)
            for pd in personal:
                conn.execute(
                    "INSERT OR REPLACE INTO personal_data VALUES (?,?,?,?,?)",
                    (
                        pd.call_id,
                        pd.caller_name,
                        pd.caller_phone,
                        pd.stored_at.isoformat(),
                        pd.expires_at.isoformat(),
                    ),
                )
        return recorded

    def _head(self, conn: sqlite3.Connection, chain: str) -> tuple[int, str]:
        row = conn.execute(f"SELECT seq, hash FROM {chain} ORDER BY seq DESC LIMIT 1").fetchone()  # noqa: S608 - chain is one of two constants
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def _set_head(self, conn: sqlite3.Connection, chain: str, seq: int, h: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"{chain}_head", f"{seq}:{h}"))

    def _write_projection(
        self, conn: sqlite3.Connection, rows: Iterable[ProjectionRow], seq: int
    ) -> None:
        wrote = False
        for kind, ident, body in rows:
            wrote = True
            if body is None:
                conn.execute("DELETE FROM projection WHERE kind = ? AND id = ?", (kind, ident))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO projection VALUES (?,?,?)", (kind, ident, body)
                )
        if wrote:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('projection_seq', ?)", (str(seq),))

    def has_event(self, event_id: EventId) -> bool:
        """Return whether an event id is already in the log."""
        row = self._db.reader().execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone()
        return row is not None

    def events_with_prefix(self, prefix: str) -> list[Recorded]:
        """Return the events whose id starts with `prefix` (one command's output)."""
        rows = self._db.reader().execute(
            "SELECT * FROM events WHERE id >= ? AND id < ? ORDER BY seq",
            (prefix, prefix + "\uffff"),
        )
        return [self._decode(r) for r in rows]

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        """Yield recorded events in log order after `after_seq`."""
        sql = "SELECT * FROM events WHERE seq > ? ORDER BY seq"
        params: tuple[int, ...] = (after_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (after_seq, limit)
        for row in self._db.reader().execute(sql, params):
            yield self._decode(row)

    def stream(self, stream: str) -> list[Recorded]:
        """Return a stream's events and those related to it, in order (a timeline)."""
        rows = self._db.reader().execute(
            "SELECT * FROM events WHERE stream = ? UNION "
            "SELECT e.* FROM event_refs r JOIN events e ON e.seq = r.seq WHERE r.stream = ? "
            "ORDER BY seq",
            (stream, stream),
        )
        return [self._decode(r) for r in rows]

    def events_caused_by(self, cause: str) -> list[Recorded]:
        """Return events whose cause is `cause`."""
        rows = self._db.reader().execute(
            "SELECT * FROM events WHERE cause = ? ORDER BY seq", (cause,)
        )
        return [self._decode(r) for r in rows]

    def last_seq(self) -> int:
        """Return the sequence number of the newest event (0 when empty)."""
        row = self._db.reader().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    @staticmethod
    def _decode(row: sqlite3.Row | tuple[object, ...]) -> Recorded:
        seq, ident, _type, _stream, at, actor, cause, data, prev, h = row
        return Recorded(
            seq=int(str(seq)),
            id=EventId(str(ident)),
            at=datetime.fromisoformat(str(at)),
            actor=str(actor),
            cause=None if cause is None else str(cause),
            event=decode_event(data if isinstance(data, bytes) else str(data)),
            prev_hash=str(prev),
            hash=str(h),
        )

    # ------------------------------------------------------------- projection

    def projection_rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        """Return the persisted projection and the log seq it reflects."""
        conn = self._db.reader()
        row = conn.execute("SELECT value FROM meta WHERE key = 'projection_seq'").fetchone()
        seq = int(row[0]) if row else 0
        rows = conn.execute("SELECT kind, id, body FROM projection ORDER BY kind, id").fetchall()
        return seq, [(str(k), str(i), bytes(b)) for k, i, b in rows]

    def replace_projection(self, rows: Iterable[tuple[str, str, bytes]], seq: int) -> None:
        """Replace every projection row at once (used by `vigil store rebuild`)."""
        with self._db.tx() as conn:
            conn.execute("DELETE FROM projection")
            conn.executemany("INSERT INTO projection VALUES (?,?,?)", rows)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('projection_seq', ?)", (str(seq),))

    def open_near(
        self, kind: str, point: LatLon, radius_m: float, *, statuses: Sequence[str]
    ) -> list[tuple[str, float]]:
        """Return (id, metres) of `kind` records in `statuses` within `radius_m`, nearest first.

        A scan of the kind's rows (SQLite has no spatial index here); distances are
        great-circle metres.
        """
        wanted = set(statuses)
        found: list[tuple[str, float]] = []
        rows = self._db.reader().execute("SELECT id, body FROM projection WHERE kind = ?", (kind,))
        for ident, body in rows:
            try:
                place = _PLACE.decode(bytes(body))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if place.location is None or place.status not in wanted:
                continue
            metres = haversine_m(point, place.location)
            if metres <= radius_m:
                found.append((str(ident), metres))
        return sorted(found, key=lambda f: (f[1], f[0]))

    # ---------------------------------------------------------------- cursors

    def cursor(self, consumer: str) -> int | None:
        """Return the last seq a consumer finished, or None if it never ran."""
        row = (
            self._db.reader()
            .execute("SELECT seq FROM cursors WHERE consumer = ?", (consumer,))
            .fetchone()
        )
        return None if row is None else int(row[0])

    def save_cursor(self, consumer: str, seq: int) -> None:
        """Record that a consumer finished every event up to `seq` (never moves back)."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(consumer) "
                "DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (consumer, seq),
            )

    # ----------------------------------------------------------------- leases

    @staticmethod
    def _lease(conn: sqlite3.Connection, group: str, name: str) -> Lease | None:
        row = conn.execute(
            "SELECT owner, expires, token FROM leases WHERE grp = ? AND name = ?", (group, name)
        ).fetchone()
        if row is None:
            return None
        return Lease(group=group, name=name, owner=row[0], expires=row[1], token=row[2])

    def claim_lease(
        self, group: str, name: str, owner: str, *, now: float, ttl_s: float
    ) -> Lease | None:
        """Take or renew a lease until `now + ttl_s`; None while another owner holds it."""
        with self._db.tx() as conn:
            lease = claimed(
                self._lease(conn, group, name),
                group=group,
                name=name,
                owner=owner,
                now=now,
                ttl_s=ttl_s,
            )
            if lease is not None:
                conn.execute(
                    "INSERT INTO leases VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, name) DO UPDATE "
                    "SET owner = excluded.owner, expires = excluded.expires, "
                    "token = excluded.token",
                    (group, name, owner, lease.expires, lease.token),
                )
            return lease

    def release_lease(self, group: str, name: str, owner: str) -> bool:
        """Give up a lease now if `owner` holds it (the token stays); return whether it did."""
        with self._db.tx() as conn:
            cur = conn.execute(
                "UPDATE leases SET expires = 0 WHERE grp = ? AND name = ? AND owner = ? "
                "AND expires > 0",
                (group, name, owner),
            )
            return cur.rowcount > 0

    def leases(self, group: str) -> list[Lease]:
        """Return every lease of a group (expired ones too), by name."""
        rows = (
            self._db.reader()
            .execute(
                "SELECT name, owner, expires, token FROM leases WHERE grp = ? ORDER BY name",
                (group,),
            )
            .fetchall()
        )
        return [Lease(group=group, name=n, owner=o, expires=e, token=t) for n, o, e, t in rows]

    def save_cursor_fenced(self, consumer: str, seq: int, *, lease: Lease, now: float) -> bool:
        """Save a cursor only while `lease` is still held with its token (one transaction)."""
        with self._db.tx() as conn:
            if not fenced(self._lease(conn, lease.group, lease.name), lease, now):
                return False
            conn.execute(
                "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(consumer) "
                "DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (consumer, seq),
            )
            return True

    # ---------------------------------------------------------- personal data

    def personal(self, call_id: str) -> PersonalData | None:
        """Return a call's personal data, if still held."""
        row = (
            self._db.reader()
            .execute("SELECT * FROM personal_data WHERE call_id = ?", (call_id,))
            .fetchone()
        )
        if row is None:
            return None
        return PersonalData(
            call_id=row[0],
            caller_name=row[1],
            caller_phone=row[2],
            stored_at=datetime.fromisoformat(row[3]),
            expires_at=datetime.fromisoformat(row[4]),
        )

    def purge_personal(self, now: datetime) -> list[str]:
        """Delete personal data whose retention ended; return the call ids purged."""
        with self._db.tx() as conn:
            ids = [
                str(r[0])
                for r in conn.execute(
                    # Instants, not strings: "...T00:00+14:00" sorts after "...T11:00+00:00"
                    # though it is earlier, which delayed purges by up to 14 hours.
                    "SELECT call_id FROM personal_data WHERE julianday(expires_at) <= julianday(?)",
                    (now.isoformat(),),
                )
            ]
            conn.executemany("DELETE FROM personal_data WHERE call_id = ?", [(i,) for i in ids])
        return ids

    # ------------------------------------------------------------------ audit

    def append_audit(
        self, *, at: datetime, actor: str, action: str, subject: str, purpose: str, detail: str
    ) -> AuditEntry:
        """Append one audit entry to its hash chain."""
        with self._db.tx() as conn:
            seq, prev = self._head(conn, "audit")
            seq += 1
            draft = AuditEntry(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                subject=subject,
                purpose=purpose,
                detail=detail,
                prev_hash=prev,
                hash="",
            )
            entry = msgspec.structs.replace(draft, hash=_audit_hash(prev, seq, draft))
            conn.execute(
                "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?)",
                (seq, at.isoformat(), actor, action, subject, purpose, detail, prev, entry.hash),
            )
            self._set_head(conn, "audit", seq, entry.hash)
        return entry

    def audit_entries(
        self, *, subject: str | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, optionally filtered."""
        sql = "SELECT * FROM audit WHERE (? IS NULL OR subject = ?) AND (? IS NULL OR actor = ?)"
        rows = self._db.reader().execute(
            sql + " ORDER BY seq DESC LIMIT ?", (subject, subject, actor, actor, limit)
        )
        return [
            AuditEntry(
                seq=r[0],
                at=datetime.fromisoformat(r[1]),
                actor=r[2],
                action=r[3],
                subject=r[4],
                purpose=r[5],
                detail=r[6],
                prev_hash=r[7],
                hash=r[8],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ users

    def add_user(self, user: UserRecord, pending: Pending) -> None:
        """Store a new user together with the event that records its creation."""
        try:
            self._append_with(
                pending,
                "INSERT INTO users VALUES (?,?,?,?,?)",
                (user.name, user.role, user.password_hash, user.created_at.isoformat(), 1),
            )
        except ConflictError as err:
            raise ConflictError(f"user {user.name!r} already exists", field="name") from err

    def add_token(
        self,
        *,
        token_hash: str,
        user: str,
        label: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> None:
        """Store the hash of an API token."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?)",
                (
                    token_hash,
                    user,
                    label,
                    created_at.isoformat(),
                    expires_at.isoformat() if expires_at else None,
                ),
            )

    def revoke_tokens(self, user: str) -> int:
        """Delete every token of a user; return how many."""
        with self._db.tx() as conn:
            return conn.execute("DELETE FROM tokens WHERE user = ?", (user,)).rowcount

    def user(self, name: str) -> UserRecord | None:
        """Return a user by name."""
        row = self._db.reader().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return self._user(row) if row else None

    def users(self) -> list[UserRecord]:
        """Return every user."""
        return [
            self._user(r) for r in self._db.reader().execute("SELECT * FROM users ORDER BY name")
        ]

    def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """Return the active user owning an unexpired token."""
        row = (
            self._db.reader()
            .execute(
                "SELECT u.* FROM tokens t JOIN users u ON u.name = t.user "
                "WHERE t.hash = ? AND u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (token_hash, now.isoformat()),
            )
            .fetchone()
        )
        return self._user(row) if row else None

    @staticmethod
    def _user(row: tuple[object, ...]) -> UserRecord:
        return UserRecord(
            name=str(row[0]),
            role=str(row[1]),
            password_hash=str(row[2]),
            created_at=datetime.fromisoformat(str(row[3])),
            active=bool(row[4]),
        )

    def _append_with(self, pending: Pending, sql: str, params: tuple[object, ...]) -> Recorded:
        """Append one event and run one more statement in the same transaction."""
        with self._db.tx() as conn:
            seq, prev = self._head(conn, "events")
            conn.execute(sql, params)
            rec = self._write_event(conn, pending, seq + 1, prev)
            self._set_head(conn, "events", rec.seq, rec.hash)
        return rec

    @staticmethod
    def _write_event(conn: sqlite3.Connection, p: Pending, seq: int, prev: str) -> Recorded:
        """Insert one event row (and its timeline refs) chained after `prev`."""
        data = encode_event(p.event)
        h = _event_hash(prev, seq, _row_fields(p, data))
        conn.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seq, *_row_fields(p, data), prev, h),
        )
        conn.executemany(
            "INSERT INTO event_refs VALUES (?, ?)", [(r, seq) for r in p.event.related()]
        )
        return Recorded(
            seq=seq,
            id=p.id,
            at=p.at,
            actor=p.actor,
            cause=p.cause,
            event=p.event,
            prev_hash=prev,
            hash=h,
        )

    # ----------------------------------------------------------------- verify

    def verify(self) -> list[ChainBreak]:
        """Recompute both hash chains; return the first break of each (empty = intact)."""
        conn = self._db.reader()
        found = [
            self._verify_chain(
                conn,
                "events",
                lambda prev, r: _event_hash(prev, r[0], (*r[1:7], _raw(r[7]))),
            ),
            self._verify_chain(conn, "audit", lambda prev, r: link(prev, *r[:7])),
        ]
        return [b for b in found if b is not None]

    def _verify_chain(
        self,
        conn: sqlite3.Connection,
        chain: str,
        rehash: Callable[[str, tuple[Any, ...]], str],
    ) -> ChainBreak | None:
        prev, expected = GENESIS, 1
        for row in conn.execute(f"SELECT * FROM {chain} ORDER BY seq"):  # noqa: S608 - constant
            seq, row_prev, row_hash = int(row[0]), str(row[-2]), str(row[-1])
            if seq != expected:
                reason = f"row {expected} is missing (next is {seq})"
                return ChainBreak(chain=chain, seq=expected, reason=reason)
            if row_prev != prev:
                return ChainBreak(chain=chain, seq=seq, reason="previous-hash link does not match")
            if rehash(prev, row) != row_hash:
                reason = "content does not match its hash (edited)"
                return ChainBreak(chain=chain, seq=seq, reason=reason)
            prev, expected = row_hash, seq + 1
        return self._check_head(conn, chain, expected - 1, prev)

    @staticmethod
    def _check_head(
        conn: sqlite3.Connection, chain: str, last_seq: int, last_hash: str
    ) -> ChainBreak | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"{chain}_head",)).fetchone()
        if row is None:
            if last_seq == 0:
                return None
            return ChainBreak(chain=chain, seq=last_seq, reason="stored chain head is missing")
        head_seq, head_hash = str(row[0]).split(":", 1)
        if int(head_seq) != last_seq or head_hash != last_hash:
            return ChainBreak(
                chain=chain,
                seq=min(int(head_seq), last_seq + 1),
                reason=f"chain ends at {last_seq} but its head says {head_seq}: rows deleted",
            )
        return None
