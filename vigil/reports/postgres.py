"""Report photos and rate-limit hits on PostgreSQL, shared by every API process and host."""

from __future__ import annotations

import os
from datetime import datetime

from vigil.store.postgres.database import Database
from vigil.store.postgres.migrations import require_current


class PostgresPhotos:
    """Report photos in the ``report_photos`` table."""

    def __init__(self, db: Database) -> None:
        """Use a database whose schema is current (else close it and refuse)."""
        self._db = db
        try:
            with db.connection() as conn:
                require_current(conn, db.url)
        except BaseException:
            db.close()
            raise

    def put(self, report_id: str, jpeg: bytes, at: datetime) -> None:
        """Store (or replace) a report's photo."""
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO report_photos VALUES (%s, %s, %s) ON CONFLICT (report_id) "
                "DO UPDATE SET jpeg = excluded.jpeg, at = excluded.at",
                (report_id, jpeg, at),
            )

    def get(self, report_id: str) -> bytes | None:
        """Return a report's photo, if stored."""
        row = self._db.one("SELECT jpeg FROM report_photos WHERE report_id = %s", (report_id,))
        return None if row is None else bytes(row[0])

    def delete(self, report_ids: list[str], *, before: datetime) -> None:
        """Delete these reports' photos and any photo stored before `before`."""
        with self._db.connection() as conn:
            conn.execute("DELETE FROM report_photos WHERE at <= %s", (before,))
            conn.execute("DELETE FROM report_photos WHERE report_id = ANY(%s)", (report_ids,))

    def secret(self) -> bytes:
        """Return the secret that keys client hashes (made on first use, then kept)."""
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO report_limit_secret (id, value) VALUES (1, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (os.urandom(32),),
            )
            row = conn.execute("SELECT value FROM report_limit_secret WHERE id = 1").fetchone()
        assert row is not None
        return bytes(row[0])

    def client_hit(self, key: str, *, now: float, span_s: float, limit: int) -> bool:
        """Count one request of `key` unless over `limit` in `span_s` (serialised per key)."""
        with self._db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            conn.execute("DELETE FROM report_client_hits WHERE at <= %s", (now - span_s,))
            row = conn.execute(
                "SELECT COUNT(*) FROM report_client_hits WHERE key = %s AND at > %s",
                (key, now - span_s),
            ).fetchone()
            if row is not None and int(row[0]) >= limit:
                return False
            conn.execute("INSERT INTO report_client_hits (key, at) VALUES (%s, %s)", (key, now))
        return True

    def close(self) -> None:
        """Close every connection."""
        self._db.close()
