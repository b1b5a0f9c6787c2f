"""Deliver published alerts to subscribed channels (webhook POST, MQTT topic), logging every try.

A consumer of ``alert.published``: the bus handler only queues (it never does
I/O on the committing thread); one worker thread sends, retries with
exponential backoff, and records every attempt as ``alert.delivery`` with its
outcome. On start it re-queues what the log shows as not yet finally delivered,
so a restart loses no delivery (at-least-once; receivers deduplicate by the CAP
identifier).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from vigil.alerts.events import AlertDeliveryAttempted, AlertPublished
from vigil.alerts.settings import Channel, MqttChannel, WebhookChannel
from vigil.core.events import Recorded

log = logging.getLogger(__name__)

CAP_MEDIA = "application/cap+xml"


@dataclass(frozen=True, slots=True)
class Job:
    """One alert to one channel, and the attempt it is at."""

    alert_id: str
    xml: bytes
    channel: Channel
    attempt: int = 1


Record = Callable[[AlertDeliveryAttempted], None]


class Deliverer:
    """The delivery consumer: a queue, one worker, retries, and a log line per attempt."""

    def __init__(
        self,
        channels: list[Channel],
        *,
        record: Record,
        retries: int,
        backoff_s: float,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._channels = channels
        self._record = record
        self._retries = retries
        self._backoff = backoff_s
        self._timeout = timeout_s
        self._transport = transport
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._mqtt: dict[tuple[str, int], Any] = {}
        self.dropped = 0

    def on_record(self, rec: Recorded) -> None:
        """Bus handler: queue a published alert for every channel (no I/O here)."""
        if isinstance(rec.event, AlertPublished):
            self.enqueue(rec.event.alert_id, rec.event.xml.encode("utf-8"))

    def enqueue(self, alert_id: str, xml: bytes, *, only: set[str] | None = None) -> None:
        """Queue one alert for every channel (or the named ones)."""
        for channel in self._channels:
            if only is None or channel.name in only:
                try:
                    self._queue.put_nowait(Job(alert_id=alert_id, xml=xml, channel=channel))
                except queue.Full:
                    self.dropped += 1
                    log.warning(
                        "alert delivery queue full: %s to %s dropped", alert_id, channel.name
                    )

    def start(self) -> None:
        """Start the worker (idempotent)."""
        if self._thread is None and self._channels:
            self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
            self._thread.start()

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty and its jobs done; return whether that happened in time."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, name="alert-delivery-drain", daemon=True).start()
        return done.wait(timeout_s)

    def close(self) -> None:
        """Stop the worker and close connections (what is queued is re-queued from the log)."""
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout=15)
            self._thread = None
        if self._http is not None:
            self._http.close()
            self._http = None
        for client in self._mqtt.values():
            from vigil.ingest.mqtt import close_client  # noqa: PLC0415 - only when MQTT was used

            close_client(client)
        self._mqtt.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            finally:
                self._queue.task_done()

    def _deliver(self, job: Job) -> None:
        delay = self._backoff * (2 ** (job.attempt - 1))
        attempt = job.attempt
        while True:
            try:
                detail = self._send(job)
                ok = True
            except Exception as err:  # noqa: BLE001 - any failure is logged, retried, then final
                detail, ok = f"{type(err).__name__}: {err}"[:500], False
            final = ok or attempt > self._retries
            self._record(
                AlertDeliveryAttempted(
                    alert_id=job.alert_id,
                    channel=job.channel.name,
                    kind=job.channel.kind,
                    target=_target(job.channel),
                    attempt=attempt,
                    ok=ok,
                    detail=detail,
                    final=final,
                )
            )
            if final or self._stop.wait(delay):
                return
            attempt += 1
            delay *= 2

    def _send(self, job: Job) -> str:
        channel = job.channel
        if isinstance(channel, WebhookChannel):
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                )
            response = self._http.post(
                channel.url,
                content=job.xml,
                headers={"Content-Type": CAP_MEDIA, "X-Vigil-Alert": job.alert_id},
            )
            response.raise_for_status()
            return f"HTTP {response.status_code}"
        return self._publish(channel, job.xml)

    def _publish(self, channel: MqttChannel, body: bytes) -> str:
        key = (channel.host, channel.port)
        client = self._mqtt.get(key)
        if client is None:
            import paho.mqtt.client as mqtt  # noqa: PLC0415 - only when a channel is MQTT
            from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-alerts")
            client.connect(channel.host, channel.port, keepalive=30)
            client.loop_start()
            self._mqtt[key] = client
        info = client.publish(channel.topic, body, qos=1)
        info.wait_for_publish(timeout=self._timeout)
        if not info.is_published():
            raise TimeoutError(f"MQTT publish not acknowledged within {self._timeout} s")
        return f"MQTT QoS 1 acknowledged (mid {info.mid})"


def _target(channel: Channel) -> str:
    if isinstance(channel, WebhookChannel):
        return channel.url
    return f"mqtt://{channel.host}:{channel.port}/{channel.topic}"
