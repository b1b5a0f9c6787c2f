"""MQTT adapter: a persistent QoS 1 session that acknowledges only what is stored.

paho-mqtt 2.x with ``manual_ack=True``: each QoS 1 PUBLISH is parsed on the
network thread, queued for the pipeline's writer, and PUBACKed only after the
transaction holding it committed. A crash before that leaves the message
unacknowledged in the broker's persistent session (clean_session=False), which
redelivers it on reconnect; the store's unique observation ids turn the
redelivery into a counted duplicate, never a second row.

Reconnection is paho's own loop with exponential backoff (reconnect_min_s
doubling up to reconnect_max_s).

Vigil logs in with its own user name and password when configured and speaks
TLS (``mqtts``) with the configured CA and optional client certificate. The
broker's ACLs (`vigil.ingest.broker`) let each device publish only on its own
topic, so the topic is the device's authenticated identity; a reading whose
payload names another device is rejected (topic_mismatch) and dead-lettered.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from vigil.core.clock import Clock
from vigil.core.errors import ConfigError
from vigil.ingest.parse import Parsed, Parser, Rejection, RejectReason
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.settings import MqttSettings

log = logging.getLogger(__name__)


def topics(site: str) -> list[str]:
    """Return the subscriptions: single readings and gateway batches of a site (+ = all)."""
    return [f"vigil/{site}/devices/+/+", f"vigil/{site}/gateways/+/batch"]


class MqttIngest:
    """Subscribe to device topics and feed the pipeline; ack after commit."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        parser: Parser,
        pipeline: IngestPipeline,
        clock: Clock,
        password: str | None = None,
    ) -> None:
        self._settings = settings
        self._parser = parser
        self._pipeline = pipeline
        self._clock = clock
        self._generation = 0  # bumps on each connection: acks for an old one are dropped
        self.connected = threading.Event()
        self.messages = 0
        self.connects = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self._client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        if settings.username is not None:
            self._client.username_pw_set(settings.username, password)
        tls = settings.tls
        if tls.enabled:
            try:
                self._client.tls_set(
                    ca_certs=None if tls.ca_file is None else str(tls.ca_file),
                    certfile=None if tls.cert_file is None else str(tls.cert_file),
                    keyfile=None if tls.key_file is None else str(tls.key_file),
                )
            except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
                close_client(self._client)
                raise ConfigError(f"ingest.mqtt.tls: {err}", field="ingest.mqtt.tls") from err
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._started = False

    def start(self) -> None:
        """Connect in the background (a missing broker is retried, never fatal)."""
        if self._started:
            return
        self._started = True
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread (unacked messages stay with the broker)."""
        if not self._started:
            return
        self._started = False
        close_client(self._client)
        self.connected.clear()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connect refused: %s", reason)
            return
        self._generation += 1
        self.connects += 1
        client.subscribe([(t, 1) for t in topics(self._settings.site)])
        self.connected.set()
        log.info("MQTT connected to %s:%s", self._settings.host, self._settings.port)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Any,
    ) -> None:
        self.connected.clear()
        self._generation += 1
        log.warning("MQTT disconnected (%s); reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages += 1
        topic = msg.topic
        payload = bytes(msg.payload)
        try:
            parsed = self._parser.mqtt(topic, payload, self._clock.now())
        except Exception as err:
            # The parser never raises by contract; if it does, dead-letter the message
            # (a redelivery would fail the same way) rather than lose it or kill the loop.
            log.exception("parser failed on %s", topic)
            parsed = Parsed(
                rejections=[
                    Rejection(
                        reason=RejectReason.PARSER_ERROR,
                        field=None,
                        detail=f"{type(err).__name__}: {err}",
                        source="mqtt",
                        topic=topic,
                        raw=payload[: self._parser.limits.max_raw_kept],
                    )
                ]
            )
        if msg.qos == 0:
            self._pipeline.submit(parsed)
            return
        mid, qos, generation = msg.mid, msg.qos, self._generation

        def ack() -> None:
            if generation == self._generation:
                client.ack(mid, qos)

        self._pipeline.submit(parsed, ack)


def close_client(client: mqtt.Client) -> None:
    """Disconnect, stop the network thread and release the client's sockets now.

    paho has no public close: its socket and wake-up socket pair are otherwise
    left to the garbage collector (eclipse-paho/paho.mqtt.python#627), which
    leaks file descriptors and raises ResourceWarning at random times.
    """
    client.disconnect()
    client.loop_stop()
    client._reset_sockets()
