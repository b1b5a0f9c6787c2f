"""Observation storage on PostgreSQL: the same contract as `ObservationStore`, for many writers.

One `write` is one transaction (observations, dead letters, counters and the
latest value of each device stream), as in the SQLite store, so a message is
acknowledged only after everything it changed committed. The differences are
the ones several processes on one database need:

- observations are partitioned by month of observation time; the writer
  creates a month's partition the first time it sees one (under an advisory
  lock, so writers in several processes do not race), and retention detaches
  or drops whole months;
- idempotency of ids (a device resends) is kept in ``observation_ids``,
  because a partitioned table's unique keys must contain the partition key;
- the whole write is one statement over the batch encoded as one JSON array
  (msgspec, in C; ``json_to_recordset`` on the server), and the server, not
  this process, dedupes, inserts and keeps ``latest`` (newest observation
  time wins, as in SQLite), so the cost per observation on the Vigil side
  stays near SQLite's. (Column arrays were 5–6× dearer here: psycopg adapts
  a Python list to an array literal in Python, escaping element by element.)
  ``json`` (not ``jsonb``) keeps each ``attrs`` object's text as msgspec wrote
  it, so the stored bytes are the same as the SQLite store's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg import sql

from vigil.ingest.model import Observation
from vigil.ingest.parse import Rejection, RejectReason
from vigil.ingest.store import (
    STORED,
    DeadLetter,
    IngestStats,
    LatestValue,
    StoredRow,
    WriteResult,
)
from vigil.store.postgres.database import Database
from vigil.store.postgres.migrations import require_current

_encode = msgspec.json.Encoder().encode
_ATTRS = msgspec.json.Decoder(dict[str, str | float | bool])
_PARTITION_LOCK = 0x76696732  # advisory lock key of partition creation ("vig2")

_WRITE = """
WITH u AS (
    SELECT DISTINCT ON (id)
        id, device_id, stream, value, unit, observed_at, received_at,
        convert_to(NULLIF(attrs::text, '{}'), 'UTF8') AS attrs, ord
    FROM ROWS FROM (json_to_recordset(%s::json) AS (
        id text, device_id text, stream text, value float8, unit text,
        observed_at timestamptz, received_at timestamptz, attrs json
    )) WITH ORDINALITY AS u(id, device_id, stream, value, unit, observed_at, received_at,
                           attrs, ord)
    ORDER BY id, ord
), fresh AS (
    INSERT INTO observation_ids (id, observed_at)
    SELECT id, observed_at FROM u ORDER BY ord
    ON CONFLICT DO NOTHING RETURNING id
), stored AS (
    SELECT u.* FROM u JOIN fresh USING (id)
), ins AS (
    INSERT INTO observations (id, device_id, stream, value, unit, observed_at, received_at, attrs)
    SELECT id, device_id, stream, value, unit, observed_at, received_at, attrs
    FROM stored ORDER BY ord
), newest AS (
    SELECT DISTINCT ON (device_id, stream)
        device_id, stream, value, unit, observed_at, received_at, attrs
    FROM stored ORDER BY device_id, stream, observed_at DESC, ord DESC
), up AS (
    INSERT INTO latest SELECT * FROM newest
    ON CONFLICT (device_id, stream) DO UPDATE
    SET value = excluded.value, unit = excluded.unit, observed_at = excluded.observed_at,
        received_at = excluded.received_at, attrs = excluded.attrs
    WHERE excluded.observed_at >= latest.observed_at
)
SELECT id FROM fresh
"""
_COUNT = (
    "INSERT INTO ingest_counters SELECT * FROM unnest(%s::text[], %s::bigint[]) "
    "ON CONFLICT (name) DO UPDATE SET n = ingest_counters.n + excluded.n"
)
_DEAD = (
    "INSERT INTO dead_letters (at, source, topic, reason, field, detail, device_id, raw) "
    "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::bytea[])"
)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _month(value: datetime) -> tuple[int, int]:
    v = value.astimezone(UTC)
    return v.year, v.month


def _months(lo: tuple[int, int], hi: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    y, m = lo
    while (y, m) <= hi:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


class PostgresObservationStore:
    """Observations, dead letters, counters, latest values and device states on PostgreSQL."""

    def __init__(self, db: Database) -> None:
        """Use a database whose schema is current (else close it and refuse)."""
        self._db = db
        self._partitions: set[tuple[int, int]] = set()
        try:
            with db.connection() as conn:
                require_current(conn, db.url)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        """Close every connection."""
        self._db.close()

    # ------------------------------------------------------------------ write

    def _ensure_partitions(self, observations: Sequence[Observation]) -> None:
        """Create the monthly partitions these observations fall in, once per process."""
        first = min(o.observed_at for o in observations)
        last = max(o.observed_at for o in observations)
        # One month ahead too: the next month's partition exists before its first reading,
        # so creating it (a brief exclusive lock on the parent) does not wait behind writers.
        year, month = _month(last)
        ahead = (year + 1, 1) if month == 12 else (year, month + 1)
        wanted = [m for m in _months(_month(first), ahead) if m not in self._partitions]
        if not wanted:
            return
        with self._db.tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
            for y, m in wanted:
                ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF observations "
                        "FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(f"observations_{y:04d}_{m:02d}"),
                        sql.Literal(datetime(y, m, 1, tzinfo=UTC)),
                        sql.Literal(datetime(ny, nm, 1, tzinfo=UTC)),
                    )
                )
        self._partitions.update(wanted)

    def write(
        self, observations: Sequence[Observation], rejections: Sequence[Rejection], at: datetime
    ) -> WriteResult:
        """Store observations (skipping ids already stored) and dead letters in one transaction."""
        if not observations and not rejections:
            return WriteResult(stored=[], duplicates=[])
        if observations:
            self._ensure_partitions(observations)
        with self._db.tx() as conn:
            fresh: set[str] = set()
            if observations:
                rows = _encode(observations).decode()
                fresh = {str(r[0]) for r in conn.execute(_WRITE, (rows,))}
            stored: list[Observation] = []
            duplicates: list[Observation] = []
            for o in observations:
                if o.id in fresh:
                    fresh.discard(o.id)
                    stored.append(o)
                else:
                    duplicates.append(o)
            self._dead_letters(conn, at, rejections, duplicates)
            counts: dict[str, int] = {}
            if stored:
                counts[STORED] = len(stored)
            for r in rejections:
                counts[r.reason.value] = counts.get(r.reason.value, 0) + 1
            if duplicates:
                counts[RejectReason.DUPLICATE.value] = len(duplicates)
            if counts:
                conn.execute(_COUNT, (list(counts), list(counts.values())))
        return WriteResult(stored=stored, duplicates=duplicates)

    @staticmethod
    def _dead_letters(
        conn: Any,
        at: datetime,
        rejections: Sequence[Rejection],
        duplicates: Sequence[Observation],
    ) -> None:
        letters = [
            (at, r.source, r.topic, r.reason.value, r.field, r.detail, r.device_id, r.raw)
            for r in rejections
        ]
        letters.extend(
            (
                at,
                "store",
                None,
                RejectReason.DUPLICATE.value,
                "id",
                f"observation {o.id} was already stored",
                o.device_id,
                _encode(o),
            )
            for o in duplicates
        )
        if letters:
            conn.execute(_DEAD, [list(col) for col in zip(*letters, strict=True)])

    def flush_latest(self) -> None:
        """Do nothing: latest values are written in each write's transaction here."""

    # ------------------------------------------------------------------- read

    def stats(self) -> IngestStats:
        """Return the stored count and the per-reason counts of everything not stored."""
        counts = {str(k): int(v) for k, v in self._db.rows("SELECT name, n FROM ingest_counters")}
        stored = counts.pop(STORED, 0)
        return IngestStats(stored=stored, by_reason=dict(sorted(counts.items())))

    def count(self) -> int:
        """Return how many observations are stored."""
        row = self._db.one("SELECT COUNT(*) FROM observations")
        return int(row[0]) if row else 0

    def ids(self) -> list[str]:
        """Return every stored observation id (tests and audits)."""
        return [str(r[0]) for r in self._db.rows("SELECT id FROM observations")]

    def purge_dead_letters(self, older_than: datetime) -> int:
        """Delete dead letters kept before `older_than` (an instant); return how many."""
        with self._db.connection() as conn:
            return int(
                conn.execute("DELETE FROM dead_letters WHERE at < %s", (older_than,)).rowcount
            )

    def dead_letters(self, *, reason: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return dead letters, newest first, optionally of one reason."""
        rows = self._db.rows(
            "SELECT seq, at, source, topic, reason, field, detail, device_id, raw "
            "FROM dead_letters WHERE (%(r)s::text IS NULL OR reason = %(r)s) "
            "ORDER BY seq DESC LIMIT %(n)s",
            {"r": reason, "n": limit},
        )
        return [
            DeadLetter(
                seq=int(r[0]),
                at=_utc(r[1]),
                source=str(r[2]),
                topic=r[3],
                reason=str(r[4]),
                field=r[5],
                detail=str(r[6]),
                device_id=r[7],
                raw=bytes(r[8]),
            )
            for r in rows
        ]

    def latest(self, device_id: str | None = None) -> list[LatestValue]:
        """Return the newest value of each stream (of one device, or of all)."""
        rows = self._db.rows(
            "SELECT device_id, stream, value, unit, observed_at, received_at, attrs FROM latest "
            "WHERE (%(d)s::text IS NULL OR device_id = %(d)s) ORDER BY device_id, stream",
            {"d": device_id},
        )
        return [
            LatestValue(
                device_id=str(r[0]),
                stream=str(r[1]),
                value=float(r[2]),
                unit=str(r[3]),
                observed_at=_utc(r[4]),
                received_at=_utc(r[5]),
                attrs=_ATTRS.decode(r[6]) if r[6] else {},
            )
            for r in rows
        ]

    def recent(
        self, device_id: str, *, limit: int = 60, lookback_rows: int = 200_000
    ) -> list[LatestValue]:
        """Return a device's newest readings, newest first (for a sparkline).

        The (device, observation time) index answers it; `lookback_rows` is
        accepted for the SQLite store's signature and bounds nothing here.
        """
        del lookback_rows
        rows = self._db.rows(
            "SELECT device_id, stream, value, unit, observed_at, received_at FROM observations "
            "WHERE device_id = %s ORDER BY observed_at DESC, seq DESC LIMIT %s",
            (device_id, limit),
        )
        return [
            LatestValue(
                device_id=str(r[0]),
                stream=str(r[1]),
                value=float(r[2]),
                unit=str(r[3]),
                observed_at=_utc(r[4]),
                received_at=_utc(r[5]),
                attrs={},
            )
            for r in rows
        ]

    def received_since(
        self, at: datetime, *, lookback_rows: int = 2_000_000, batch: int = 5000
    ) -> Iterator[list[StoredRow]]:
        """Yield the readings received at or after `at`, in commit order, in batches.

        Found by the index on receive time; `lookback_rows` caps how many are read
        (the newest that many), as in the SQLite store.
        """
        with (
            self._db.connection() as conn,
            conn.transaction(),
            conn.cursor(name="received_since") as cur,
        ):
            cur.execute(
                "SELECT seq, id, device_id, stream, value, unit, extract(epoch FROM observed_at),"
                " extract(epoch FROM received_at), attrs FROM ("
                "  SELECT * FROM observations WHERE received_at >= %s"
                "  ORDER BY seq DESC LIMIT %s) newest ORDER BY seq",
                (at, lookback_rows),
            )
            while rows := cur.fetchmany(batch):
                yield [
                    (
                        int(r[0]),
                        str(r[1]),
                        str(r[2]),
                        str(r[3]),
                        float(r[4]),
                        str(r[5]),
                        float(r[6]),
                        float(r[7]),
                        None if r[8] is None else bytes(r[8]),
                    )
                    for r in rows
                ]

    def last_seen(self) -> dict[str, datetime]:
        """Return when each device last had a reading accepted."""
        rows = self._db.rows("SELECT device_id, MAX(received_at) FROM latest GROUP BY device_id")
        return {str(d): _utc(t) for d, t in rows}

    # ---------------------------------------------------------- device state

    def offline_devices(self) -> dict[str, datetime | None]:
        """Return devices currently marked offline and when they were last seen."""
        rows = self._db.rows("SELECT device_id, last_seen FROM device_state WHERE NOT online")
        return {str(d): None if t is None else _utc(t) for d, t in rows}

    def set_device_states(
        self, states: Sequence[tuple[str, bool, datetime, datetime | None]]
    ) -> None:
        """Record (device_id, online, since, last_seen) rows after their events were logged."""
        if not states:
            return
        with self._db.tx() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO device_state VALUES (%s,%s,%s,%s) ON CONFLICT (device_id) DO UPDATE "
                "SET online = excluded.online, since = excluded.since, "
                "last_seen = excluded.last_seen",
                list(states),
            )
