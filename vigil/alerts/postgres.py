"""CAP-in dead letters on PostgreSQL, shared by every process that polls or receives CAP."""

from __future__ import annotations

from datetime import datetime

from vigil.store.postgres.database import Database
from vigil.store.postgres.migrations import require_current


class PostgresCapDeadLetters:
    """Refused CAP documents, raw, with their reason; and counters per source and reason."""

    def __init__(self, db: Database) -> None:
        """Use a database whose schema is current (else close it and refuse)."""
        self._db = db
        try:
            with db.connection() as conn:
                require_current(conn, db.url)
        except BaseException:
            db.close()
            raise

    def add(self, *, at: datetime, source: str, reason: str, detail: str, raw: bytes) -> None:
        """Keep one refused document (at most its first 1 MB) and count it."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO cap_dead_letters (at, source, reason, detail, raw) "
                "VALUES (%s,%s,%s,%s,%s)",
                (at.isoformat(), source, reason, detail[:2000], raw[:1_000_000]),
            )
            conn.execute(
                "INSERT INTO cap_counters VALUES (%s, %s, 1) "
                "ON CONFLICT (source, reason) DO UPDATE SET n = cap_counters.n + 1",
                (source, reason),
            )

    def counters(self) -> dict[str, dict[str, int]]:
        """Return refusals by source, then reason."""
        out: dict[str, dict[str, int]] = {}
        for source, reason, n in self._db.rows("SELECT source, reason, n FROM cap_counters"):
            out.setdefault(str(source), {})[str(reason)] = int(n)
        return out

    def recent(self, limit: int = 50) -> list[dict[str, str]]:
        """Return the newest dead letters (without their raw bytes)."""
        rows = self._db.rows(
            "SELECT at, source, reason, detail FROM cap_dead_letters ORDER BY seq DESC LIMIT %s",
            (limit,),
        )
        return [
            {"at": str(a), "source": str(s), "reason": str(r), "detail": str(d)}
            for a, s, r, d in rows
        ]

    def close(self) -> None:
        """Close every connection."""
        self._db.close()
