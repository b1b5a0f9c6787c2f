"""PostgreSQL/PostGIS adapter of every store port (`vigil.store.ports.Store`).

Same semantics as the SQLite adapter, for several processes at once:

- one append is one transaction holding the events, their hash-chain links,
  the projection rows and personal data; appends from every process queue on
  the row lock of the chain's head (``chain_heads``), so sequence numbers are
  gapless and commit in order, and a reader never sees seq n+1 before n;
- both chains hash exactly as the SQLite adapter's (`vigil.store.chain.link`
  over the same fields, times as the same ISO text), so ``vigil audit verify``
  and signed checkpoints mean the same on either;
- projection rows carry the record's position as PostGIS geography with a
  GiST index (`open_near`).

The schema is created by ``vigil db upgrade`` (`migrations`); opening a store
on an older or newer schema is refused with the command to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, LiteralString

import msgspec
import psycopg

from vigil.core.errors import ConflictError, StoreError
from vigil.core.events import Pending, Recorded, decode_event, encode_event
from vigil.core.geometry import LatLon
from vigil.core.ids import EventId
from vigil.store.chain import GENESIS, link
from vigil.store.leases import claimed, fenced
from vigil.store.ports import Expectation, Lease, ProjectionRow
from vigil.store.postgres.database import Database
from vigil.store.postgres.migrations import require_current
from vigil.store.records import AuditEntry, ChainBreak, PersonalData, UserRecord

Conn = psycopg.Connection[tuple[Any, ...]]
_EVENT_COLUMNS: LiteralString = "seq, id, type, stream, at, actor, cause, data, prev_hash, hash"
_READ_PAGE = 2000


class _Place(msgspec.Struct):
    """The part of a projection body the spatial index needs (the rest is ignored)."""

    location: LatLon | None = None
    status: str | None = None


_PLACE = msgspec.json.Decoder(_Place)


def _place(body: bytes) -> tuple[str | None, float | None, float | None]:
    try:
        p = _PLACE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None, None, None
    if p.location is None:
        return p.status, None, None
    return p.status, p.location.lat, p.location.lon


def _event_hash(prev: str, seq: int, fields: tuple[str | bytes | None, ...]) -> str:
    """Hash a log row: (id, type, stream, at, actor, cause, data) after `prev` (as SQLite)."""
    return link(prev, seq, *fields)


def _row_fields(p: Pending, data: bytes) -> tuple[str | bytes | None, ...]:
    return (p.id, p.event.type_name(), p.event.stream(), p.at.isoformat(), p.actor, p.cause, data)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check(conn: Conn, expect: Expectation) -> None:
    """Raise WriteConflictError if an event after `expect.after_seq` breaks `expect`.

    Each probe is a range scan of an index ((stream, seq) of events and of
    event_refs, (type, seq) of events) stopped at the first row.
    """
    after = expect.after_seq
    probes: list[tuple[LiteralString, list[str]]] = []
    if expect.streams:
        streams = sorted(expect.streams)
        probes += [
            ("SELECT seq, stream FROM events WHERE stream = ANY(%s) AND seq > %s", streams),
            ("SELECT seq, stream FROM event_refs WHERE stream = ANY(%s) AND seq > %s", streams),
        ]
    if expect.types:
        probes.append(
            ("SELECT seq, type FROM events WHERE type = ANY(%s) AND seq > %s", sorted(expect.types))
        )
    for sql, values in probes:
        row = conn.execute(sql + " LIMIT 1", (values, after)).fetchone()
        if row is not None:
            raise expect.broken_by(int(row[0]), str(row[1]))


class PostgresStore:
    """The PostgreSQL adapter of every store port, over one pooled database."""

    def __init__(self, db: Database) -> None:
        """Use a database whose schema is current (else close it and refuse)."""
        self._db = db
        try:
            with db.connection() as conn:
                require_current(conn, db.url)
        except BaseException:
            db.close()
            raise

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
        is checked after taking the chain head's row lock, which every append
        of every process takes first: nothing is appended between the check and
        this transaction's commit, and (READ COMMITTED) the check's statements
        see every append committed before the lock was granted.
        """
        recorded: list[Recorded] = []
        rows = list(projection)
        people = list(personal)
        with self._db.tx() as conn:
            seq, prev = self._lock_head(conn, "events")
            if expect is not None and seq > expect.after_seq:
                _check(conn, expect)
            fresh = self._unseen(conn, batch)
            if expect is not None and len(fresh) < len(batch):
                kept = {p.id for p in fresh}
                seen = next(p.id for p in batch if p.id not in kept)
                raise expect.broken_by(None, f"event {seen}")
            if fresh:
                recorded = self._write_events(conn, fresh, seq, prev)
                seq, prev = recorded[-1].seq, recorded[-1].hash
                self._set_head(conn, "events", seq, prev)
            self._write_projection(conn, rows, seq)
            if people:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO personal_data VALUES (%s,%s,%s,%s,%s) "
                        "ON CONFLICT (call_id) DO UPDATE SET caller_name = excluded.caller_name,"
                        " caller_phone = excluded.caller_phone, stored_at = excluded.stored_at,"
                        " expires_at = excluded.expires_at",
                        [
                            (
                                pd.call_id,
                                pd.caller_name,
                                pd.caller_phone,
                                pd.stored_at,
                                pd.expires_at,
                            )
                            for pd in people
                        ],
                    )
        return recorded

    @staticmethod
    def _unseen(conn: Conn, batch: Sequence[Pending]) -> list[Pending]:
        """Return the batch without ids already logged (or repeated earlier in the batch)."""
        if not batch:
            return []
        logged = {
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM events WHERE id = ANY(%s)", ([p.id for p in batch],)
            )
        }
        out: list[Pending] = []
        for p in batch:
            if p.id not in logged:
                logged.add(p.id)
                out.append(p)
        return out

    @staticmethod
    def _lock_head(conn: Conn, chain: LiteralString) -> tuple[int, str]:
        """Take the chain's head row lock (appends from every process queue here)."""
        row = conn.execute(
            "SELECT seq, hash FROM chain_heads WHERE chain = %s FOR UPDATE", (chain,)
        ).fetchone()
        if row is None:
            raise StoreError(f"the {chain} chain head is missing: the schema was damaged")
        return int(row[0]), str(row[1])

    @staticmethod
    def _set_head(conn: Conn, chain: LiteralString, seq: int, h: str) -> None:
        conn.execute("UPDATE chain_heads SET seq = %s, hash = %s WHERE chain = %s", (seq, h, chain))

    @staticmethod
    def _write_events(conn: Conn, batch: Sequence[Pending], seq: int, prev: str) -> list[Recorded]:
        """Insert event rows (and their timeline refs) chained after `prev`."""
        recorded: list[Recorded] = []
        rows: list[tuple[object, ...]] = []
        refs: list[tuple[str, int]] = []
        for p in batch:
            seq += 1
            data = encode_event(p.event)
            fields = _row_fields(p, data)
            h = _event_hash(prev, seq, fields)
            rows.append((seq, *fields, prev, h))
            refs.extend((r, seq) for r in p.event.related())
            recorded.append(
                Recorded(
                    seq=seq,
                    id=p.id,
                    at=p.at,
                    actor=p.actor,
                    cause=p.cause,
                    event=p.event,
                    prev_hash=prev,
                    hash=h,
                )
            )
            prev = h
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO events VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
            if refs:
                cur.executemany(
                    "INSERT INTO event_refs VALUES (%s, %s) ON CONFLICT DO NOTHING", refs
                )
        return recorded

    @staticmethod
    def _write_projection(conn: Conn, rows: Sequence[ProjectionRow], seq: int) -> None:
        if not rows:
            return
        gone = [(kind, ident) for kind, ident, body in rows if body is None]
        kept: dict[tuple[str, str], bytes] = {}
        for kind, ident, body in rows:
            if body is None:
                kept.pop((kind, ident), None)
            else:
                kept[(kind, ident)] = body
        with conn.cursor() as cur:
            if gone:
                cur.executemany("DELETE FROM projection WHERE kind = %s AND id = %s", gone)
            if kept:
                cur.executemany(
                    "INSERT INTO projection (kind, id, body, status, lat, lon) "
                    "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (kind, id) DO UPDATE SET "
                    "body = excluded.body, status = excluded.status, lat = excluded.lat, "
                    "lon = excluded.lon",
                    [(k, i, b, *_place(b)) for (k, i), b in kept.items()],
                )
        conn.execute(
            "INSERT INTO meta VALUES ('projection_seq', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(seq),),
        )

    def has_event(self, event_id: EventId) -> bool:
        """Return whether an event id is already in the log."""
        return self._db.one("SELECT 1 FROM events WHERE id = %s", (event_id,)) is not None

    def events_with_prefix(self, prefix: str) -> list[Recorded]:
        """Return the events whose id starts with `prefix` (one command's output)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE id LIKE %s ORDER BY seq",  # noqa: S608 - constant columns
            (escaped + "%",),
        )
        return [self._decode(r) for r in rows]

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        """Yield recorded events in log order after `after_seq` (read a page at a time)."""
        left = limit
        while left is None or left > 0:
            page = _READ_PAGE if left is None else min(left, _READ_PAGE)
            rows = self._db.rows(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > %s ORDER BY seq LIMIT %s",  # noqa: S608 - constant columns
                (after_seq, page),
            )
            for row in rows:
                yield self._decode(row)
            if len(rows) < page:
                return
            after_seq = int(rows[-1][0])
            if left is not None:
                left -= len(rows)

    def stream(self, stream: str) -> list[Recorded]:
        """Return a stream's events and those related to it, in order (a timeline)."""
        rows = self._db.rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream = %s UNION "  # noqa: S608 - constant columns
            "SELECT e.seq, e.id, e.type, e.stream, e.at, e.actor, e.cause, e.data, e.prev_hash, "
            "e.hash FROM event_refs r JOIN events e ON e.seq = r.seq WHERE r.stream = %s "
            "ORDER BY seq",
            (stream, stream),
        )
        return [self._decode(r) for r in rows]

    def events_caused_by(self, cause: str) -> list[Recorded]:
        """Return events whose cause is `cause`."""
        rows = self._db.rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE cause = %s ORDER BY seq",  # noqa: S608 - constant columns
            (cause,),
        )
        return [self._decode(r) for r in rows]

    def last_seq(self) -> int:
        """Return the sequence number of the newest event (0 when empty)."""
        row = self._db.one("SELECT MAX(seq) FROM events")
        return int(row[0] or 0) if row else 0

    @staticmethod
    def _decode(row: tuple[Any, ...]) -> Recorded:
        seq, ident, _type, _stream, at, actor, cause, data, prev, h = row
        return Recorded(
            seq=int(seq),
            id=EventId(str(ident)),
            at=datetime.fromisoformat(str(at)),
            actor=str(actor),
            cause=None if cause is None else str(cause),
            event=decode_event(bytes(data)),
            prev_hash=str(prev),
            hash=str(h),
        )

    # ------------------------------------------------------------- projection

    def projection_rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        """Return the persisted projection and the log seq it reflects (one snapshot)."""
        with self._db.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute("SELECT value FROM meta WHERE key = 'projection_seq'").fetchone()
            rows = conn.execute(
                "SELECT kind, id, body FROM projection ORDER BY kind, id"
            ).fetchall()
        seq = int(row[0]) if row else 0
        return seq, [(str(k), str(i), bytes(b)) for k, i, b in rows]

    def replace_projection(self, rows: Iterable[tuple[str, str, bytes]], seq: int) -> None:
        """Replace every projection row at once (used by `vigil store rebuild`)."""
        with self._db.tx() as conn:
            conn.execute("DELETE FROM projection")
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO projection (kind, id, body, status, lat, lon) "
                    "VALUES (%s,%s,%s,%s,%s,%s)",
                    [(k, i, b, *_place(b)) for k, i, b in rows],
                )
            conn.execute(
                "INSERT INTO meta VALUES ('projection_seq', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(seq),),
            )

    def open_near(
        self, kind: str, point: LatLon, radius_m: float, *, statuses: Sequence[str]
    ) -> list[tuple[str, float]]:
        """Return (id, metres) of `kind` records in `statuses` within `radius_m`, nearest first.

        Answered by the GiST index on the projection's geography (ST_DWithin),
        so its cost follows the records near the point, not all records.
        """
        rows = self._db.rows(
            "WITH q AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS p) "
            "SELECT id, ST_Distance(geom, q.p) AS m FROM projection, q "
            "WHERE kind = %s AND status = ANY(%s) AND ST_DWithin(geom, q.p, %s) "
            "ORDER BY m, id",
            (point.lon, point.lat, kind, list(statuses), radius_m),
        )
        return [(str(i), float(m)) for i, m in rows]

    # ---------------------------------------------------------------- cursors

    def cursor(self, consumer: str) -> int | None:
        """Return the last seq a consumer finished, or None if it never ran."""
        row = self._db.one("SELECT seq FROM cursors WHERE consumer = %s", (consumer,))
        return None if row is None else int(row[0])

    def save_cursor(self, consumer: str, seq: int) -> None:
        """Record that a consumer finished every event up to `seq` (never moves back)."""
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO cursors VALUES (%s, %s) ON CONFLICT (consumer) "
                "DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq)",
                (consumer, seq),
            )

    # ----------------------------------------------------------------- leases

    @staticmethod
    def _lease(
        conn: psycopg.Connection[tuple[Any, ...]], group: str, name: str, *, lock: bool
    ) -> Lease | None:
        sql: LiteralString = "SELECT owner, expires, token FROM leases WHERE grp = %s AND name = %s"
        row = conn.execute(sql + (" FOR UPDATE" if lock else ""), (group, name)).fetchone()
        if row is None:
            return None
        return Lease(group=group, name=name, owner=row[0], expires=float(row[1]), token=row[2])

    def claim_lease(
        self, group: str, name: str, owner: str, *, now: float, ttl_s: float
    ) -> Lease | None:
        """Take or renew a lease until `now + ttl_s`; None while another owner holds it."""
        with self._db.tx() as conn:
            # A first claim inserts the row; two first claims at once: one waits on the other.
            conn.execute(
                "INSERT INTO leases VALUES (%s, %s, '', 0, 0) ON CONFLICT DO NOTHING",
                (group, name),
            )
            held = self._lease(conn, group, name, lock=True)
            lease = claimed(
                None if held is not None and held.token == 0 else held,
                group=group,
                name=name,
                owner=owner,
                now=now,
                ttl_s=ttl_s,
            )
            if lease is not None:
                conn.execute(
                    "UPDATE leases SET owner = %s, expires = %s, token = %s "
                    "WHERE grp = %s AND name = %s",
                    (owner, lease.expires, lease.token, group, name),
                )
            return lease

    def release_lease(self, group: str, name: str, owner: str) -> bool:
        """Give up a lease now if `owner` holds it (the token stays); return whether it did."""
        with self._db.connection() as conn:
            cur = conn.execute(
                "UPDATE leases SET expires = 0 WHERE grp = %s AND name = %s AND owner = %s "
                "AND expires > 0",
                (group, name, owner),
            )
            return cur.rowcount > 0

    def leases(self, group: str) -> list[Lease]:
        """Return every lease of a group (expired ones too), by name."""
        rows = self._db.rows(
            "SELECT name, owner, expires, token FROM leases WHERE grp = %s AND token > 0 "
            "ORDER BY name",
            (group,),
        )
        return [
            Lease(group=group, name=n, owner=o, expires=float(e), token=t) for n, o, e, t in rows
        ]

    def save_cursor_fenced(self, consumer: str, seq: int, *, lease: Lease, now: float) -> bool:
        """Save a cursor only while `lease` is still held with its token (one transaction)."""
        with self._db.tx() as conn:
            # FOR SHARE: a claim by another worker waits until this save has committed.
            row = conn.execute(
                "SELECT owner, expires, token FROM leases WHERE grp = %s AND name = %s FOR SHARE",
                (lease.group, lease.name),
            ).fetchone()
            held = (
                None
                if row is None
                else Lease(
                    group=lease.group,
                    name=lease.name,
                    owner=row[0],
                    expires=float(row[1]),
                    token=row[2],
                )
            )
            if not fenced(held, lease, now):
                return False
            conn.execute(
                "INSERT INTO cursors VALUES (%s, %s) ON CONFLICT (consumer) "
                "DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq)",
                (consumer, seq),
            )
            return True

    # ---------------------------------------------------------- personal data

    def personal(self, call_id: str) -> PersonalData | None:
        """Return a call's personal data, if still held."""
        row = self._db.one(
            "SELECT call_id, caller_name, caller_phone, stored_at, expires_at "
            "FROM personal_data WHERE call_id = %s",
            (call_id,),
        )
        if row is None:
            return None
        return PersonalData(
            call_id=row[0],
            caller_name=row[1],
            caller_phone=row[2],
            stored_at=_utc(row[3]),
            expires_at=_utc(row[4]),
        )

    def purge_personal(self, now: datetime) -> list[str]:
        """Delete personal data whose retention ended; return the call ids purged."""
        with self._db.tx() as conn:
            rows = conn.execute(
                "DELETE FROM personal_data WHERE expires_at <= %s RETURNING call_id", (now,)
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ audit

    def append_audit(
        self, *, at: datetime, actor: str, action: str, subject: str, purpose: str, detail: str
    ) -> AuditEntry:
        """Append one audit entry to its hash chain."""
        with self._db.tx() as conn:
            seq, prev = self._lock_head(conn, "audit")
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
            h = link(prev, seq, at.isoformat(), actor, action, subject, purpose, detail)
            entry = msgspec.structs.replace(draft, hash=h)
            conn.execute(
                "INSERT INTO audit VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (seq, at.isoformat(), actor, action, subject, purpose, detail, prev, h),
            )
            self._set_head(conn, "audit", seq, h)
        return entry

    def audit_entries(
        self, *, subject: str | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, optionally filtered."""
        rows = self._db.rows(
            "SELECT seq, at, actor, action, subject, purpose, detail, prev_hash, hash FROM audit "
            "WHERE (%(s)s::text IS NULL OR subject = %(s)s) "
            "AND (%(a)s::text IS NULL OR actor = %(a)s) ORDER BY seq DESC LIMIT %(n)s",
            {"s": subject, "a": actor, "n": limit},
        )
        return [
            AuditEntry(
                seq=int(r[0]),
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
            with self._db.tx() as conn:
                seq, prev = self._lock_head(conn, "events")
                conn.execute(
                    "INSERT INTO users VALUES (%s,%s,%s,%s,%s)",
                    (user.name, user.role, user.password_hash, user.created_at, True),
                )
                rec = self._write_events(conn, [pending], seq, prev)[0]
                self._set_head(conn, "events", rec.seq, rec.hash)
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
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO tokens VALUES (%s,%s,%s,%s,%s)",
                (token_hash, user, label, created_at, expires_at),
            )

    def revoke_tokens(self, user: str) -> int:
        """Delete every token of a user; return how many."""
        with self._db.connection() as conn:
            return conn.execute('DELETE FROM tokens WHERE "user" = %s', (user,)).rowcount

    def user(self, name: str) -> UserRecord | None:
        """Return a user by name."""
        row = self._db.one(
            "SELECT name, role, password_hash, created_at, active FROM users WHERE name = %s",
            (name,),
        )
        return self._user(row) if row else None

    def users(self) -> list[UserRecord]:
        """Return every user."""
        rows = self._db.rows(
            "SELECT name, role, password_hash, created_at, active FROM users ORDER BY name"
        )
        return [self._user(r) for r in rows]

    def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """Return the active user owning an unexpired token."""
        row = self._db.one(
            "SELECT u.name, u.role, u.password_hash, u.created_at, u.active "
            'FROM tokens t JOIN users u ON u.name = t."user" '
            "WHERE t.hash = %s AND u.active AND (t.expires_at IS NULL OR t.expires_at > %s)",
            (token_hash, now),
        )
        return self._user(row) if row else None

    @staticmethod
    def _user(row: tuple[Any, ...]) -> UserRecord:
        return UserRecord(
            name=str(row[0]),
            role=str(row[1]),
            password_hash=str(row[2]),
            created_at=_utc(row[3]),
            active=bool(row[4]),
        )

    # ----------------------------------------------------------------- verify

    def verify(self) -> list[ChainBreak]:
        """Recompute both hash chains; return the first break of each (empty = intact)."""
        with self._db.connection() as conn, conn.transaction():
            # One snapshot: rows appended meanwhile by another process do not
            # look like a head that disagrees with its chain.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            found = [
                self._verify_chain(
                    conn,
                    "events",
                    f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq",  # noqa: S608 - constant
                    lambda prev, r: _event_hash(prev, r[0], (*r[1:7], bytes(r[7]))),
                ),
                self._verify_chain(
                    conn,
                    "audit",
                    "SELECT seq, at, actor, action, subject, purpose, detail, prev_hash, hash "
                    "FROM audit ORDER BY seq",
                    lambda prev, r: link(prev, *r[:7]),
                ),
            ]
        return [b for b in found if b is not None]

    @staticmethod
    def _verify_chain(
        conn: Conn,
        chain: LiteralString,
        sql: LiteralString,
        rehash: Callable[[str, tuple[Any, ...]], str],
    ) -> ChainBreak | None:
        prev, expected = GENESIS, 1
        with conn.cursor(name=f"verify_{chain}") as cur:  # server-side: the log may be large
            cur.itersize = 5000
            cur.execute(sql)
            for row in cur:
                seq, row_prev, row_hash = int(row[0]), str(row[-2]), str(row[-1])
                if seq != expected:
                    reason = f"row {expected} is missing (next is {seq})"
                    return ChainBreak(chain=chain, seq=expected, reason=reason)
                if row_prev != prev:
                    return ChainBreak(
                        chain=chain, seq=seq, reason="previous-hash link does not match"
                    )
                if rehash(prev, (int(row[0]), *row[1:])) != row_hash:
                    reason = "content does not match its hash (edited)"
                    return ChainBreak(chain=chain, seq=seq, reason=reason)
                prev, expected = row_hash, seq + 1
        return _check_head(conn, chain, expected - 1, prev)


def _check_head(
    conn: Conn, chain: LiteralString, last_seq: int, last_hash: str
) -> ChainBreak | None:
    """Compare the stored head of a chain with its last row (a cut tail shows here)."""
    head = conn.execute("SELECT seq, hash FROM chain_heads WHERE chain = %s", (chain,)).fetchone()
    if head is None:
        if last_seq == 0:
            return None
        return ChainBreak(chain=chain, seq=last_seq, reason="stored chain head is missing")
    head_seq, head_hash = int(head[0]), str(head[1])
    if head_seq != last_seq or (last_seq and head_hash != last_hash):
        return ChainBreak(
            chain=chain,
            seq=min(head_seq, last_seq + 1),
            reason=f"chain ends at {last_seq} but its head says {head_seq}: rows deleted",
        )
    return None
