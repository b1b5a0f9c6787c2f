"""Workers on ``--partitions auto``: partitions balanced by lease, and taken over after kill -9.

Real processes on one store (SQLite files in WAL mode, or PostgreSQL) and the
shared NATS server: one API process and two ``--role ingest,rules
--partitions auto`` workers. The workers split the 4 partitions 2 and 2 by
lease; an alarm on a panel of each partition opens one incident each. Then
one worker is killed with SIGKILL; an alarm on a fresh panel of each
partition (the dead worker's too) still opens exactly one incident within the
lease TTL and a few seconds, the survivor holds all 4 partitions (and the
once-per-deployment duties, which ran only in the holder of partition 0), and
no rule fired twice on any panel.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.test_processes import Proc, _pg, post_alarm, register_panels
from tests.natsutil import delete_streams, free_port, nats_url
from tests.postgres import temp_database
from vigil.bus.nats import partition_of
from vigil.rules.events import RuleFired
from vigil.store.ports import Store
from vigil.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

PARTITIONS = 4
TTL_S = 4.0
ACK_WAIT_S = 3.0
RULE = "smoke-panel-alarm"


def _panels(tag: str) -> dict[int, str]:
    """One smoke panel per partition."""
    found: dict[int, str] = {}
    for i in range(1000):
        d = f"smoke-{tag}-{i}"
        found.setdefault(partition_of(d, PARTITIONS), d)
        if len(found) == PARTITIONS:
            return found
    raise AssertionError("no panel for some partition")


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Path, str | None, str]]:
    """A config: the store (SQLite files or a PostgreSQL database), NATS, short leases."""
    url = nats_url()
    prefix = f"t{secrets.token_hex(6)}"
    with contextlib.ExitStack() as stack:
        config: dict[str, object] = {
            "data_dir": str(tmp_path / "data"),
            "bus": {
                "kind": "nats",
                "url": url,
                "prefix": prefix,
                "partitions": PARTITIONS,
                "lease_ttl_s": TTL_S,
                "lease_margin_s": 1.0,
                # What the dead worker had fetched comes back to the survivor after this.
                "ack_wait_s": ACK_WAIT_S,
            },
        }
        db: str | None = None
        if request.param == "postgres":
            db = stack.enter_context(temp_database())
            config["store"] = {"url": db}
        (tmp_path / "city.yaml").write_text(yaml.safe_dump(config))
        yield tmp_path, db, prefix
        delete_streams(url, prefix)


def _open(tmp: Path, db: str | None) -> Store:
    return SqliteStore(tmp / "data" / "vigil.sqlite3") if db is None else _pg(db)


def _owners(store: Store, group: str) -> dict[int, str]:
    now = time.time()
    return {
        int(x.name[1:]): x.owner
        for x in store.leases(group)
        if x.name.startswith("p") and x.expires > now
    }


def _wait(cond: object, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():  # type: ignore[operator]
        assert time.monotonic() - t0 < timeout, f"timed out: {what}"
        time.sleep(0.1)
    return time.monotonic() - t0


def test_two_auto_workers_balance_and_the_survivor_takes_over_after_kill_9(
    deployment: tuple[Path, str | None, str],
) -> None:
    tmp, db, prefix = deployment
    group = f"{prefix}:ingest+rules"
    cfg = ["--config", str(tmp / "city.yaml")]
    port = free_port()
    procs: list[Proc] = []
    before, after = _panels("a"), _panels("b")
    store: Store | None = None
    victim_name = ""
    try:
        api = Proc(
            "api", [*cfg, "--role", "api", "--port", str(port), "--admin-token"], tmp / "api.log"
        )
        procs.append(api)
        token = api.wait_for("admin API token:").split(":", 1)[1].strip()
        api.wait_for("Vigil serving")
        workers = [
            Proc(
                f"w{i}", [*cfg, "--role", "ingest,rules", "--partitions", "auto"], tmp / f"w{i}.log"
            )
            for i in range(2)
        ]
        procs += workers
        for w in workers:
            w.wait_for("worker running")
        store = _open(tmp, db)
        s = store
        # Balanced: 2 and 2 (the second to join takes its share from the first).
        _wait(
            lambda: (
                sorted(
                    list(_owners(s, group).values()).count(o)
                    for o in set(_owners(s, group).values())
                )
                == [2, 2]
                and len(_owners(s, group)) == PARTITIONS
            ),
            30,
            "partitions split 2 and 2",
        )
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30) as http:
            tokens = register_panels(http, base, token, [*before.values(), *after.values()])
            time.sleep(2.0)  # the workers follow the registrations through the bus

            def alarm(device: str) -> None:
                post_alarm(http, base, device, tokens[device])

            def opened(devices: list[str]) -> set[str]:
                got = http.get(f"{base}/api/v1/incidents", headers=admin).json()
                return {d for d in devices for i in got if i["description"].endswith(f"panel {d}")}

            for d in before.values():
                alarm(d)
            _wait(lambda: opened(list(before.values())) == set(before.values()), 60, "first alarms")
            # Kill the worker holding partition 0 (its ingest, rules and leases die with it).
            owners = _owners(s, group)
            victim_member = owners[0]
            victim_parts = sorted(k for k, o in owners.items() if o == victim_member)
            pid = int(victim_member.split(".")[-2])
            victim = next(w for w in workers if w.proc.pid == pid)
            victim_name = victim.name
            survivor = next(w for w in workers if w is not victim)
            # The deployment's duties (alert delivery, notifications, purges) run in the
            # holder of partition 0 only.
            victim.wait_for("duties started", timeout=10)
            assert not any("duties started" in line for line in survivor.lines)
            victim.proc.kill()
            victim.proc.wait(timeout=10)
            killed = time.monotonic()
            for d in after.values():
                alarm(d)
            _wait(
                lambda: opened(list(after.values())) == set(after.values()),
                TTL_S + 30,
                f"alarms of partitions {victim_parts} after the kill",
            )
            took = time.monotonic() - killed
            assert survivor.proc.poll() is None
            survivor.wait_for("duties started", timeout=10)  # they moved with partition 0
            assert set(_owners(s, group)) == set(range(PARTITIONS))
            assert len(set(_owners(s, group).values())) == 1
            time.sleep(3.0)  # anything that would fire twice has had its chance
            incidents = http.get(f"{base}/api/v1/incidents", headers=admin).json()
        for d in [*before.values(), *after.values()]:
            mine = [i for i in incidents if i["description"].endswith(f"panel {d}")]
            assert len(mine) == 1, (d, mine)
            fired = [
                r
                for r in s.stream(f"rule/{RULE}")
                if isinstance(r.event, RuleFired) and r.event.key == d
            ]
            assert len(fired) == 1, (d, fired)
        # Within the lease TTL and a few seconds (this machine is shared and loaded).
        assert took <= TTL_S + ACK_WAIT_S + 15, took
    finally:
        codes = {p.name: p.stop() for p in procs}
        if store is not None:
            store.close()
    assert [c for n, c in codes.items() if n != victim_name] == [0, 0], [
        p.lines[-20:] for p in procs
    ]
