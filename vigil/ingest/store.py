"""Observation storage: its own SQLite file (WAL), written in batched transactions.

Observations are too many for the hash-chained CAD log; they live here with the
dead-letter table (every rejected or duplicate message, raw, with its reason),
the per-reason counters, and the latest value of each device stream. One
`write` is one transaction: observations, dead letters, counters and latest
values are all there after a crash, or none of them is. A message is
acknowledged to its sender only after the transaction holding it committed.

Latest values are derived data: they are kept in memory and written with the
first transaction at least `latest_flush_s` after the previous flush (and
before any read of them, and on close), together with a watermark, the highest
observation rowid they reflect. Opening the store replays the observations
above the watermark into `latest`, so after a crash the latest values are
exactly those of the stored observations, as if they had been written with
each transaction; under load this writes each busy stream's row about once a
second instead of once per transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import msgspec

from vigil.core.errors import StoreError
from vigil.ingest.model import Observation
from vigil.ingest.parse import Rejection, RejectReason
from vigil.store.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    observed_at REAL NOT NULL,
    received_at REAL NOT NULL,
    attrs BLOB
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    topic TEXT,
    reason TEXT NOT NULL,
    field TEXT,
    detail TEXT NOT NULL,
    device_id TEXT,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters(reason, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS latest (
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    observed_at REAL NOT NULL,
    received_at REAL NOT NULL,
    attrs BLOB,
    PRIMARY KEY (device_id, stream)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS device_state (
    device_id TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    since REAL NOT NULL,
    last_seen REAL
);
"""

STORED = "stored"
LATEST_WATERMARK = "latest_rowid"  # meta: observations up to this rowid are in `latest`
_INSERT_OBS = (
    "INSERT OR IGNORE INTO observations "
    "(id, device_id, stream, value, unit, observed_at, received_at, attrs) "
    "VALUES (?,?,?,?,?,?,?,?)"
)
_UPSERT_LATEST = (
    "INSERT INTO latest VALUES (?,?,?,?,?,?,?) ON CONFLICT(device_id, stream) DO UPDATE "
    "SET value = excluded.value, unit = excluded.unit, observed_at = excluded.observed_at,"
    " received_at = excluded.received_at, attrs = excluded.attrs "
    "WHERE excluded.observed_at >= latest.observed_at"
)
_REPLAY_LATEST = (
    "INSERT INTO latest SELECT device_id, stream, value, unit, observed_at, received_at, attrs "
    "FROM observations WHERE rowid > ? ORDER BY rowid ON CONFLICT(device_id, stream) DO UPDATE "
    "SET value = excluded.value, unit = excluded.unit, observed_at = excluded.observed_at,"
    " received_at = excluded.received_at, attrs = excluded.attrs "
    "WHERE excluded.observed_at >= latest.observed_at"
)
_SET_META = "INSERT INTO meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = excluded.n"
# device_id, stream, value, unit, observed_at, received_at, attrs (as stored in `latest`)
_LatestRow = tuple[str, str, float, str, float, float, bytes | None]
_encode = msgspec.json.Encoder().encode


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one transaction stored; duplicates were counted and dead-lettered."""

    stored: list[Observation]
    duplicates: list[Observation]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A rejected or duplicate message kept for inspection."""

    seq: int
    at: datetime
    source: str
    topic: str | None
    reason: str
    field: str | None
    detail: str
    device_id: str | None
    raw: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LatestValue:
    """The newest reading of one device stream."""

    device_id: str
    stream: str
    value: float
    unit: str
    observed_at: datetime
    received_at: datetime
    attrs: dict[str, str | float | bool]


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counts since the store was created: stored, and not stored per reason."""

    stored: int
    by_reason: dict[str, int]

    @property
    def rejected(self) -> int:
        """Return every message or observation not stored, duplicates included."""
        return sum(self.by_reason.values())


_ATTRS = msgspec.json.Decoder(dict[str, str | float | bool])


class ObservationStorage(Protocol):
    """What ingest needs from observation storage (SQLite here; PostgreSQL in `ingest.postgres`).

    Every adapter passes ``tests/contract/test_observations.py``.
    """

    def write(
        self, observations: Sequence[Observation], rejections: Sequence[Rejection], at: datetime
    ) -> WriteResult:
        """Store observations (skipping ids already stored) and dead letters in one transaction."""
        ...

    def flush_latest(self) -> None:
        """Make every latest value written so far readable by other processes."""
        ...

    def stats(self) -> IngestStats:
        """Return the stored count and the per-reason counts of everything not stored."""
        ...

    def count(self) -> int:
        """Return how many observations are stored."""
        ...

    def ids(self) -> list[str]:
        """Return every stored observation id (tests and audits)."""
        ...

    def purge_dead_letters(self, older_than: datetime) -> int:
        """Delete dead letters kept before `older_than`; return how many."""
        ...

    def dead_letters(self, *, reason: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return dead letters, newest first, optionally of one reason."""
        ...

    def latest(self, device_id: str | None = None) -> list[LatestValue]:
        """Return the newest value of each stream (of one device, or of all)."""
        ...

    def recent(
        self, device_id: str, *, limit: int = 60, lookback_rows: int = 200_000
    ) -> list[LatestValue]:
        """Return a device's newest readings, newest first."""
        ...

    def last_seen(self) -> dict[str, datetime]:
        """Return when each device last had a reading accepted."""
        ...

    def offline_devices(self) -> dict[str, datetime | None]:
        """Return devices currently marked offline and when they were last seen."""
        ...

    def set_device_states(
        self, states: Sequence[tuple[str, bool, datetime, datetime | None]]
    ) -> None:
        """Record (device_id, online, since, last_seen) rows after their events were logged."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...


StoredRow = tuple[int, str, str, str, float, str, float, float, bytes | None]
"""rowid, id, device_id, stream, value, unit, observed_at, received_at (epoch s), attrs JSON."""


@runtime_checkable
class ObservationHistory(Protocol):
    """An observation store that can read back what it committed, in commit order."""

    def received_since(
        self, at: datetime, *, lookback_rows: int = 2_000_000, batch: int = 5000
    ) -> Iterator[list[StoredRow]]:
        """Yield the readings received at or after `at`, in commit order, in batches."""
        ...


class ObservationStore:
    """Observations, dead letters, counters, latest values and device states in one file."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        cache_mb: int = 64,
        latest_flush_s: float = 1.0,
    ) -> None:
        self.path = path
        self._db = SqliteFile(
            path,
            schema=SCHEMA,
            what="observation store",
            synchronous=synchronous,
            cache_kib=cache_mb * 1024,
        )
        self._latest_flush_s = latest_flush_s
        # Latest values not yet in `latest`, and the rowid up to which they are complete.
        self._pending: dict[tuple[str, str], _LatestRow] = {}
        self._top = 0
        self._flushed_at = time.monotonic()
        self._recover_latest()

    def _recover_latest(self) -> None:
        """Bring `latest` up to the stored observations (after a crash, or a new file)."""
        with self._db.tx() as conn:
            top = int(conn.execute("SELECT MAX(rowid) FROM observations").fetchone()[0] or 0)
            row = conn.execute("SELECT n FROM meta WHERE name = ?", (LATEST_WATERMARK,)).fetchone()
            # A file without a watermark was written by a version that upserted `latest`
            # in every transaction: it is complete up to the newest observation.
            mark = top if row is None else int(row[0])
            if mark < top:
                conn.execute(_REPLAY_LATEST, (mark,))
            conn.execute(_SET_META, (LATEST_WATERMARK, top))
        self._top = top

    def close(self) -> None:
        """Write pending latest values, then close every connection."""
        with contextlib.suppress(StoreError):  # else replayed from observations on open
            self.flush_latest()
        self._db.close()

    # ------------------------------------------------------------------ write

    def write(
        self, observations: Sequence[Observation], rejections: Sequence[Rejection], at: datetime
    ) -> WriteResult:
        """Store observations (skipping ids already stored) and dead letters in one transaction."""
        if not observations and not rejections:
            return WriteResult(stored=[], duplicates=[])
        received: dict[int, float] = {}  # one timestamp object per message, usually
        rows = []
        for o in observations:
            got = o.received_at
            r_s = received.get(id(got))
            if r_s is None:
                r_s = received[id(got)] = got.timestamp()
            rows.append(
                (
                    o.id,
                    o.device_id,
                    o.stream,
                    o.value,
                    o.unit,
                    o.observed_at.timestamp(),
                    r_s,
                    _encode(o.attrs) if o.attrs else None,
                )
            )
        at_s = at.timestamp()
        try:
            with self._db.lock:
                with self._db.tx() as conn:
                    before = conn.total_changes
                    top = conn.execute("SELECT MAX(rowid) FROM observations").fetchone()[0] or 0
                    conn.executemany(_INSERT_OBS, rows)
                    inserted = conn.total_changes - before
                    duplicates: list[Observation] = []
                    if inserted == len(rows):
                        stored = list(observations)
                        fresh = _newest(rows)
                    else:
                        stored, duplicates = self._split(conn, observations, top)
                        fresh = _newest(r for r in rows if r[0] in {o.id for o in stored})
                    new_top = top + inserted  # rowids are assigned max + 1, under our lock
                    flush = bool(fresh or self._pending) and (
                        time.monotonic() - self._flushed_at >= self._latest_flush_s
                    )
                    if flush:
                        merged = dict(self._pending)
                        _merge(merged, fresh)
                        conn.executemany(_UPSERT_LATEST, merged.values())
                        conn.execute(_SET_META, (LATEST_WATERMARK, new_top))
                    counts: dict[str, int] = {}
                    if stored:
                        counts[STORED] = len(stored)
                    self._dead_letters(conn, at_s, rejections, duplicates)
                    for r in rejections:
                        counts[r.reason.value] = counts.get(r.reason.value, 0) + 1
                    if duplicates:
                        counts[RejectReason.DUPLICATE.value] = len(duplicates)
                    conn.executemany(
                        "INSERT INTO counters VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET n = n + ?",
                        [(k, v, v) for k, v in counts.items()],
                    )
                # committed: only now does memory follow
                if flush:
                    self._pending.clear()
                    self._flushed_at = time.monotonic()
                else:
                    _merge(self._pending, fresh)
                self._top = new_top
        except sqlite3.Error as err:
            raise StoreError(f"observation store write failed: {err}") from err
        return WriteResult(stored=stored, duplicates=duplicates)

    @staticmethod
    def _dead_letters(
        conn: sqlite3.Connection,
        at_s: float,
        rejections: Sequence[Rejection],
        duplicates: Sequence[Observation],
    ) -> None:
        letters = [
            (at_s, r.source, r.topic, r.reason.value, r.field, r.detail, r.device_id, r.raw)
            for r in rejections
        ]
        letters.extend(
            (
                at_s,
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
            conn.executemany(
                "INSERT INTO dead_letters "
                "(at, source, topic, reason, field, detail, device_id, raw) "
                "VALUES (?,?,?,?,?,?,?,?)",
                letters,
            )

    def flush_latest(self) -> None:
        """Write the latest values held in memory (reads of them call this first)."""
        with self._db.lock:
            if not self._pending:
                return
            try:
                with self._db.tx() as conn:
                    conn.executemany(_UPSERT_LATEST, self._pending.values())
                    conn.execute(_SET_META, (LATEST_WATERMARK, self._top))
            except sqlite3.Error as err:
                raise StoreError(f"observation store write failed: {err}") from err
            self._pending.clear()
            self._flushed_at = time.monotonic()

    @staticmethod
    def _split(
        conn: sqlite3.Connection, observations: Sequence[Observation], top: int
    ) -> tuple[list[Observation], list[Observation]]:
        # Rows this transaction inserted have rowids above the old maximum; the
        # first occurrence of each of those ids is stored, everything else is a duplicate.
        fresh = {
            str(r[0]) for r in conn.execute("SELECT id FROM observations WHERE rowid > ?", (top,))
        }
        stored: list[Observation] = []
        duplicates: list[Observation] = []
        for o in observations:
            if o.id in fresh:
                fresh.discard(o.id)
                stored.append(o)
            else:
                duplicates.append(o)
        return stored, duplicates

    # ------------------------------------------------------------------- read

    def stats(self) -> IngestStats:
        """Return the stored count and the per-reason counts of everything not stored."""
        rows = self._db.reader().execute("SELECT name, n FROM counters").fetchall()
        counts = {str(k): int(v) for k, v in rows}
        stored = counts.pop(STORED, 0)
        return IngestStats(stored=stored, by_reason=dict(sorted(counts.items())))

    def count(self) -> int:
        """Return how many observations are stored."""
        return int(self._db.reader().execute("SELECT COUNT(*) FROM observations").fetchone()[0])

    def ids(self) -> list[str]:
        """Return every stored observation id (tests and audits)."""
        return [str(r[0]) for r in self._db.reader().execute("SELECT id FROM observations")]

    def purge_dead_letters(self, older_than: datetime) -> int:
        """Delete dead letters kept before `older_than` (an instant); return how many."""
        try:
            with self._db.tx() as conn:
                n = conn.execute(
                    "DELETE FROM dead_letters WHERE at < ?", (older_than.timestamp(),)
                ).rowcount
        except sqlite3.Error as err:
            raise StoreError(f"observation store write failed: {err}") from err
        return int(n)

    def dead_letters(self, *, reason: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return dead letters, newest first, optionally of one reason."""
        rows = self._db.reader().execute(
            "SELECT seq, at, source, topic, reason, field, detail, device_id, raw "
            "FROM dead_letters WHERE (? IS NULL OR reason = ?) ORDER BY seq DESC LIMIT ?",
            (reason, reason, limit),
        )
        return [
            DeadLetter(
                seq=int(r[0]),
                at=_ts(float(r[1])),
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
        self.flush_latest()
        rows = self._db.reader().execute(
            "SELECT device_id, stream, value, unit, observed_at, received_at, attrs FROM latest "
            "WHERE (? IS NULL OR device_id = ?) ORDER BY device_id, stream",
            (device_id, device_id),
        )
        return [
            LatestValue(
                device_id=str(r[0]),
                stream=str(r[1]),
                value=float(r[2]),
                unit=str(r[3]),
                observed_at=_ts(float(r[4])),
                received_at=_ts(float(r[5])),
                attrs=_ATTRS.decode(r[6]) if r[6] else {},
            )
            for r in rows
        ]

    def recent(
        self, device_id: str, *, limit: int = 60, lookback_rows: int = 200_000
    ) -> list[LatestValue]:
        """Return a device's newest readings, newest first (for a sparkline).

        Reads back from the newest rows by rowid, at most `lookback_rows` of them, so
        it costs a bounded scan and needs no index on the write path.
        """
        rows = self._db.reader().execute(
            "SELECT device_id, stream, value, unit, observed_at, received_at FROM observations "
            "WHERE rowid > (SELECT COALESCE(MAX(rowid), 0) FROM observations) - ? "
            "AND device_id = ? ORDER BY rowid DESC LIMIT ?",
            (lookback_rows, device_id, limit),
        )
        return [
            LatestValue(
                device_id=str(r[0]),
                stream=str(r[1]),
                value=float(r[2]),
                unit=str(r[3]),
                observed_at=_ts(float(r[4])),
                received_at=_ts(float(r[5])),
                attrs={},
            )
            for r in rows
        ]

    def received_since(
        self, at: datetime, *, lookback_rows: int = 2_000_000, batch: int = 5000
    ) -> Iterator[list[StoredRow]]:
        """Yield the readings received at or after `at`, in commit (rowid) order, in batches.

        Scans back at most `lookback_rows` rows from the newest, so a start-up replay
        costs a bounded read and the write path needs no index on receive time.
        """
        reader = self._db.reader()
        top = int(reader.execute("SELECT COALESCE(MAX(rowid), 0) FROM observations").fetchone()[0])
        rows = reader.execute(
            "SELECT rowid, id, device_id, stream, value, unit, observed_at, received_at, attrs "
            "FROM observations WHERE rowid > ? AND received_at >= ? ORDER BY rowid",
            (max(0, top - lookback_rows), at.timestamp()),
        )
        while chunk := rows.fetchmany(batch):
            yield chunk

    def last_seen(self) -> dict[str, datetime]:
        """Return when each device last had a reading accepted."""
        self.flush_latest()
        rows = self._db.reader().execute(
            "SELECT device_id, MAX(received_at) FROM latest GROUP BY device_id"
        )
        return {str(d): _ts(float(t)) for d, t in rows}

    # ---------------------------------------------------------- device state

    def offline_devices(self) -> dict[str, datetime | None]:
        """Return devices currently marked offline and when they were last seen."""
        rows = self._db.reader().execute(
            "SELECT device_id, last_seen FROM device_state WHERE online = 0"
        )
        return {str(d): None if t is None else _ts(float(t)) for d, t in rows}

    def set_device_states(
        self, states: Sequence[tuple[str, bool, datetime, datetime | None]]
    ) -> None:
        """Record (device_id, online, since, last_seen) rows after their events were logged."""
        with self._db.tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO device_state VALUES (?,?,?,?)",
                [
                    (d, 1 if online else 0, since.timestamp(), last and last.timestamp())
                    for d, online, since, last in states
                ],
            )


def _newest(
    rows: Iterable[tuple[str, str, str, float, str, float, float, bytes | None]],
) -> dict[tuple[str, str], _LatestRow]:
    """Return the newest (by observed_at, later wins ties) row of each device stream."""
    out: dict[tuple[str, str], _LatestRow] = {}
    for _id, device_id, stream, value, unit, observed, received, attrs in rows:
        key = (device_id, stream)
        cur = out.get(key)
        if cur is None or observed >= cur[4]:
            out[key] = (device_id, stream, value, unit, observed, received, attrs)
    return out


def _merge(
    into: dict[tuple[str, str], _LatestRow], fresh: dict[tuple[str, str], _LatestRow]
) -> None:
    """Merge newer rows into `into` (the same rule as the upsert's WHERE)."""
    for key, row in fresh.items():
        cur = into.get(key)
        if cur is None or row[4] >= cur[4]:
            into[key] = row
