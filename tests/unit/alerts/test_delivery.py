"""Delivery to subscribed channels: every attempt logged, retried with backoff, resumed after restart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import PASSWORD
from vigil.alerts.cap import CapArea, CapInfo
from vigil.alerts.events import AlertDeliveryAttempted
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.ingest.mqtt import close_client


class Receiver:
    """A real HTTP server on 127.0.0.1 that fails the first `fail` POSTs with 503."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                else:
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cap"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)
    yield r
    r.close()


INFO = CapInfo(
    categories=("Met",), event="Flood", urgency="Expected", severity="Severe", certainty="Likely",
    headline="River flooding", areas=(CapArea(desc="Riverside", circles=("60.17,24.94 1.0",)),),
)  # fmt: skip


def _app(
    tmp_path: Path, clock: ManualClock, channels: list[dict[str, object]], retries: int = 4
) -> App:
    app = build(
        load_settings(
            data_dir=tmp_path / "data",
            alerts={"channels": channels, "delivery_retries": retries, "delivery_backoff_s": 0.05},
        ),
        clock=clock,
    )
    app.users.add("disp", Role.DISPATCHER, PASSWORD, actor="t")
    app.users.add("sup", Role.SUPERVISOR, PASSWORD, actor="t")
    return app


def _publish(app: App) -> str:
    alert = app.alerts.compose(actor="disp", infos=[INFO])
    app.alerts.approve(alert.id, actor="sup", reason="ok")
    return alert.id


def _attempts(app: App, alert_id: str) -> list[AlertDeliveryAttempted]:
    return [
        r.event
        for r in app.store.stream(f"alert/{alert_id}")
        if isinstance(r.event, AlertDeliveryAttempted)
    ]


def test_webhook_retried_until_delivered_and_every_attempt_logged(
    tmp_path: Path, clock: ManualClock, receiver: Receiver
) -> None:
    app = _app(tmp_path, clock, [{"kind": "webhook", "name": "partner", "url": receiver.url}])
    app.start()
    try:
        alert_id = _publish(app)
        assert app.bus.drain(20)  # the deliverer consumes the committed publication
        assert app.delivery.drain(20)
        attempts = _attempts(app, alert_id)
        assert [(a.attempt, a.ok, a.final) for a in attempts] == [
            (1, False, False),
            (2, False, False),
            (3, True, True),
        ]
        assert "503" in attempts[0].detail and attempts[2].detail == "HTTP 200"
        assert receiver.bodies == [app.alerts.get(alert_id).published.xml.encode()]  # type: ignore[union-attr]
        assert receiver.headers[0]["Content-Type"] == "application/cap+xml"
        assert app.alerts.get(alert_id).deliveries[0].ok
    finally:
        app.close()


def test_retries_exhausted_is_final_and_counted(tmp_path: Path, clock: ManualClock) -> None:
    dead = Receiver(fail=100)
    app = _app(tmp_path, clock, [{"kind": "webhook", "name": "down", "url": dead.url}], retries=2)
    app.start()
    try:
        alert_id = _publish(app)
        assert app.bus.drain(20)  # the deliverer consumes the committed publication
        assert app.delivery.drain(20)
        attempts = _attempts(app, alert_id)
        assert [(a.attempt, a.ok, a.final) for a in attempts] == [
            (1, False, False),
            (2, False, False),
            (3, False, True),
        ]
    finally:
        app.close()
        dead.close()


def test_undelivered_resumes_after_restart(tmp_path: Path, clock: ManualClock) -> None:
    dead = Receiver(fail=100)
    url = dead.url
    dead.close()  # nothing listens: delivery cannot finish before the restart
    app = _app(tmp_path, clock, [{"kind": "webhook", "name": "p", "url": url}], retries=0)
    alert_id = _publish(app)  # not started: nothing sent yet
    app.close()
    receiver = Receiver(fail=0)
    again = build(
        load_settings(
            data_dir=tmp_path / "data",
            alerts={"channels": [{"kind": "webhook", "name": "p", "url": receiver.url}]},
        ),
        clock=clock,
    )
    again.start()
    try:
        assert again.bus.drain(20)
        assert again.delivery.drain(20)
        assert [a.ok for a in _attempts(again, alert_id)] == [True]
        assert len(receiver.bodies) == 1
    finally:
        again.close()
        receiver.close()


@pytest.mark.integration
def test_mqtt_channel_on_the_real_broker(tmp_path: Path, clock: ManualClock) -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
    except OSError:
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    topic = f"vigil-test/alerts/{tmp_path.name}"
    got: list[bytes] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{tmp_path.name}"[:23])
    sub.on_message = lambda c, u, m: got.append(bytes(m.payload))
    sub.on_subscribe = lambda *a: ready.set()
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    assert ready.wait(5)
    app = _app(tmp_path, clock, [{"kind": "mqtt", "name": "broker", "topic": topic}])
    app.start()
    try:
        alert_id = _publish(app)
        assert app.bus.drain(20)  # the deliverer consumes the committed publication
        assert app.delivery.drain(20)
        for _ in range(50):
            if got:
                break
            threading.Event().wait(0.1)
        assert got and b"<identifier>" + alert_id.encode() in got[0]
        assert [a.ok for a in _attempts(app, alert_id)] == [True]
    finally:
        app.close()
        close_client(sub)
