"""Versioned schema migrations of the PostgreSQL store, applied by ``vigil db upgrade``.

Each migration is applied once, in order, in its own transaction, and
recorded in ``vigil_schema``; concurrent upgrades (two hosts at once) wait on
one advisory lock. The running code needs exactly `HEAD`: `require_current`
refuses to start on an older schema (run ``vigil db upgrade``) or a newer one
(this code is older than the database).

Never edit a released migration; add the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
import psycopg.errors

from vigil.core.errors import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change."""

    version: int
    description: str
    sql: LiteralString


# Texts hashed into the chains (event ids, times as ISO text, actors) are kept as
# text exactly as the SQLite adapter keeps them, so both chains hash alike and
# `vigil audit verify` recomputes the same links. Identifiers use the "C"
# collation: byte order, so prefix and range scans mean what they say.
_CORE: LiteralString = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE events (
    seq bigint PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    type text NOT NULL,
    stream text COLLATE "C" NOT NULL,
    at text NOT NULL,
    actor text NOT NULL,
    cause text COLLATE "C",
    data bytea NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX events_stream ON events (stream, seq);
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_cause ON events (cause) WHERE cause IS NOT NULL;
CREATE TABLE event_refs (
    stream text COLLATE "C" NOT NULL,
    seq bigint NOT NULL REFERENCES events (seq),
    PRIMARY KEY (stream, seq)
);
-- The stored head of each hash chain: its row lock serialises appends across
-- processes, and verification compares it with the last row (a cut tail).
CREATE TABLE chain_heads (
    chain text PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO chain_heads VALUES ('events', 0, repeat('0', 64)), ('audit', 0, repeat('0', 64));
-- Current state. `geom` is derived from the body's location so the map's
-- questions ("open incidents within 500 m", "units in this zone") are answered
-- by a spatial index, not by reading every row.
CREATE TABLE projection (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    body bytea NOT NULL,
    status text,
    lat double precision,
    lon double precision,
    geom geography(Point, 4326) GENERATED ALWAYS AS (
        CASE WHEN lat IS NULL OR lon IS NULL THEN NULL
        ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography END
    ) STORED,
    PRIMARY KEY (kind, id)
);
CREATE INDEX projection_geom ON projection USING gist (geom);
CREATE INDEX projection_kind_status ON projection (kind, status);
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE personal_data (
    call_id text COLLATE "C" PRIMARY KEY,
    caller_name text,
    caller_phone text,
    stored_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX personal_data_expires ON personal_data (expires_at);
CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    at text NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    subject text NOT NULL,
    purpose text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE TABLE users (
    name text COLLATE "C" PRIMARY KEY,
    role text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    active boolean NOT NULL DEFAULT true
);
CREATE TABLE tokens (
    hash text PRIMARY KEY,
    "user" text COLLATE "C" NOT NULL REFERENCES users (name),
    label text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX tokens_user ON tokens ("user");
CREATE TABLE cursors (consumer text PRIMARY KEY, seq bigint NOT NULL);
"""

# Observations, partitioned by month of observation time (partitions are
# created on demand by the writer; old months are detached or dropped whole).
# A partitioned table's unique keys must hold the partition key, so the
# idempotency of ids (a device resends) is kept by `observation_ids`.
_OBSERVATIONS: LiteralString = """
CREATE TABLE observation_ids (
    id text COLLATE "C" PRIMARY KEY,
    observed_at timestamptz NOT NULL
);
CREATE TABLE observations (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    id text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    stream text NOT NULL,
    value double precision NOT NULL,
    unit text NOT NULL,
    observed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    attrs bytea
) PARTITION BY RANGE (observed_at);
CREATE INDEX observations_device ON observations (device_id, observed_at);
CREATE TABLE dead_letters (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    source text NOT NULL,
    topic text,
    reason text NOT NULL,
    field text,
    detail text NOT NULL,
    device_id text,
    raw bytea NOT NULL
);
CREATE INDEX dead_letters_reason ON dead_letters (reason, seq);
CREATE INDEX dead_letters_at ON dead_letters (at);
CREATE TABLE ingest_counters (name text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE latest (
    device_id text COLLATE "C" NOT NULL,
    stream text COLLATE "C" NOT NULL,
    value double precision NOT NULL,
    unit text NOT NULL,
    observed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    attrs bytea,
    PRIMARY KEY (device_id, stream)
);
CREATE TABLE device_state (
    device_id text COLLATE "C" PRIMARY KEY,
    online boolean NOT NULL,
    since timestamptz NOT NULL,
    last_seen timestamptz
);
"""

_SIDE: LiteralString = """
CREATE TABLE cap_dead_letters (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at text NOT NULL,
    source text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    raw bytea NOT NULL
);
CREATE TABLE cap_counters (
    source text NOT NULL,
    reason text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (source, reason)
);
"""

_PHOTOS: LiteralString = """
CREATE TABLE report_photos (
    report_id text COLLATE "C" PRIMARY KEY,
    jpeg bytea NOT NULL,
    at timestamptz NOT NULL
);
"""

_REPORT_LIMITS: LiteralString = """
CREATE TABLE report_client_hits (
    key text COLLATE "C" NOT NULL,
    at double precision NOT NULL
);
CREATE INDEX report_client_hits_key ON report_client_hits (key, at);
CREATE TABLE report_limit_secret (
    id integer PRIMARY KEY CHECK (id = 1),
    value bytea NOT NULL
);
"""

# The rules refill their windows at start-up from the readings received since then.
_RECEIVED: LiteralString = """
CREATE INDEX observations_received ON observations (received_at);
"""

_LEASES: LiteralString = """
CREATE TABLE leases (
    grp text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    owner text COLLATE "C" NOT NULL,
    expires double precision NOT NULL,
    token bigint NOT NULL,
    PRIMARY KEY (grp, name)
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "event log, chains, projection with PostGIS geometry, personal data, audit, accounts",
        _CORE,
    ),
    Migration(2, "observations partitioned by month, dead letters, latest values", _OBSERVATIONS),
    Migration(3, "CAP-in dead letters and counters", _SIDE),
    Migration(4, "citizen-report photos", _PHOTOS),
    Migration(
        5, "citizen-report rate-limit hits (keyed client hashes) and their key", _REPORT_LIMITS
    ),
    Migration(
        6, "observations indexed by receive time (start-up replay of rule windows)", _RECEIVED
    ),
    Migration(7, "worker leases: partition ownership and membership, fencing tokens", _LEASES),
)
HEAD = MIGRATIONS[-1].version
_LOCK = 0x76696731  # advisory lock key of schema changes ("vig1")


def current_version(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    """Return the schema version of a database (0: never upgraded)."""
    row = conn.execute("SELECT to_regclass('vigil_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT COALESCE(MAX(version), 0) FROM vigil_schema").fetchone()
    return int(got[0]) if got else 0


def applied(conn: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[int, str, str]]:
    """Return (version, description, applied at) of every applied migration."""
    if current_version(conn) == 0:
        return []
    rows = conn.execute(
        "SELECT version, description, applied_at::text FROM vigil_schema ORDER BY version"
    ).fetchall()
    return [(int(v), str(d), str(a)) for v, d, a in rows]


def upgrade(conn: psycopg.Connection[tuple[Any, ...]], *, to: int = HEAD) -> list[Migration]:
    """Apply every migration above the database's version up to `to`; return those applied."""
    done: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vigil_schema (version integer PRIMARY KEY, "
            "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        have = current_version(conn)
        for m in MIGRATIONS:
            if have < m.version <= to:
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO vigil_schema (version, description) VALUES (%s, %s)",
                        (m.version, m.description),
                    )
                done.append(m)
    return done


def require_current(conn: psycopg.Connection[tuple[Any, ...]], url: str) -> None:
    """Refuse a database whose schema is not the one this code needs."""
    have = current_version(conn)
    where = _redacted(url)
    if have < HEAD:
        raise StoreError(
            f"the PostgreSQL schema of {where} is at version {have}, this Vigil needs {HEAD}: "
            "run `vigil db upgrade` (back up first) and start again"
        )
    if have > HEAD:
        raise StoreError(
            f"the PostgreSQL schema of {where} is at version {have}, newer than this Vigil "
            f"({HEAD}): run the Vigil version that upgraded it"
        )


def _redacted(url: str) -> str:
    """Return a libpq URL without its password (for messages)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    host = info.get("host", "localhost")
    return f"{info.get('dbname', '?')} on {host}:{info.get('port', 5432)}"
