"""One SQLite file in WAL mode: a locked writer and thread-local readers.

SQLite allows one writer at a time; writes queue on a re-entrant lock instead
of failing with "database is locked", and readers use their own thread-local
connections, which WAL lets read while the writer writes. Library errors are
converted here, once: an integrity violation becomes a ConflictError, any other
failure a StoreError, and the transaction is rolled back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from vigil.core.errors import ConflictError, StoreError


class SqliteFile:
    """Connections to one SQLite database file."""

    def __init__(
        self,
        path: Path,
        *,
        schema: str,
        what: str,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        cache_kib: int | None = None,
    ) -> None:
        self.path = path
        self._what = what
        self._pragmas = [
            "PRAGMA journal_mode=WAL",
            # FULL: a commit is fsynced before it returns, so an acknowledged
            # write survives kill -9 and power loss.
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA foreign_keys=ON",
        ]
        if cache_kib is not None:
            self._pragmas.append(f"PRAGMA cache_size=-{int(cache_kib)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.executescript(schema)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            for pragma in self._pragmas:
                conn.execute(pragma)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {self._what} {self.path}: {err}") from err
        with self._all_lock:
            self._all.append(conn)
        return conn

    def reader(self) -> sqlite3.Connection:
        """Return this thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction: committed whole, or rolled back."""
        with self.lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError(f"{self._what} unavailable: {err}") from err
            try:
                yield conn
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise ConflictError(f"{self._what} refused the write: {err}") from err
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise StoreError(f"{self._what} write failed: {err}") from err
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise StoreError(f"{self._what} commit failed: {err}") from err

    def close(self) -> None:
        """Close every connection."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
