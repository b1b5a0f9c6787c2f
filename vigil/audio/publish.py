"""Readings to Vigil's ingest over MQTT, in its wire format, as the existing device kinds.

A microphone is two Vigil devices: a ``noise_meter`` (streams ``laeq`` and
``lamax`` every report period, and an ``alert`` for an ordinance exceedance)
and an ``acoustic_detector`` (``laeq`` every report period, and ``impulse`` per
event: the LCpeak in dB with attrs ``class`` and ``confidence``). Topics are
``vigil/<site>/devices/<device>/<stream>``; payloads ``{"seq", "ts", "value",
"unit", "attrs"}`` (see vigil/ingest/parse.py). The sequence number is the
reading's time in milliseconds, so a restarted worker never reuses one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.audio.detect import AcousticEvent, EventClass
from vigil.audio.levels import PeriodLevels
from vigil.audio.ordinance import Exceedance
from vigil.audio.pipeline import FeatureFrame
from vigil.ingest.mqtt import close_client

log = logging.getLogger(__name__)

# The vocabulary of Vigil's rules (attrs.class of the impulse stream).
RULE_CLASS = {
    EventClass.IMPULSE: "impulse",
    EventClass.GUNSHOT_LIKE: "gunshot",
    EventClass.EXPLOSION_LIKE: "explosion",
    EventClass.GLASS_BREAK_LIKE: "glass_break",
    EventClass.SCREAM_LIKE: "scream",
}
ALERT_MINOR = 2.0  # NGSI-LD Alert severity scale 0..4 used by the `alert` stream


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    retain: bool = False


def reading(
    site: str,
    device: str,
    stream: str,
    at: datetime,
    *,
    value: float,
    unit: str,
    **attrs: str | float,
) -> Message:
    """Return one reading in the ingest wire format."""
    body: dict[str, object] = {
        "seq": int(at.timestamp() * 1000),
        "ts": at.isoformat(),
        "value": round(value, 1),
        "unit": unit,
    }
    if attrs:
        body["attrs"] = attrs
    return Message(f"vigil/{site}/devices/{device}/{stream}", json.dumps(body).encode())


def quality(levels: PeriodLevels) -> str:
    """Return the data-quality flag of a period: ok, clipping (input overloaded) or silent."""
    if levels.clipped > 0:
        return "clipping"
    if levels.lafmax < 10.0:
        return "silent"  # below any real microphone's noise floor: a dead input
    return "ok"


class MicMessages:
    """Turn one microphone's outputs into messages (pure; `send` does the I/O)."""

    def __init__(
        self,
        *,
        site: str,
        mic_id: str,
        noise_device: str | None,
        acoustic_device: str | None,
        send: Callable[[Message], None],
        publish_features: bool = False,
    ) -> None:
        self.site = site
        self.mic_id = mic_id
        self.noise = noise_device
        self.acoustic = acoustic_device
        self._send = send
        self._features = publish_features
        self.sent = 0
        self.last_laeq: float | None = None
        self.events = 0
        self._frames: list[FeatureFrame] = []
        self.band_centres: tuple[float, ...] = ()

    def _out(self, m: Message) -> None:
        self.sent += 1
        self._send(m)

    def second(self, at: datetime, levels: PeriodLevels) -> None:
        """Publish the second's features when configured to (Vigil stores the report period)."""
        if not self._features:
            return
        frames, self._frames = self._frames, []
        body = {
            "ts": at.isoformat(),
            "laeq_125ms": [f.laeq for f in frames],
            "lafmax_125ms": [f.lafmax for f in frames],
            "lcpeak_125ms": [f.lcpeak for f in frames],
            "laeq": round(levels.laeq, 1),
            "bands_hz": list(self.band_centres),
            "bands_db": [round(b, 1) for b in levels.bands],
        }
        topic = f"vigil/{self.site}/audio/{self.mic_id}/features"
        self._out(Message(topic, json.dumps(body).encode()))

    def report(self, at: datetime, levels: PeriodLevels) -> None:
        """Publish the period's LAeq and LAFmax, stamped at the period's end."""
        end = at + timedelta(seconds=levels.duration)
        q = quality(levels)
        self.last_laeq = levels.laeq
        if self.noise:
            self._out(
                reading(
                    self.site, self.noise, "laeq", end, value=levels.laeq, unit="dBA", quality=q
                )
            )
            self._out(
                reading(
                    self.site, self.noise, "lamax", end, value=levels.lafmax, unit="dBA", quality=q
                )
            )
        if self.acoustic:
            self._out(
                reading(
                    self.site, self.acoustic, "laeq", end, value=levels.laeq, unit="dBA", quality=q
                )
            )

    def event(self, at: datetime, event: AcousticEvent) -> None:
        """Publish an event as an impulse reading: its LCpeak, class and confidence."""
        self.events += 1
        attrs: dict[str, str | float] = {
            "class": RULE_CLASS[event.cls],
            "confidence": event.confidence,
        }
        if self.acoustic:
            self._out(
                reading(
                    self.site,
                    self.acoustic,
                    "impulse",
                    at,
                    value=event.lcpeak,
                    unit="dB",
                    **attrs,
                )
            )

    def exceedance(self, exceedance: Exceedance) -> None:
        """Publish an ordinance exceedance as the noise meter's alert (minor severity)."""
        if self.noise:
            end = exceedance.start + timedelta(seconds=exceedance.duration_s)
            self._out(
                reading(
                    self.site,
                    self.noise,
                    "alert",
                    end,
                    value=ALERT_MINOR,
                    unit="level",
                    category="noise",
                    sub_category="ordinance_exceedance",
                )
            )

    def features(self, at: datetime, features: FeatureFrame) -> None:
        """Keep a frame's broadband levels for the second's features message."""
        if self._features:
            self._frames.append(features)


class MqttPublisher:
    """A QoS 1 publisher with paho's background reconnect."""

    def __init__(self, *, host: str, port: int, client_id: str) -> None:
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        self._client.reconnect_delay_set(1, 30)
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self.published = 0
        self._unacked: list[mqtt.MQTTMessageInfo] = []
        self._started = False

    def start(self) -> None:
        """Connect in the background (a missing broker is retried)."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._started = True

    def wait_connected(self, timeout_s: float) -> bool:
        """Return whether the client connected within the timeout."""
        deadline = threading.Event()
        for _ in range(int(timeout_s * 20)):
            if self._client.is_connected():
                return True
            deadline.wait(0.05)
        return self._client.is_connected()

    def send(self, m: Message) -> None:
        """Queue a message (QoS 1; paho keeps it until the broker acknowledges)."""
        with self._lock:
            info = self._client.publish(m.topic, m.payload, qos=1, retain=m.retain)
            self.published += 1
            self._unacked = [i for i in self._unacked if not i.is_published()]
            self._unacked.append(info)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", m.topic, mqtt.error_string(info.rc))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued message is acknowledged; return whether they all were."""
        stop = threading.Event()
        for _ in range(int(timeout_s * 20)):
            if self.pending() == 0:
                return True
            stop.wait(0.05)
        return self.pending() == 0

    def pending(self) -> int:
        """Return how many published messages the broker has not acknowledged yet."""
        with self._lock:
            self._unacked = [i for i in self._unacked if not i.is_published()]
            return len(self._unacked)

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        if self._started:
            self._started = False
            close_client(self._client)
