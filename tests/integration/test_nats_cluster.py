"""A 3-node NATS JetStream cluster on localhost, and faults of the NATS server under the bus.

- Cluster: three `nats-server` processes of our own (free ports, own store
  dirs, routes to each other), streams with 3 replicas. Batches and events go
  through it; the node leading the streams is killed with SIGKILL mid-run.
  Every batch `send` returned for (acknowledged by a quorum) reaches the
  listener exactly once, every committed event reaches the durable consumer
  exactly once, and sending goes on with two nodes.
- Restart: the whole app on a NATS server of our own; the server is
  killed (SIGKILL) and started again under load. The bus reconnects by itself; every call and
  reading acknowledged to its client is delivered to the consumers once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec
import nats
import pytest

from tests.conftest import T0
from tests.natsutil import NatsServer, free_port, nats_binary, run_coroutine
from vigil.app import build
from vigil.bus import Topic
from vigil.bus.nats import NatsBus
from vigil.cad.service import NewCall
from vigil.config import load_settings
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded
from vigil.ingest.model import DeviceKind, Observation
from vigil.ingest.registry import make_device
from vigil.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration


class Item(msgspec.Struct, frozen=True):
    key: str
    n: int


ITEMS: Topic[Item] = Topic("items", Item, key=lambda i: i.key)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[NatsServer]]:
    """Three JetStream nodes routed to each other on free ports."""
    nats_binary()
    ports = [free_port() for _ in range(3)]
    name = f"vigil-{secrets.token_hex(3)}"
    nodes = [
        NatsServer(
            tmp_path / f"n{i}" / "js",
            name=f"n{i}",
            cluster_port=ports[i],
            routes=[p for j, p in enumerate(ports) if j != i],
            cluster=name,
        )
        for i in range(3)
    ]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_listening()
    yield nodes
    for node in nodes:
        node.stop()


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _open_bus(store: SqliteStore, url: str, prefix: str, replicas: int) -> NatsBus:
    """Open the bus, retrying while the cluster elects its JetStream leader."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return NatsBus(
                store,
                url=url,
                prefix=prefix,
                replicas=replicas,
                partitions=4,
                poll_s=0.1,
                fetch_s=0.5,
                checkpoint_s=0.0,
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stream_leader(url: str, stream: str) -> str:
    async def go() -> str:
        nc = await nats.connect(url.split(","), connect_timeout=5)
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader is not None
            return info.cluster.leader
        finally:
            await nc.close()

    return run_coroutine(go)


def _note(n: int) -> Pending:
    return Pending(
        id=EventId(f"EV-{n}"),
        at=T0,
        actor="t",
        cause=None,
        event=IncidentNoteAdded(incident_id=IncidentId("INC-1"), text=f"note {n}"),
    )


def test_a_three_node_cluster_loses_nothing_acknowledged_when_a_node_is_killed(
    cluster: list[NatsServer], tmp_path: Path
) -> None:
    url = ",".join(n.url for n in cluster)
    store = SqliteStore(tmp_path / "store.sqlite3")
    bus = _open_bus(store, url, f"c{secrets.token_hex(4)}", replicas=3)
    try:
        got: list[Item] = []
        seen: list[str] = []
        lock = threading.Lock()

        def on_batch(batch: Sequence[Item]) -> None:
            with lock:
                got.extend(batch)

        bus.listen(ITEMS, "probe", on_batch)
        bus.subscribe("probe", lambda rec: seen.append(rec.id))
        acknowledged: list[Item] = []
        committed: list[str] = []

        def work(start: int, stop: int) -> None:
            for n in range(start, stop):
                batch = [Item(f"k{k}", n) for k in range(5)]
                bus.send(ITEMS, batch)  # returns once a quorum of the stream stored it
                acknowledged.extend(batch)
                recs = store.append([_note(n)])
                bus.publish(recs)
                committed.extend(r.id for r in recs)

        work(0, 50)
        leader = _stream_leader(url, bus.topics_stream)
        victim = next(n for n in cluster if n.name == leader)
        victim.kill()  # SIGKILL: no goodbye to the cluster
        t0 = time.monotonic()
        work(50, 100)  # service goes on with two of three nodes
        took = time.monotonic() - t0
        assert bus.drain(60)
        with lock:
            counts = Counter(got)
        assert set(acknowledged) <= set(counts), "an acknowledged batch was lost"
        assert max(counts.values()) == 1, "a batch was delivered twice"
        for k in range(5):  # in order per key
            assert [i.n for i in got if i.key == f"k{k}"] == list(range(100))
        assert seen == committed  # every committed event once, in log order
        assert took < 60
    finally:
        bus.close()
        store.close()


# ------------------------------------------------------------------ restart

AT = LatLon(60.17, 24.94)


def test_the_app_survives_a_nats_restart_without_losing_or_repeating(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats" / "js", name="solo").start()
    prefix = f"r{secrets.token_hex(4)}"
    settings = load_settings(
        data_dir=tmp_path / "data",
        bus={"kind": "nats", "url": server.url, "prefix": prefix, "partitions": 4},
    )
    app = build(settings)
    try:
        app.ingest.registry.register(
            [
                make_device(
                    id=DeviceId(f"nm-{i}"),
                    kind=DeviceKind.NOISE_METER,
                    location=AT,
                    zone=None,
                    site="hel",
                    streams=None,
                    interval_s=3600,
                )
                for i in range(4)
            ],
            actor="test",
        )
        events: list[str] = []
        readings: list[str] = []
        lock = threading.Lock()

        def on_record(rec: Recorded) -> None:
            with lock:
                events.append(rec.id)

        def on_obs(batch: Sequence[Observation]) -> None:
            with lock:
                readings.extend(o.id for o in batch)

        app.bus.subscribe("probe", on_record)
        app.ingest.subscribe("probe", on_obs)
        acked_events: list[str] = []
        acked_readings: list[str] = []
        stop = threading.Event()
        errors: list[BaseException] = []

        def load() -> None:
            n = 0
            try:
                while not stop.is_set() or n < 40:
                    out = app.cad.take_call(
                        NewCall(
                            location=AT, nature=f"call {n}", incident_type="medical", priority=2
                        ),
                        actor="t",
                    )
                    acked_events.extend(r.id for r in out.records)
                    body = {
                        "observations": [
                            {
                                "device_id": f"nm-{n % 4}",
                                "stream": "laeq",
                                "seq": n,
                                "ts": app.clock.now().isoformat(),
                                "value": 50.0,
                            }
                        ]
                    }
                    res = app.ingest.post(json.dumps(body).encode(), source="http", scope=None)
                    acked_readings.extend(o.id for o in res.stored)
                    n += 1
                    time.sleep(0.02)
            except BaseException as err:  # noqa: BLE001 - reported by the test
                errors.append(err)

        writer = threading.Thread(target=load)
        writer.start()
        _wait(lambda: len(acked_readings) >= 10 or bool(errors), 60, "load before the restart")
        assert not errors, errors
        server.kill()  # the NATS server dies under load ...
        time.sleep(2.0)
        server.start()  # ... and comes back on the same port with its store
        _wait(lambda: app.bus.reconnects >= 1, 30, "the bus to reconnect")  # type: ignore[attr-defined]
        time.sleep(1.0)
        stop.set()
        writer.join(60)
        assert not errors, errors
        assert app.bus.drain(60)
        with lock:
            assert Counter(events).most_common(1)[0][1] == 1, "an event was delivered twice"
            assert set(acked_events) <= set(events), "an acknowledged event was not delivered"
            assert Counter(readings).most_common(1)[0][1] == 1, "a reading was delivered twice"
            assert set(acked_readings) <= set(readings), "an acknowledged reading was lost"
        assert len(acked_readings) >= 40
    finally:
        app.close()
        server.stop()
