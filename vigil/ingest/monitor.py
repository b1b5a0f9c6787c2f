"""Offline detection: a device silent for longer than interval * grace goes offline.

`check()` runs periodically (a Ticker in the running app; tests call it with a
ManualClock) and raises `DeviceOffline`; the next accepted reading raises
`DeviceOnline`. Both go to the main log and the bus. Event ids are derived from
the silence they describe (device + last time seen), so a crash between
logging and recording the state cannot log the same transition twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum

from vigil.bus import Bus
from vigil.core.clock import Clock
from vigil.core.events import Event, Pending, Recorded
from vigil.core.ids import DeviceId, EventId
from vigil.ingest.events import DeviceOffline, DeviceOnline
from vigil.ingest.model import Observation
from vigil.ingest.registry import DeviceRegistry
from vigil.ingest.store import ObservationStorage
from vigil.store.ports import EventLog


class DeviceState(StrEnum):
    """Whether a device is reporting."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # registered, not heard from yet, not yet overdue


def _stamp(at: datetime | None) -> str:
    return "never" if at is None else at.isoformat()


class DeviceMonitor:
    """Track when each device was last heard from; raise offline/online transitions."""

    def __init__(
        self,
        *,
        registry: DeviceRegistry,
        observations: ObservationStorage,
        store: EventLog,
        bus: Bus,
        clock: Clock,
        grace: float,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self._registry = registry
        self._owns = owns  # a worker judges only the devices of its partitions
        self._obs = observations
        self._store = store
        self._bus = bus
        self._clock = clock
        self._grace = grace
        self._lock = threading.Lock()
        self._since = clock.now()  # the baseline of devices never heard from
        self._last_seen: dict[str, datetime] = observations.last_seen()
        self._offline: dict[str, datetime | None] = observations.offline_devices()

    def state(self, device_id: str) -> DeviceState:
        """Return a device's current state."""
        with self._lock:
            if device_id in self._offline:
                return DeviceState.OFFLINE
            return DeviceState.ONLINE if device_id in self._last_seen else DeviceState.UNKNOWN

    def last_seen(self, device_id: str) -> datetime | None:
        """Return when a device last had a reading accepted."""
        with self._lock:
            return self._last_seen.get(device_id)

    def seen(self, observations: Sequence[Observation]) -> list[Recorded]:
        """Note accepted readings (a pipeline subscriber); raise DeviceOnline where due."""
        back: list[tuple[DeviceId, datetime | None]] = []
        with self._lock:
            for o in observations:
                self._last_seen[o.device_id] = o.received_at
            if self._offline:
                for device_id in {o.device_id for o in observations}:
                    if device_id in self._offline:
                        back.append((device_id, self._offline.pop(device_id)))
        events: list[Event] = []
        ids: list[EventId] = []
        for device_id, last in back:
            device = self._registry.devices.get(device_id)
            zone = device.zone if device else None
            events.append(DeviceOnline(device_id=device_id, offline_since=last, zone=zone))
            ids.append(EventId(f"devon:{device_id}:{_stamp(last)}"))
        return self._emit(events, ids, online=True)

    def check(self) -> list[Recorded]:
        """Raise DeviceOffline for every device silent beyond its interval * grace."""
        now = self._clock.now()
        events: list[Event] = []
        ids: list[EventId] = []
        with self._lock:
            for device in list(self._registry.devices.values()):
                if device.id in self._offline or (
                    self._owns is not None and not self._owns(device.id)
                ):
                    continue
                last = self._last_seen.get(device.id)
                silent = (now - (last or self._since)).total_seconds()
                if silent > device.interval_s * self._grace:
                    self._offline[device.id] = last
                    events.append(
                        DeviceOffline(
                            device_id=device.id, last_seen=last, silent_s=silent, zone=device.zone
                        )
                    )
                    ids.append(EventId(f"devoff:{device.id}:{_stamp(last)}"))
        return self._emit(events, ids, online=False)

    def _emit(self, events: list[Event], ids: list[EventId], *, online: bool) -> list[Recorded]:
        if not events:
            return []
        now = self._clock.now()
        recorded = self._store.append(
            [
                Pending(id=i, at=now, actor="ingest", cause=None, event=e)
                for i, e in zip(ids, events, strict=True)
            ]
        )
        states: list[tuple[str, bool, datetime, datetime | None]] = []
        for e in events:
            assert isinstance(e, DeviceOffline | DeviceOnline)
            last = e.last_seen if isinstance(e, DeviceOffline) else now
            states.append((e.device_id, online, now, last))
        self._obs.set_device_states(states)
        self._bus.publish(recorded)
        return recorded
