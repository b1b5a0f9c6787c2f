"""MQTT ingest against real Mosquitto: publish → stored; a broker restart loses nothing.

The first test uses the system broker on 127.0.0.1:1883 (skipped when it is not
running). The restart test starts its own mosquitto on a free port with a temp
config and persistence, and never touches the system broker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import free_port
from vigil.app import App, build
from vigil.config import load_settings
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, new_id
from vigil.ingest.model import DeviceKind
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import make_device

pytestmark = pytest.mark.integration

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _app(tmp_path: Path, port: int, site: str, client_id: str) -> App:
    settings = load_settings(
        data_dir=tmp_path / "data",
        ingest={
            "mqtt": {
                "enabled": True,
                "port": port,
                "site": site,
                "client_id": client_id,
                "reconnect_min_s": 1,
                "reconnect_max_s": 2,
            }
        },
    )
    app = build(settings)
    devices = [
        make_device(
            id=DeviceId(f"nm-{i}"),
            kind=DeviceKind.NOISE_METER,
            location=LatLon(60.17, 24.94),
            zone="market",
            site=site,
            streams=None,
            interval_s=60,
        )
        for i in range(20)
    ]
    app.ingest.registry.register(devices, actor="test")
    return app


class _Acks:
    """Message ids the broker has acknowledged (PUBACK), gathered by on_publish.

    ``MQTTMessageInfo.is_published()`` raises for a message queued while the client was
    disconnected, even though paho sends it on reconnect; the callback sees every PUBACK.
    """

    def __init__(self) -> None:
        self.mids: set[int] = set()
        self._lock = threading.Lock()

    def on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            self.mids.add(mid)

    def cover(self, infos: list[Any]) -> bool:
        with self._lock:
            return all(i.mid in self.mids for i in infos)


def _publisher(port: int, client_id: str, acks: _Acks | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if acks is not None:
        client.on_publish = acks.on_publish
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.connect(  # the broker accepted us: connect_async would race the first publish
        "127.0.0.1", port, keepalive=30
    )
    client.loop_start()
    return client


def _drop_session(port: int, client_id: str) -> None:
    """Remove a persistent session from a broker (clean_session=True discards it)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    try:
        c.connect("127.0.0.1", port)
        c.loop_start()
        time.sleep(0.2)
        close_client(c)
    except OSError:
        pass


def _ts() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_publish_is_stored_and_bad_input_dead_lettered(tmp_path: Path) -> None:
    if not _listening(1883):
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    site, sub_id, pub_id = new_id("s").lower(), new_id("vigil-test"), new_id("pub-test")
    app = _app(tmp_path, 1883, site, sub_id)
    pub: mqtt.Client | None = None
    try:
        app.start()
        assert app.ingest.mqtt.connected.wait(10), "ingest did not connect to the broker"
        time.sleep(0.3)  # SUBACK
        pub = _publisher(1883, pub_id)
        topic = f"vigil/{site}/devices/nm-1/laeq"
        infos = [
            pub.publish(topic, json.dumps({"seq": 1, "ts": _ts(), "value": 55.5}), qos=1),
            pub.publish(topic, json.dumps({"seq": 1, "ts": _ts(), "value": 55.5}), qos=1),
            pub.publish(topic, b"{garbage", qos=1),
            pub.publish(
                f"vigil/{site}/gateways/gw-1/batch",
                json.dumps(
                    {
                        "observations": [
                            {
                                "device_id": f"nm-{i}",
                                "stream": "lamax",
                                "seq": 9,
                                "ts": _ts(),
                                "value": 70 + i,
                            }
                            for i in range(5)
                        ]
                    }
                ),
                qos=1,
            ),
        ]
        for info in infos:
            info.wait_for_publish(10)
        _wait(lambda: app.ingest.stats().rejected >= 2, 10, "the bad and duplicate messages")
        _wait(lambda: app.ingest.stats().stored >= 6, 10, "the readings to be stored")
        stats = app.ingest.stats()
        assert stats.stored == 6
        assert stats.by_reason == {"duplicate": 1, "malformed_json": 1}
        (bad,) = app.ingest.observations.dead_letters(reason="malformed_json")
        assert (bad.raw, bad.topic, bad.source) == (b"{garbage", topic, "mqtt")
    finally:
        if pub is not None:
            close_client(pub)
        app.close()
        _drop_session(1883, sub_id)
        _drop_session(1883, pub_id)


class Broker:
    """A private mosquitto with persistence, restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        (workdir / "db").mkdir()
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir / 'db'}/\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            "log_dest stdout\n" + ("user root\n" if os.geteuid() == 0 else "")
            # As root, mosquitto would switch to its own user, which cannot write here.
        )
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        _wait(lambda: _listening(self.port), 10, "mosquitto to listen")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: mosquitto writes its persistence file on the way out)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    workdir = tmp_path / "broker"
    workdir.mkdir()
    b = Broker(workdir)
    b.start()
    yield b
    b.stop()


@pytest.mark.slow
def test_broker_restart_mid_stream_stores_every_message_exactly_once(
    tmp_path: Path, broker: Broker
) -> None:
    site = "restart"
    app = _app(tmp_path, broker.port, site, "vigil-ingest-restart")
    pub: mqtt.Client | None = None
    total = 3000
    infos: list[Any] = []
    try:
        app.start()
        assert app.ingest.mqtt.connected.wait(10)
        time.sleep(0.3)
        acks = _Acks()
        pub = _publisher(broker.port, "restart-publisher", acks)
        for n in range(total):
            device = f"nm-{n % 20}"
            payload = json.dumps({"seq": n, "ts": _ts(), "value": 40 + n % 50})
            infos.append(pub.publish(f"vigil/{site}/devices/{device}/laeq", payload, qos=1))
            if n % 100 == 99:
                time.sleep(0.01)
            if n == total // 2:
                _wait(lambda: app.ingest.stats().stored > 500, 20, "some readings stored")
                broker.stop()
                time.sleep(0.5)  # publishes meanwhile are queued by the client
                broker.start()
        _wait(lambda: acks.cover(infos), 60, "every PUBACK from the broker")
        _wait(lambda: app.ingest.stats().stored >= total, 60, f"{total} stored readings")
        time.sleep(0.5)  # any late redelivery must turn into a duplicate, not a row
        assert app.ingest.mqtt.connects >= 2, "the ingest client did reconnect"
        ids = app.ingest.observations.ids()
        assert len(ids) == len(set(ids)) == total
        assert set(ids) == {f"nm-{n % 20}:laeq:{n}" for n in range(total)}
        assert app.ingest.stats().stored == total
        assert set(app.ingest.stats().by_reason) <= {"duplicate"}
    finally:
        if pub is not None:
            close_client(pub)
        app.close()
