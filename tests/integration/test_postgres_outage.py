"""A PostgreSQL outage under a running Vigil: fail fast, acknowledge nothing uncommitted, resume.

The test runs its own PostgreSQL cluster (initdb in a temp dir, a free port),
so stopping it disturbs nobody else. While it is down, a write answers 503
with Retry-After within the connect timeout, and device messages queued for
the writer are not acknowledged; once it is back the pool reconnects by
itself, the queued messages commit and are acknowledged, new writes succeed,
and every write acknowledged before, during or after is in the database once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, T0, auth, free_port, user_name
from tests.postgres import Cluster
from tests.unit.ingest.test_api import NOISE
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.store.postgres.migrations import upgrade

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECT_TIMEOUT_S = 1.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster, started, with Vigil's schema."""
    c = Cluster(free_port())
    try:
        c.start()
        with psycopg.connect(c.url, autocommit=True) as conn:
            upgrade(conn)
        yield c
    finally:
        c.remove()


@pytest.fixture
def pg_app(tmp_path: Path, cluster: Cluster) -> Iterator[App]:
    """Vigil on the private cluster, with its ingest writer running."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        store={"url": cluster.url, "connect_timeout_s": CONNECT_TIMEOUT_S, "retry_after_s": 3},
    )
    built = build(settings, clock=ManualClock(T0))
    built.ingest.pipeline.start()
    yield built
    built.close()


def _call(client: TestClient, token: str, n: int) -> tuple[int, str | None, dict[str, str]]:
    r = client.post(
        "/api/v1/calls",
        json={
            "nature": f"outage call {n}",
            "incident_type": "medical",
            "location": {"lat": 60.17, "lon": 24.94},
        },
        headers=auth(token),
    )
    ident = r.json()["incident"]["id"] if r.status_code == 201 else None
    return r.status_code, ident, dict(r.headers)


def test_an_outage_fails_fast_loses_nothing_and_recovers(pg_app: App, cluster: Cluster) -> None:
    pg_app.users.add(user_name(Role.SUPERVISOR), Role.SUPERVISOR, PASSWORD, actor="test")
    token = pg_app.users.issue_token(user_name(Role.SUPERVISOR), label="t", actor="test", ttl=None)
    acked_calls: list[str] = []
    acked_obs: list[int] = []
    lock = threading.Lock()
    with TestClient(create_api(pg_app), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/devices", json=NOISE, headers=auth(token))
        assert r.status_code == 201, r.text
        for n in range(5):
            status, ident, _ = _call(client, token, n)
            assert status == 201
            acked_calls.append(str(ident))

        def submit(seq: int) -> None:
            ts = (T0 - timedelta(seconds=seq)).isoformat()
            body = json.dumps({"seq": seq, "ts": ts, "value": 50.0}).encode()
            parsed = pg_app.ingest.parser.mqtt("vigil/hel/devices/nm-1/laeq", body, T0)
            assert parsed.observations, parsed.rejections

            def ack() -> None:
                with lock:
                    acked_obs.append(seq)

            pg_app.ingest.pipeline.submit(parsed, ack)

        for seq in range(1, 4):
            submit(seq)
        assert pg_app.ingest.pipeline.drain(10)
        assert acked_obs == [1, 2, 3]

        cluster.stop("immediate")  # every connection dies at once, as in a crash
        started = time.monotonic()
        status, _, headers = _call(client, token, 100)
        took = time.monotonic() - started
        assert status == 503
        assert int(headers["retry-after"]) == 3
        assert took < 4 * CONNECT_TIMEOUT_S + 2, f"a write waited {took:.1f} s in the outage"
        for seq in range(4, 7):  # MQTT messages arriving during the outage
            submit(seq)
        time.sleep(2.0)
        with lock:
            assert acked_obs == [1, 2, 3], "a message was acknowledged before it was committed"
        status, _, _ = _call(client, token, 101)
        assert status == 503

        cluster.start()
        deadline = time.monotonic() + 30
        recovered_at = None
        while time.monotonic() < deadline:
            status, ident, _ = _call(client, token, 200)
            if status == 201:
                acked_calls.append(str(ident))
                recovered_at = time.monotonic()
                break
            assert status == 503
            time.sleep(0.2)
        assert recovered_at is not None, "writes did not resume within 30 s of the restart"
        for n in range(201, 204):
            status, ident, _ = _call(client, token, n)
            assert status == 201
            acked_calls.append(str(ident))
        assert pg_app.ingest.pipeline.drain(30)
        with lock:
            assert sorted(acked_obs) == [1, 2, 3, 4, 5, 6]

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        opened = [
            str(r[0])
            for r in conn.execute(
                "SELECT convert_from(data, 'UTF8')::jsonb->>'incident_id' FROM events "
                "WHERE type = 'incident.opened' ORDER BY seq"
            )
        ]
        obs = [str(r[0]) for r in conn.execute("SELECT id FROM observations ORDER BY id")]
    assert opened == acked_calls  # every acknowledged call, once, and nothing else
    assert obs == sorted(f"nm-1:laeq:{n}" for n in range(1, 7))
    assert pg_app.store.verify() == []
