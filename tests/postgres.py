"""PostgreSQL for tests: one random database per test, created, upgraded and dropped.

The server is the one on 127.0.0.1:5432 (trust auth, user postgres), or the
admin URL in VIGIL_TEST_POSTGRES. A test that needs it fails under CI=true when
it is unreachable and skips otherwise. Databases are named ``vigil_test_<hex>``
so parallel runs (other engineers, other workers) never share one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from vigil.store.postgres.migrations import upgrade

ADMIN_URL = os.environ.get(
    "VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres?connect_timeout=3"
)


def url_of(admin_url: str, dbname: str) -> str:
    """Return the URL `admin_url` (postgresql://...) pointing at another database."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def require_postgres(admin_url: str = ADMIN_URL) -> None:
    """Skip (fail under CI) unless the PostgreSQL server answers."""
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        reason = f"PostgreSQL is not reachable at {admin_url}: {err}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)


_templates: dict[str, str] = {}  # admin URL -> this process's migrated template database


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _template(admin_url: str) -> str:
    """Return a database migrated once per process, copied for each test (much faster)."""
    name = _templates.get(admin_url)
    if name is None:
        name = f"vigil_template_{secrets.token_hex(6)}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with psycopg.connect(url_of(admin_url, name), autocommit=True) as conn:
            upgrade(conn)
        _templates[admin_url] = name
        atexit.register(_drop, admin_url, name)
    return name


@contextmanager
def temp_database(admin_url: str = ADMIN_URL, *, migrate: bool = True) -> Iterator[str]:
    """Create a random database (schema upgraded unless `migrate` is False); drop it after."""
    require_postgres(admin_url)
    name = f"vigil_test_{secrets.token_hex(6)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if migrate:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(_template(admin_url))
        )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield url_of(admin_url, name)
    finally:
        _drop(admin_url, name)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    """A throw-away PostgreSQL cluster of its own (initdb in a temp dir, its own port).

    For tests that stop and start the server under a running Vigil; run as the
    ``postgres`` user when the tests run as root (the server refuses root).
    """

    def __init__(self, port: int) -> None:
        if not (PG_BIN / "initdb").exists():
            reason = f"PostgreSQL server binaries are not installed in {PG_BIN}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}; CI must have them")
            pytest.skip(reason)
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: object) -> None:
        subprocess.run([*self._as, *map(str, args)], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
            "-c fsync=on -c max_connections=50"
        )
        self._run(
            PG_BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log", "-w", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (`immediate`: as a crash or a pulled cable looks to clients)."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
