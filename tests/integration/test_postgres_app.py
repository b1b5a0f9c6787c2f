"""`vigil serve` on PostgreSQL by configuration alone; the schema and its upgrade; the chains.

Each test runs on its own random database (`tests.postgres.temp_database`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import PASSWORD, T0, auth, user_name
from tests.contract.test_store import _opened
from tests.postgres import temp_database
from tests.unit.ingest.test_api import NOISE
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.cli import cli
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.errors import StoreError
from vigil.core.geometry import LatLon
from vigil.incidents.model import ACTIVE_INCIDENT
from vigil.store.postgres.database import Database
from vigil.store.postgres.migrations import HEAD, upgrade
from vigil.store.postgres.store import PostgresStore
from vigil.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, upgraded database."""
    with temp_database() as url:
        yield url


@pytest.fixture
def pg_app(tmp_path: Path, pg_url: str) -> Iterator[App]:
    """The whole app on PostgreSQL, chosen by `store.url` only."""
    settings = load_settings(data_dir=tmp_path / "data", store={"url": pg_url})
    built = build(settings, clock=ManualClock(T0))
    yield built
    built.close()


def test_the_api_runs_on_postgres_calls_observations_and_audit(pg_app: App) -> None:
    pg_app.users.add(user_name(Role.SUPERVISOR), Role.SUPERVISOR, PASSWORD, actor="test")
    token = pg_app.users.issue_token(user_name(Role.SUPERVISOR), label="t", actor="test", ttl=None)
    with TestClient(create_api(pg_app)) as client:
        r = client.post(
            "/api/v1/calls",
            json={
                "nature": "fall",
                "incident_type": "medical",
                "location": {"lat": 60.17, "lon": 24.94},
                "caller_phone": "+358 00 000",
            },
            headers=auth(token),
        )
        assert r.status_code == 201, r.text
        incident = r.json()["incident"]["id"]
        assert client.get(f"/api/v1/incidents/{incident}", headers=auth(token)).status_code == 200
        r = client.post("/api/v1/devices", json=NOISE, headers=auth(token))
        assert r.status_code == 201, r.text
        dev = auth(r.json()["token"])
        obs = {"device_id": "nm-1", "stream": "laeq", "seq": 1, "ts": T0.isoformat(), "value": 61}
        assert client.post("/api/v1/observations", json=obs, headers=dev).status_code == 200
        assert client.post("/api/v1/observations", json=obs, headers=dev).status_code == 200
    stats = pg_app.ingest.stats()
    assert stats.stored == 1 and stats.by_reason == {"duplicate": 1}
    assert [v.value for v in pg_app.ingest.observations.latest("nm-1")] == [61.0]
    assert pg_app.store.verify() == []
    # The incident is on the map's spatial index.
    assert isinstance(pg_app.store, PostgresStore)
    near = pg_app.store.open_near(
        "incident", LatLon(60.1701, 24.9401), 100.0, statuses=sorted(ACTIVE_INCIDENT)
    )
    assert [i for i, _m in near] == [incident]


def test_both_adapters_hash_the_same_log_alike(tmp_path: Path, pg_url: str) -> None:
    lite = SqliteStore(tmp_path / "s.sqlite3")
    pg = PostgresStore(Database(pg_url, what="store"))
    try:
        batch = [_opened(n) for n in range(1, 5)]
        assert [r.hash for r in lite.append(batch)] == [r.hash for r in pg.append(batch)]
        kw = {"actor": "a", "action": "read_caller", "subject": "call/1", "purpose": "p"}
        a = lite.append_audit(at=T0, detail="", **kw)
        b = pg.append_audit(at=T0, detail="", **kw)
        assert a == b
        assert [r.hash for r in pg.read()] == [r.hash for r in lite.read()]
    finally:
        lite.close()
        pg.close()


def test_verify_names_an_edited_and_a_deleted_event(pg_url: str) -> None:
    store = PostgresStore(Database(pg_url, what="store"))
    try:
        store.append([_opened(n) for n in range(1, 5)])
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
        assert [(b.chain, b.seq) for b in store.verify()] == [("events", 2)]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE events SET actor = 'tester' WHERE seq = 2")
            conn.execute("DELETE FROM events WHERE seq = 4")
        breaks = store.verify()
        assert [(b.chain, b.seq) for b in breaks] == [("events", 4)]
        assert "rows deleted" in breaks[0].reason
    finally:
        store.close()


def test_appends_from_several_processes_keep_one_gapless_chain(pg_url: str) -> None:
    stores = [PostgresStore(Database(pg_url, what="store")) for _ in range(3)]
    try:

        def write(k: int) -> None:
            for n in range(20):
                stores[k].append([_opened(100 * k + n, prefix=f"W{k}")])

        threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.seq for r in stores[0].read()] == list(range(1, 61))
        assert stores[1].verify() == []
    finally:
        for s in stores:
            s.close()


def test_the_app_refuses_an_old_schema_until_db_upgrade(tmp_path: Path) -> None:
    with temp_database(migrate=False) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            upgrade(conn, to=1)
        settings = load_settings(data_dir=tmp_path / "data", store={"url": url})
        with pytest.raises(StoreError, match="vigil db upgrade"):
            build(settings)
        env = {"VIGIL_STORE__URL": url, "VIGIL_DATA_DIR": str(tmp_path / "data")}
        runner = CliRunner()
        status = runner.invoke(cli, ["db", "status"], env=env)
        assert status.exit_code == 1 and "PENDING" in status.output, status.output
        up = runner.invoke(cli, ["db", "upgrade"], env=env)
        assert up.exit_code == 0 and f"-> {HEAD}" in up.output, up.output
        again = runner.invoke(cli, ["db", "upgrade"], env=env)
        assert again.exit_code == 0 and "schema version" in again.output
        assert runner.invoke(cli, ["db", "status"], env=env).exit_code == 0
        build(settings).close()
