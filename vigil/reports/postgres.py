"""Report photos on PostgreSQL, so every API process serves every report's photo."""

from __future__ import annotations

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

    def close(self) -> None:
        """Close every connection."""
        self._db.close()
