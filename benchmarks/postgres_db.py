"""PostgreSQL helpers for the benchmarks (``--store-url``): a fresh database, its server CPU.

Not a benchmark itself: `benchmarks/ingest.py` and `benchmarks/api.py` import
it (``from postgres_db import ...``: a script's own directory is on its path). Given the URL of a server, `fresh_database`
creates a database of its own there (``vigil_bench_<hex>``), applies the
schema (what ``vigil db upgrade`` does) and drops it afterwards, so a
benchmark never touches a deployment's data.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from psycopg import sql

from vigil.store.postgres.migrations import upgrade


def database_url(server_url: str, dbname: str) -> str:
    """Return `server_url` pointing at database `dbname`."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{dbname}"))


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create an upgraded database of its own on the server; yield its URL; drop it after."""
    name = f"vigil_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            upgrade(conn)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class BackendCpu:
    """CPU seconds the server's backends spent on one database (sampled by process).

    A backend's command line names its database ("postgres: user db host(port) ..."),
    so other users of a shared server are not counted. Backends that ended between
    two samples are missed; the pools keep theirs open for the whole run.
    """

    def __init__(self, url: str) -> None:
        self.dbname = urlsplit(url).path.lstrip("/")
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                cmd = " ".join(p.info["cmdline"] or [])
                if p.info["name"] in {"postgres", "postmaster"} and f" {self.dbname} " in cmd:
                    t = p.cpu_times()
                    out[p.pid] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    def start(self) -> None:
        """Take the starting sample."""
        self._start = self._sample()
        self._last = dict(self._start)

    def seconds(self) -> float:
        """Return the CPU seconds spent since `start` by this database's backends."""
        now = self._sample()
        self._last.update(now)
        return round(sum(v - self._start.get(pid, 0.0) for pid, v in self._last.items()), 2)
