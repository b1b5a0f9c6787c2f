"""Item 3: device authentication over MQTT.

Attack (before): Vigil had no MQTT user name, password or TLS settings and the
broker was open: any client reaching it published as any device (``vigil/<site>/
devices/<someone else>/...``) and opened incidents through the rules.

After: Vigil writes the broker's password and ACL files from its registry
(each device logs in as ``device-<id>`` with its API token and may publish
only on its own topics; each gateway only its batch topic, carrying only its
devices), reloads the broker, connects with its own credential (optionally
over TLS with a client certificate), and rejects a reading whose payload names
another device than its topic. Every test starts its own mosquitto.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.conftest import auth
from tests.security.mosquitto import Pki, SecuredBroker, make_pki, need_mosquitto, wait
from vigil.api.http import create_api
from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.broker import acl_text, check_password, password_hash, read_passwords
from vigil.ingest.model import DeviceKind
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import DeviceIn, Gateway, make_device, user_name

pytestmark = pytest.mark.integration

SITE = "hel"
INGEST_PASSWORD = "vigil-ingest-secret-0123"


def _device(ident: str) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": "noise_meter",
        "lat": 60.17,
        "lon": 24.94,
        "site": SITE,
        "zone": "market",
        "interval_s": 60,
    }


def _reading(seq: int, **extra: Any) -> bytes:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps({"seq": seq, "ts": ts, "value": 61.5, "unit": "dBA", **extra}).encode()


@dataclass
class Secured:
    """A private broker, a Vigil subscribed to it, an API client and two devices' tokens."""

    broker: SecuredBroker
    app: App
    client: TestClient
    supervisor: dict[str, str]
    tokens: dict[str, str]


def _start(tmp_path: Path, pki: Pki | None = None) -> tuple[SecuredBroker, App]:
    need_mosquitto()
    broker = SecuredBroker(tmp_path / "broker", pki)
    broker.start()
    mqtt_settings: dict[str, Any] = {
        "enabled": True,
        "port": broker.port,
        "site": SITE,
        "client_id": f"vigil-{tmp_path.name}"[:60],
        "reconnect_min_s": 1,
        "reconnect_max_s": 2,
        "username": "vigil-ingest",
        "password": INGEST_PASSWORD,
        "broker": {
            "password_file": str(broker.password_file),
            "acl_file": str(broker.acl_file),
            "reload_command": broker.reload_command,
        },
    }
    if pki is not None:
        assert broker.tls_port is not None
        mqtt_settings["port"] = broker.tls_port
        mqtt_settings["tls"] = {
            "enabled": True,
            "ca_file": str(pki.ca),
            "cert_file": str(pki.client_cert),
            "key_file": str(pki.client_key),
        }
    app = build(load_settings(data_dir=tmp_path / "data", ingest={"mqtt": mqtt_settings}))
    return broker, app


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    broker, app = _start(tmp_path)
    try:
        app.users.add("sup", Role.SUPERVISOR, None, actor="test")
        sup = auth(app.users.issue_token("sup", label="t", actor="t", ttl=None))
        with TestClient(create_api(app)) as client:
            tokens = {}
            for ident in ("nm-a", "nm-b"):
                r = client.post("/api/v1/devices", json=_device(ident), headers=sup)
                assert r.status_code == 201, r.text
                tokens[ident] = r.json()["token"]
            app.start()
            wait(app.ingest.mqtt.connected.is_set, 15, "Vigil to log in to the broker")
            yield Secured(broker, app, client, sup, tokens)
    finally:
        app.close()
        broker.stop()


class _Device:
    """An MQTT v5 client: v5 PUBACKs carry the broker's reason (e.g. not authorised)."""

    def __init__(self, port: int, user: str | None, password: str | None, **tls: Any) -> None:
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"dev-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
        )
        if user is not None:
            self.c.username_pw_set(user, password)
        if tls:
            self.c.tls_set(**tls)
        self.c.on_connect = self._on_connect
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self._done.wait(10):
            close_client(self.c)
            raise AssertionError("no CONNACK")

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        self._done.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._lock:
            self.pubacks[mid] = reason

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason."""
        info = self.c.publish(topic, payload, qos=1)
        wait(lambda: info.mid in self.pubacks, 10, f"PUBACK of {topic}")
        return self.pubacks[info.mid]

    def close(self) -> None:
        close_client(self.c)


def _topic(device: str) -> str:
    return f"vigil/{SITE}/devices/{device}/laeq"


def _stored(app: App, device: str) -> int:
    return sum(1 for _ in app.ingest.observations.latest(device))


def test_a_device_cannot_publish_on_another_devices_topic(secured: Secured) -> None:
    app, broker = secured.app, secured.broker
    attacker = _Device(broker.port, "device-nm-a", secured.tokens["nm-a"])
    try:
        assert attacker.connack is not None and not attacker.connack.is_failure
        # As nm-b: the broker refuses it (PUBACK "Not authorized"), Vigil never sees it.
        refused = attacker.publish(_topic("nm-b"), _reading(1))
        assert refused.is_failure and refused.getName() == "Not authorized", refused
        # Its own topic works (so the channel itself is fine), and arrives after.
        assert not attacker.publish(_topic("nm-a"), _reading(1)).is_failure
        wait(lambda: _stored(app, "nm-a") == 1, 15, "nm-a's own reading to be stored")
        assert app.ingest.drain()
        assert app.ingest.mqtt.messages == 1  # the forged one never reached Vigil
        assert _stored(app, "nm-b") == 0
        assert app.ingest.stats().rejected == 0
    finally:
        attacker.close()
    # The forged reading would also have opened nothing: no device.* or incident events.
    assert "nm-b" not in {v.device_id for v in app.ingest.observations.latest()}


def test_an_unauthenticated_or_revoked_client_is_refused(secured: Secured) -> None:
    port = secured.broker.port
    for user, password in (
        (None, None),  # anonymous
        ("device-nm-a", "not the token"),
        ("device-nm-a", secured.tokens["nm-b"]),  # someone else's password
        ("nobody", secured.tokens["nm-a"]),
    ):
        d = _Device(port, user, password)
        try:
            assert d.connack is not None and d.connack.is_failure, (user, d.connack)
        finally:
            d.close()
    # Re-registering a device issues a new token: the old one stops working on the
    # broker as it does on the API.
    old = secured.tokens["nm-a"]
    r = secured.client.post("/api/v1/devices", json=_device("nm-a"), headers=secured.supervisor)
    new = r.json()["token"]

    def refused(password: str) -> bool:
        d = _Device(port, "device-nm-a", password)
        try:
            assert d.connack is not None
            return d.connack.is_failure
        finally:
            d.close()

    wait(lambda: refused(old), 10, "the broker to drop the revoked token")
    assert not refused(new)


def test_a_reading_naming_another_device_than_its_topic_is_rejected(secured: Secured) -> None:
    app = secured.app
    d = _Device(secured.broker.port, "device-nm-a", secured.tokens["nm-a"])
    try:
        # On its own topic, but the payload claims to be nm-b.
        assert not d.publish(_topic("nm-a"), _reading(7, device_id="nm-b")).is_failure
        wait(lambda: app.ingest.stats().rejected == 1, 15, "the rejection")
    finally:
        d.close()
    assert app.ingest.stats().by_reason == {"topic_mismatch": 1}
    (letter,) = app.ingest.observations.dead_letters()
    assert letter.topic == _topic("nm-a") and "nm-b" in letter.detail
    assert _stored(app, "nm-b") == 0 and _stored(app, "nm-a") == 0


def test_a_gateway_reports_only_for_its_devices(secured: Secured) -> None:
    app, client = secured.app, secured.client
    r = client.post(
        "/api/v1/gateways",
        json={"id": "gw-1", "devices": ["nm-a"], "label": "market gateway"},
        headers=secured.supervisor,
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    gw = _Device(secured.broker.port, "gateway-gw-1", token)
    try:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items = [
            {"device_id": dev, "stream": "laeq", "seq": 3, "ts": ts, "value": 60.0}
            for dev in ("nm-a", "nm-b")
        ]
        batch = json.dumps({"observations": items}).encode()
        # Another gateway's topic is refused by the broker.
        assert gw.publish(f"vigil/{SITE}/gateways/gw-2/batch", batch).is_failure
        assert not gw.publish(f"vigil/{SITE}/gateways/gw-1/batch", batch).is_failure
        wait(lambda: app.ingest.stats().rejected == 1, 15, "nm-b's item to be refused")
        assert app.ingest.drain()
    finally:
        gw.close()
    assert _stored(app, "nm-a") == 1 and _stored(app, "nm-b") == 0
    assert app.ingest.stats().by_reason == {"forbidden": 1}
    assert app.ingest.mqtt.messages == 1
    # Over HTTP the same credential is bound to the same devices.
    body = {**items[1], "seq": 4}
    assert client.post("/api/v1/observations", json=body, headers=auth(token)).status_code == 403
    body = {**items[0], "seq": 4}
    assert client.post("/api/v1/observations", json=body, headers=auth(token)).status_code == 200


def test_tls_with_a_ca_generated_here(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    broker, app = _start(tmp_path, pki)
    assert broker.tls_port is not None
    try:
        app.ingest.registry.register([DeviceIn(**_device("nm-a")).to_domain()], actor="test")
        token = app.ingest.registry.issue_token(DeviceId("nm-a"), actor="test")
        app.start()
        wait(app.ingest.mqtt.connected.is_set, 15, "Vigil to connect over TLS")
        # A device over TLS, trusting the test CA.
        client_cert = {"certfile": str(pki.client_cert), "keyfile": str(pki.client_key)}
        d = _Device(broker.tls_port, "device-nm-a", token, ca_certs=str(pki.ca), **client_cert)
        try:
            assert d.connack is not None and not d.connack.is_failure
            assert not d.publish(_topic("nm-a"), _reading(1)).is_failure
            wait(lambda: _stored(app, "nm-a") == 1, 15, "the reading sent over TLS")
        finally:
            d.close()
        # A client that trusts another CA refuses the broker's certificate.
        context = ssl.create_default_context(cafile=str(pki.other_ca))
        with (
            pytest.raises(ssl.SSLCertVerificationError),
            socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass
    finally:
        app.close()
        broker.stop()


def test_broker_files_name_each_login_with_only_its_topics(tmp_path: Path) -> None:
    """The files themselves (no broker): hashes verify, ACLs are per login, Vigil reads only."""
    hashed = password_hash("s3cret-token")
    assert hashed.startswith("$7$1000$") and check_password("s3cret-token", hashed)
    assert not check_password("s3cret-tokeN", hashed)
    dev = make_device(
        id=DeviceId("urn:ngsi-ld:Device:nm-9"),
        kind=DeviceKind.NOISE_METER,
        location=LatLon(60.0, 24.0),
        zone=None,
        site="hel",
        streams=None,
        interval_s=60,
    )
    text = acl_text([dev], [Gateway(id="gw", devices=frozenset({dev.id}))], ingest_user="vigil")
    blocks = [b.splitlines() for b in text.split("\n\n")[1:]]
    assert blocks == [
        ["user vigil", "topic read vigil/#"],
        [f"user {user_name(dev.id)}", "topic write vigil/hel/devices/urn:ngsi-ld:Device:nm-9/+"],
        ["user gateway-gw", "topic write vigil/+/gateways/gw/batch"],
    ]
    (tmp_path / "p").write_text("# c\nalice:$7$1$x$y\n")
    assert read_passwords(tmp_path / "p") == {"alice": "$7$1$x$y"}
