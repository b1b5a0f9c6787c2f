"""Outbound notifications of rule firings: webhooks (HTTP POST) and MQTT topics.

A firing's notify action only logs a request (`NotificationRequested`); the
`Notifier`, a durable consumer of the log, hands each one to the outbox after
the commit. Delivery never blocks the engine: requests are queued (bounded; a
full queue drops and counts) and one worker thread delivers them with retries
and exponential backoff. The thread starts on the first notification and stops
on ``close()``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from vigil.bus import Bus, Unsubscribe
from vigil.core.events import Recorded
from vigil.ingest.mqtt import close_client
from vigil.rules.events import NotificationRequested

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to deliver: to a URL (webhook) or an MQTT topic."""

    kind: str  # "webhook" | "mqtt"
    target: str
    body: bytes
    rule: str


@dataclass(slots=True)
class OutboxStats:
    """Delivery counters."""

    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    last_error: str | None = None


class Outbox:
    """A bounded queue of deliveries and the worker that sends them."""

    def __init__(
        self,
        *,
        queue_size: int = 1000,
        retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        mqtt_host: str = "127.0.0.1",
        mqtt_port: int = 1883,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._queue: queue.Queue[Delivery | None] = queue.Queue(maxsize=queue_size)
        self._retries = retries
        self._backoff = backoff_s
        self._timeout = timeout_s
        self._mqtt_host = mqtt_host
        self._mqtt_port = mqtt_port
        self._transport = transport
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._mqtt: Any = None  # paho.mqtt.client.Client, created on first use
        self.stats = OutboxStats()

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; return False (and count it) when the queue is full."""
        self._ensure_worker()
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            self.stats.dropped += 1
            log.warning(
                "notification outbox full: dropped %s for rule %s", delivery.kind, delivery.rule
            )
            return False
        self.stats.queued += 1
        return True

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery was handled; return whether it finished in time."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, name="outbox-drain", daemon=True).start()
        return done.wait(timeout_s)

    def close(self) -> None:
        """Stop the worker (pending deliveries are abandoned) and close connections."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            thread.join(timeout=10)
            self._thread = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._mqtt is not None:
            close_client(self._mqtt)
            self._mqtt = None

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="rules-outbox", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, item: Delivery) -> None:
        delay = self._backoff
        for attempt in range(self._retries + 1):
            try:
                if item.kind == "webhook":
                    self._post(item)
                else:
                    self._publish(item)
            except Exception as err:  # noqa: BLE001 - any delivery failure is retried, then counted
                self.stats.last_error = f"{item.kind} {item.target}: {err}"
                if attempt == self._retries or self._stop.wait(delay):
                    self.stats.failed += 1
                    log.warning(
                        "rule %s: %s to %s failed: %s", item.rule, item.kind, item.target, err
                    )
                    return
                self.stats.retried += 1
                delay *= 2
            else:
                self.stats.sent += 1
                return

    def _post(self, item: Delivery) -> None:
        if self._http is None:
            self._http = httpx.Client(timeout=self._timeout, transport=self._transport)
        response = self._http.post(
            item.target, content=item.body, headers={"Content-Type": "application/json"}
        )
        response.raise_for_status()

    def _publish(self, item: Delivery) -> None:
        if self._mqtt is None:
            import paho.mqtt.client as mqtt  # noqa: PLC0415 - only when a rule publishes
            from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-rules")
            client.connect(self._mqtt_host, self._mqtt_port, keepalive=30)
            client.loop_start()
            self._mqtt = client
        info = self._mqtt.publish(item.target, item.body, qos=1)
        info.wait_for_publish(timeout=self._timeout)
        if not info.is_published():
            raise TimeoutError(f"MQTT publish not acknowledged within {self._timeout} s")


class Notifier:
    """Sends what rules asked for: a consumer of `rule.notification_requested` log events.

    It runs on its own bus thread from a durable cursor, after the firing's commit,
    so a slow or full outbox never holds the rules back; a request is handed to the
    outbox at least once (after a crash, those after the last saved cursor again).
    """

    def __init__(self, outbox: Outbox, *, consumer: str = "notifications") -> None:
        self._outbox = outbox
        self.consumer = consumer  # the name of its durable cursor

    def on_record(self, rec: Recorded) -> None:
        """Queue the delivery a logged request names (a full queue drops and counts it)."""
        ev = rec.event
        if isinstance(ev, NotificationRequested):
            self._outbox.submit(Delivery(ev.channel, ev.target, ev.body.encode("utf-8"), ev.ref))

    def attach(self, bus: Bus) -> Unsubscribe:
        """Start consuming the log's notification requests."""
        return bus.subscribe(self.consumer, self.on_record, kinds=(NotificationRequested,))
