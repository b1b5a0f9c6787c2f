"""Observation storage: its own SQLite file (WAL), written in batched transactions.

Observations are too many for the hash-chained CAD log; they live here with the
dead-letter table (every rejected or duplicate message, raw, with its reason),
the per-reason counters, and the latest value of each device stream. One
`write` is one transaction: observations, dead letters, counters and latest
values are all there after a crash, or none of them is. A message is
acknowledged to its sender only after the transaction holding it committed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from vigil.core.errors import StoreError
from vigil.ingest.model import Observation
from vigil.ingest.parse import Rejection, RejectReason

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
CREATE TABLE IF NOT EXISTS device_state (
    device_id TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    since REAL NOT NULL,
    last_seen REAL
);
"""

STORED = "stored"
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


class ObservationStore:
    """Observations, dead letters, counters, latest values and device states in one file."""

    def __init__(
        self, path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL", cache_mb: int = 64
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._cache_kib = cache_mb * 1024
        self._lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA cache_size=-{self._cache_kib}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot open observation store {self.path}: {err}") from err
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close every connection."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError(f"observation store unavailable: {err}") from err
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise StoreError(f"observation commit failed: {err}") from err

    # ------------------------------------------------------------------ write

    def write(
        self, observations: Sequence[Observation], rejections: Sequence[Rejection], at: datetime
    ) -> WriteResult:
        """Store observations (skipping ids already stored) and dead letters in one transaction."""
        rows = [
            (
                o.id,
                o.device_id,
                o.stream,
                o.value,
                o.unit,
                o.observed_at.timestamp(),
                o.received_at.timestamp(),
                _encode(o.attrs) if o.attrs else None,
            )
            for o in observations
        ]
        at_s = at.timestamp()
        try:
            with self._tx() as conn:
                before = conn.total_changes
                top = conn.execute("SELECT MAX(rowid) FROM observations").fetchone()[0] or 0
                conn.executemany(
                    "INSERT OR IGNORE INTO observations "
                    "(id, device_id, stream, value, unit, observed_at, received_at, attrs) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    rows,
                )
                inserted = conn.total_changes - before
                duplicates: list[Observation] = []
                if inserted == len(rows):
                    stored = list(observations)
                else:
                    stored, duplicates = self._split(conn, observations, top)
                counts: dict[str, int] = {}
                if stored:
                    counts[STORED] = len(stored)
                    self._write_latest(conn, stored)
                letters = [
                    (
                        at_s,
                        r.source,
                        r.topic,
                        r.reason.value,
                        r.field,
                        r.detail,
                        r.device_id,
                        r.raw,
                    )
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
                for r in rejections:
                    counts[r.reason.value] = counts.get(r.reason.value, 0) + 1
                if duplicates:
                    counts[RejectReason.DUPLICATE.value] = len(duplicates)
                conn.executemany(
                    "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = n + ?",
                    [(k, v, v) for k, v in counts.items()],
                )
        except sqlite3.Error as err:
            raise StoreError(f"observation store write failed: {err}") from err
        return WriteResult(stored=stored, duplicates=duplicates)

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

    @staticmethod
    def _write_latest(conn: sqlite3.Connection, stored: Sequence[Observation]) -> None:
        newest: dict[tuple[str, str], Observation] = {}
        for o in stored:
            key = (o.device_id, o.stream)
            cur = newest.get(key)
            if cur is None or o.observed_at >= cur.observed_at:
                newest[key] = o
        conn.executemany(
            "INSERT INTO latest VALUES (?,?,?,?,?,?,?) ON CONFLICT(device_id, stream) DO UPDATE "
            "SET value = excluded.value, unit = excluded.unit, observed_at = excluded.observed_at,"
            " received_at = excluded.received_at, attrs = excluded.attrs "
            "WHERE excluded.observed_at >= latest.observed_at",
            [
                (
                    o.device_id,
                    o.stream,
                    o.value,
                    o.unit,
                    o.observed_at.timestamp(),
                    o.received_at.timestamp(),
                    _encode(o.attrs) if o.attrs else None,
                )
                for o in newest.values()
            ],
        )

    # ------------------------------------------------------------------- read

    def stats(self) -> IngestStats:
        """Return the stored count and the per-reason counts of everything not stored."""
        rows = self._reader().execute("SELECT name, n FROM counters").fetchall()
        counts = {str(k): int(v) for k, v in rows}
        stored = counts.pop(STORED, 0)
        return IngestStats(stored=stored, by_reason=dict(sorted(counts.items())))

    def count(self) -> int:
        """Return how many observations are stored."""
        return int(self._reader().execute("SELECT COUNT(*) FROM observations").fetchone()[0])

    def ids(self) -> list[str]:
        """Return every stored observation id (tests and audits)."""
        return [str(r[0]) for r in self._reader().execute("SELECT id FROM observations")]

    def dead_letters(self, *, reason: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return dead letters, newest first, optionally of one reason."""
        rows = self._reader().execute(
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
        rows = self._reader().execute(
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

    def last_seen(self) -> dict[str, datetime]:
        """Return when each device last had a reading accepted."""
        rows = self._reader().execute(
            "SELECT device_id, MAX(received_at) FROM latest GROUP BY device_id"
        )
        return {str(d): _ts(float(t)) for d, t in rows}

    # ---------------------------------------------------------- device state

    def offline_devices(self) -> dict[str, datetime | None]:
        """Return devices currently marked offline and when they were last seen."""
        rows = self._reader().execute(
            "SELECT device_id, last_seen FROM device_state WHERE online = 0"
        )
        return {str(d): None if t is None else _ts(float(t)) for d, t in rows}

    def set_device_states(
        self, states: Sequence[tuple[str, bool, datetime, datetime | None]]
    ) -> None:
        """Record (device_id, online, since, last_seen) rows after their events were logged."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO device_state VALUES (?,?,?,?)",
                [
                    (d, 1 if online else 0, since.timestamp(), last and last.timestamp())
                    for d, online, since, last in states
                ],
            )
