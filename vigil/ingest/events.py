"""Device lifecycle events: these go in the main (hash-chained) log; observations do not."""

from __future__ import annotations

from datetime import datetime

from vigil.core.events import Event, register
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind


class DeviceEvent(Event, frozen=True, kw_only=True):
    """An event on one device's stream."""

    device_id: DeviceId

    def stream(self) -> str:
        """Return ``device/<id>``."""
        return f"device/{self.device_id}"


@register
class DeviceRegistered(DeviceEvent, frozen=True, kw_only=True, tag="device.registered"):
    """A device joined (or was redefined in) the registry; the latest registration wins."""

    kind: DeviceKind
    location: LatLon
    zone: str | None
    site: str
    streams: dict[str, str]
    interval_s: float
    label: str = ""


@register
class DeviceOffline(DeviceEvent, frozen=True, kw_only=True, tag="device.offline"):
    """A device has been silent for longer than its interval times the grace factor."""

    last_seen: datetime | None  # None: never reported since registration
    silent_s: float
    zone: str | None = None


@register
class DeviceOnline(DeviceEvent, frozen=True, kw_only=True, tag="device.online"):
    """A device that was offline reported again."""

    offline_since: datetime | None
    zone: str | None = None


@register
class GatewayRegistered(Event, frozen=True, kw_only=True, tag="gateway.registered"):
    """A gateway or context broker was given (or changed) the devices it may report for."""

    gateway_id: str
    devices: list[DeviceId]
    label: str = ""

    def stream(self) -> str:
        """Return ``gateway/<id>``."""
        return f"gateway/{self.gateway_id}"
