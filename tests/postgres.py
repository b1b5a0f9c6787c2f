"""PostgreSQL for tests: one random database per test, created, upgraded and dropped.

The server is the one on 127.0.0.1:5432 (trust auth, user postgres), or the
admin URL in VIGIL_TEST_POSTGRES. A test that needs it fails under CI=true when
it is unreachable and skips otherwise. Databases are named ``vigil_test_<hex>``
so parallel runs (other engineers, other workers) never share one.
"""

from __future__ import annotations

import atexit
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
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
