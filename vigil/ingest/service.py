"""The ingest service: registry, parser, store, pipeline, offline monitor and MQTT, wired once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from vigil.auth.users import Users, UserStore
from vigil.bus import Bus
from vigil.core.clock import Clock
from vigil.core.ticker import Ticker
from vigil.ingest.monitor import DeviceMonitor, DeviceState
from vigil.ingest.mqtt import MqttIngest
from vigil.ingest.ngsi import parse_notification
from vigil.ingest.parse import Limits, Parser
from vigil.ingest.pipeline import CommitResult, IngestPipeline, ObservationHandler
from vigil.ingest.registry import DeviceRegistry, load_devices_file
from vigil.ingest.settings import IngestSettings
from vigil.ingest.store import IngestStats, LatestValue, ObservationStorage, ObservationStore

OBSERVATIONS_FILE = "observations.sqlite3"


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device with its current state and latest values (for the API and CLI)."""

    state: DeviceState
    latest: list[LatestValue]


class Ingest:
    """Everything device ingest needs at run time; `start()`/`close()` run its threads."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        data_dir: Path,
        store: UserStore,
        bus: Bus,
        users: Users,
        clock: Clock,
        observations: ObservationStorage | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        # The composition root passes another adapter (PostgreSQL); else a file in data_dir.
        self.observations: ObservationStorage = observations or ObservationStore(
            data_dir / OBSERVATIONS_FILE, synchronous=settings.synchronous
        )
        self.registry = DeviceRegistry(store, bus, users, clock)
        if settings.devices_file is not None:
            self.registry.register(load_devices_file(settings.devices_file), actor="config")
        self.parser = Parser(
            self.registry.devices,
            Limits(
                max_payload_bytes=settings.max_payload_bytes,
                max_batch=settings.max_batch,
                max_future_s=settings.max_future_s,
                max_age_s=settings.max_age_s,
            ),
        )
        self.pipeline = IngestPipeline(
            self.observations, clock, bus, max_batch_obs=settings.commit_batch
        )
        self._bus = bus
        self.monitor = DeviceMonitor(
            registry=self.registry,
            observations=self.observations,
            store=store,
            bus=bus,
            clock=clock,
            grace=settings.offline_grace,
        )
        self._unsubscribe = [self.pipeline.subscribe("device-monitor", self.monitor.seen)]
        self.mqtt = MqttIngest(
            settings.mqtt, parser=self.parser, pipeline=self.pipeline, clock=clock
        )
        self.offline_ticker = Ticker("ingest-offline", settings.offline_check_s, self.monitor.check)
        self.purge_ticker = Ticker("ingest-dead-letter-purge", 3600.0, self.purge_dead_letters)
        self._started = False

    def subscribe(self, name: str, handler: ObservationHandler) -> Callable[[], None]:
        """Receive each committed batch of new observations (the rules engine's entry)."""
        return self.pipeline.subscribe(name, handler)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything received is committed and every consumer has handled it."""
        return self.pipeline.drain(timeout) and self._bus.drain(timeout)

    def start(self) -> None:
        """Start the writer, the offline check and (if enabled) the MQTT subscriber."""
        if self._started:
            return
        self._started = True
        self.pipeline.start()
        self.offline_ticker.start()
        self.purge_ticker.start()
        if self.settings.mqtt.enabled:
            self.mqtt.start()

    def close(self) -> None:
        """Stop MQTT first (nothing new arrives), then commit what is queued, then close."""
        if self._started:
            self.mqtt.stop()
            self.offline_ticker.stop()
            self.purge_ticker.stop()
            self.pipeline.close()
            self._started = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()  # the monitor handles what was already committed, then stops
        self._unsubscribe = []
        self.observations.close()

    # -------------------------------------------------------------- HTTP/CSV

    def post(self, body: bytes, *, source: str, only_device: str | None) -> CommitResult:
        """Parse and store an HTTP body now (single object or batch)."""
        parsed = self.parser.body(body, self.clock.now(), source=source, only_device=only_device)
        return self.pipeline.commit(parsed)

    def notify(self, body: bytes, *, only_device: str | None) -> CommitResult:
        """Parse and store an NGSI-LD notification now."""
        parsed = parse_notification(self.parser, body, self.clock.now(), only_device=only_device)
        return self.pipeline.commit(parsed)

    def purge_dead_letters(self) -> int:
        """Delete dead letters past their retention; return how many."""
        keep = timedelta(days=self.settings.dead_letter_retention_days)
        return self.observations.purge_dead_letters(self.clock.now() - keep)

    def stats(self) -> IngestStats:
        """Return counts: stored, and not stored per reason."""
        return self.observations.stats()

    def status(self, device_id: str) -> DeviceStatus:
        """Return a device's state and latest values."""
        return DeviceStatus(
            state=self.monitor.state(device_id), latest=self.observations.latest(device_id)
        )

    def statuses(self) -> dict[str, DeviceStatus]:
        """Return every registered device's state and latest values."""
        latest: dict[str, list[LatestValue]] = {}
        for v in self.observations.latest():
            latest.setdefault(v.device_id, []).append(v)
        return {
            d.id: DeviceStatus(state=self.monitor.state(d.id), latest=latest.get(d.id, []))
            for d in self.registry.all()
        }
