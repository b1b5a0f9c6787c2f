"""One PostgreSQL database through a bounded connection pool, with errors converted once.

Every adapter of the PostgreSQL store (the event log, observations, CAP dead
letters, report photos) reaches the database through `Database`: a
`psycopg_pool.ConnectionPool` of autocommit connections, `tx()` for one
transaction and `rows()`/`one()` for reads. Library errors become domain
errors here and nowhere else:

- the server cannot be reached (refused, timed out, connection lost, no
  connection free within `wait_s`): `StoreUnavailableError`, with the seconds
  after which to retry: the API answers 503 with ``Retry-After``, ingest does
  not acknowledge, and nothing was committed (or, if the connection broke
  during COMMIT, the caller's ids make the retry idempotent);
- an integrity violation (a unique key): `ConflictError`;
- anything else: `StoreError`.

Outages fail fast: libpq's `connect_timeout` and TCP user timeout bound a
connection attempt, the pool's `wait_s` bounds the wait for a connection, and
no caller thread retries in a loop. The pool checks a connection before
lending it and replaces broken ones in the background, so service resumes by
itself once the server is back.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from vigil.core.errors import ConflictError, StoreError, StoreUnavailableError

Params = Sequence[Any] | dict[str, Any]


class Database:
    """A pool of connections to one PostgreSQL database (a libpq URL)."""

    def __init__(
        self,
        url: str,
        *,
        what: str,
        max_size: int = 8,
        connect_timeout_s: float = 2.0,
        wait_s: float = 2.0,
        retry_after_s: float = 5.0,
    ) -> None:
        self.url = url
        self._what = what
        self.retry_after_s = retry_after_s
        timeout = max(1, math.ceil(connect_timeout_s))
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=wait_s,
            # Give up reconnecting in the background quickly; a new request
            # asks for a connection again, so a long outage never leaves a
            # thread looping and recovery needs no restart.
            reconnect_timeout=connect_timeout_s * 2,
            kwargs={
                "autocommit": True,
                "connect_timeout": timeout,
                # A server that vanished without closing the socket is noticed
                # within seconds, not after the kernel's retransmission minutes.
                "tcp_user_timeout": timeout * 1000,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 2,
                "application_name": f"vigil {what}",
            },
            check=ConnectionPool.check_connection,
            name=what,
            open=False,
        )
        self._pool.open(wait=False)

    def close(self) -> None:
        """Close every connection and stop the pool's threads."""
        self._pool.close(timeout=5.0)

    def unavailable(self, err: BaseException) -> StoreUnavailableError:
        """Return the domain error for an unreachable database."""
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return StoreUnavailableError(
            f"{self._what} unavailable (PostgreSQL): {detail}", retry_after_s=self.retry_after_s
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """Lend one autocommit connection (each statement commits alone)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as err:
            raise self.unavailable(err) from err
        except psycopg.errors.IntegrityError as err:
            raise ConflictError(f"{self._what} refused the write: {err}") from err
        except psycopg.OperationalError as err:
            raise self.unavailable(err) from err
        except psycopg.Error as err:
            raise StoreError(f"{self._what} failed: {err}") from err

    @contextmanager
    def tx(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """Run the block in one transaction: committed whole, or rolled back."""
        with self.connection() as conn, conn.transaction():
            yield conn

    def rows(self, sql: LiteralString, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run one read and return every row."""
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def one(self, sql: LiteralString, params: Params = ()) -> tuple[Any, ...] | None:
        """Run one read and return its first row, if any."""
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()
