"""The ingest service: registry, parser, store, pipeline, offline monitor and MQTT, wired once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from vigil.auth.users import Users, UserStore
from vigil.bus import Bus
from vigil.core.clock import Clock
from vigil.core.errors import ConfigError
from vigil.core.ids import DeviceId
from vigil.core.ticker import Ticker
from vigil.ingest.broker import BrokerFiles
from vigil.ingest.model import Observation
from vigil.ingest.monitor import DeviceMonitor, DeviceState
from vigil.ingest.mqtt import MqttIngest
from vigil.ingest.ngsi import parse_notification
from vigil.ingest.parse import Limits, Parser, Scope
from vigil.ingest.pipeline import CommitResult, IngestPipeline, ObservationHandler
from vigil.ingest.registry import DeviceRegistry, load_devices_file
from vigil.ingest.settings import IngestSettings
from vigil.ingest.store import (
    IngestStats,
    LatestValue,
    ObservationHistory,
    ObservationStorage,
    ObservationStore,
)

OBSERVATIONS_FILE = "observations.sqlite3"
_ATTRS = msgspec.json.Decoder(dict[str, str | float | bool])


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
        monitor: bool = True,
        owns_device: Callable[[str], bool] | None = None,
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
        mqtt = settings.mqtt
        try:
            mqtt_password = mqtt.secret()
        except OSError as err:
            raise ConfigError(
                f"cannot read ingest.mqtt.password_file: {err}", field="ingest.mqtt.password_file"
            ) from err
        self.broker_files: BrokerFiles | None = None
        if mqtt.broker.password_file is not None and mqtt.broker.acl_file is not None:
            self.broker_files = BrokerFiles(
                password_file=mqtt.broker.password_file,
                acl_file=mqtt.broker.acl_file,
                registry=self.registry,
                ingest_user=mqtt.username,
                ingest_password=mqtt_password if mqtt.username is not None else None,
                reload_command=mqtt.broker.reload_command,
            )
            self.broker_files.write()
            self.registry.sinks.append(self.broker_files)
        self.parser = Parser(
            self.registry.devices,
            gateways=self.registry.gateway_devices,
            # When Vigil writes the broker's ACLs only registered gateways can publish
            # batches; refusing the others here too holds if the broker is misconfigured.
            registered_gateways_only=self.broker_files is not None,
            limits=Limits(
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
            owns=owns_device,
        )
        # Several processes: only those with the ingest role follow devices (each its
        # partitions of them, `owns_device`); an API process commits HTTP readings only.
        self._unsubscribe = (
            [self.pipeline.subscribe("device-monitor", self.monitor.seen)] if monitor else []
        )
        self.mqtt = MqttIngest(
            settings.mqtt,
            parser=self.parser,
            pipeline=self.pipeline,
            clock=clock,
            password=mqtt_password,
        )
        self.offline_ticker = Ticker("ingest-offline", settings.offline_check_s, self.monitor.check)
        self.purge_ticker = Ticker("ingest-dead-letter-purge", 3600.0, self.purge_dead_letters)
        self._started = False

    def subscribe(self, name: str, handler: ObservationHandler) -> Callable[[], None]:
        """Receive each committed batch of new observations (the rules engine's entry)."""
        return self.pipeline.subscribe(name, handler)

    def history(self, since: datetime) -> Iterator[list[Observation]]:
        """Yield the stored observations received since `since`, in commit order, in batches.

        What the rules replay at start-up to refill their windows. Readings of a
        device no longer registered are skipped (they could not be parsed today). An
        observation store that cannot read back (see `ObservationHistory`) yields nothing.
        """
        if not isinstance(self.observations, ObservationHistory):
            return
        devices = self.registry.devices
        for rows in self.observations.received_since(since):
            batch = []
            for _rowid, ident, device_id, stream, value, unit, observed, received, attrs in rows:
                device = devices.get(DeviceId(device_id))
                if device is None:
                    continue
                batch.append(
                    Observation(
                        id=ident,
                        device_id=device.id,
                        kind=device.kind,
                        stream=stream,
                        value=value,
                        unit=unit,
                        observed_at=datetime.fromtimestamp(observed, UTC),
                        received_at=datetime.fromtimestamp(received, UTC),
                        location=device.location,
                        zone=device.zone,
                        attrs=_ATTRS.decode(attrs) if attrs else {},
                    )
                )
            if batch:
                yield batch

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

    def post(self, body: bytes, *, source: str, scope: Scope | None) -> CommitResult:
        """Parse and store an HTTP body now; `scope`: the devices the sender may report for."""
        parsed = self.parser.body(body, self.clock.now(), source=source, scope=scope)
        return self.pipeline.commit(parsed)

    def notify(self, body: bytes, *, scope: Scope | None) -> CommitResult:
        """Parse and store an NGSI-LD notification now (entities mapped by the settings)."""
        parsed = parse_notification(
            self.parser,
            body,
            self.clock.now(),
            scope=scope,
            entities=self.settings.ngsi_entities,
        )
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
