"""The device registry: devices as registered in the event log, and their tokens.

The log is the truth: each registration is a `DeviceRegistered` event carrying
the whole definition (the latest one wins), so the registry is rebuilt from the
log at start-up. Event ids are derived from the definition, so loading the same
devices file twice appends nothing.

A device that posts over HTTP authenticates as the user ``device-<id>`` (role
``device``) with a token shown once at registration; over MQTT the same login
and token are its broker user name and password (`vigil.ingest.broker`). A
gateway or an NGSI-LD context broker is registered as a *gateway*: the login
``gateway-<id>`` with one token, scoped to the devices it reports for. A
``device``-role login that is neither reports for no device.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict
from pydantic import ValidationError as PydanticValidationError

from vigil.audit.roles import Role
from vigil.auth.users import Users, UserStore
from vigil.bus import Bus
from vigil.core.clock import Clock
from vigil.core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, EventId
from vigil.core.text import clean_line
from vigil.ingest.events import DeviceRegistered, GatewayRegistered
from vigil.ingest.model import Device, DeviceKind
from vigil.ingest.streams import COMMON, default_streams
from vigil.ingest.units import is_canonical

# Colons are allowed so a device can be registered under its NGSI-LD entity URN.
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
STREAM = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
GATEWAY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,55}$")
ID_PREFIX = "devreg:"
GATEWAY_PREFIX = "gwreg:"
USER_PREFIX = "device-"
GATEWAY_USER_PREFIX = "gateway-"


def _line(value: str | None) -> str | None:
    return None if value is None else clean_line(value)


class DeviceIn(BaseModel):
    """A device definition as given over HTTP or in a devices file."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[DeviceId, Field(pattern=DEVICE_ID.pattern, description="Unique device id.")]
    kind: DeviceKind = Field(description="What the device is.")
    lat: Annotated[float, Strict()] = Field(
        ge=-90, le=90, description="Latitude, decimal degrees (WGS84)."
    )
    lon: Annotated[float, Strict()] = Field(
        ge=-180, le=180, description="Longitude, decimal degrees (WGS84)."
    )
    zone: Annotated[str | None, AfterValidator(_line)] = Field(
        default=None, max_length=100, description="Zone it watches."
    )
    site: str = Field(
        default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="MQTT site segment."
    )
    streams: dict[str, str] | None = Field(
        default=None, description="Stream -> SI unit; omitted: the kind's conventional streams."
    )
    interval_s: Annotated[float, Strict()] = Field(
        gt=0, le=7 * 86400, description="Expected reporting interval, seconds."
    )
    label: Annotated[str, AfterValidator(_line)] = Field(
        default="", max_length=200, description="Human label."
    )

    def to_domain(self) -> Device:
        """Return the validated domain device."""
        return make_device(
            id=self.id,
            kind=self.kind,
            location=LatLon(self.lat, self.lon),
            zone=self.zone,
            site=self.site,
            streams=self.streams,
            interval_s=self.interval_s,
            label=self.label,
        )


class GatewayIn(BaseModel):
    """A gateway or context broker and the devices it may report for."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=GATEWAY_ID.pattern, description="Unique gateway id.")]
    devices: list[Annotated[DeviceId, Field(pattern=DEVICE_ID.pattern)]] = Field(
        min_length=1,
        max_length=10_000,
        description="Registered devices it may report for (its subscription's devices).",
    )
    label: Annotated[str, AfterValidator(_line)] = Field(
        default="", max_length=200, description="Human label."
    )


class Gateway(msgspec.Struct, frozen=True, kw_only=True):
    """A registered gateway: its devices are the only ones it may report for."""

    id: str
    devices: frozenset[DeviceId]
    label: str = ""


class CredentialSink(Protocol):
    """Told when device credentials change (the broker's password and ACL files)."""

    def issued(self, login: str, token: str) -> None:
        """A login got a new token (its MQTT password); older ones are revoked."""

    def changed(self) -> None:
        """Devices or gateways were registered or redefined (topics and scopes)."""


class DevicesFile(BaseModel):
    """A YAML devices file: ``devices: [ {id, kind, lat, lon, ...}, ... ]``."""

    model_config = ConfigDict(extra="forbid")
    devices: list[DeviceIn] = Field(description="The devices.")


def make_device(
    *,
    id: DeviceId,  # noqa: A002 - the domain's name for it
    kind: DeviceKind,
    location: LatLon,
    zone: str | None,
    site: str,
    streams: Mapping[str, str] | None,
    interval_s: float,
    label: str = "",
) -> Device:
    """Validate a device definition and fill in the kind's conventional streams."""
    if not DEVICE_ID.match(id):
        raise ValidationError(
            "device ids are 1-200 characters of A-Z a-z 0-9 . _ : - starting alphanumeric",
            field="id",
        )
    if not interval_s > 0:
        raise ValidationError("interval_s must be positive", field="interval_s")
    chosen = dict(streams) if streams else default_streams(kind)
    for name, spec in COMMON.items():
        chosen.setdefault(name, spec.unit)
    for name, unit in chosen.items():
        if not STREAM.match(name):
            raise ValidationError(
                f"stream name {name!r} must be 1-32 characters of a-z 0-9 _", field="streams"
            )
        if not is_canonical(unit):
            raise ValidationError(
                f"stream {name!r}: {unit!r} is not a canonical SI unit", field="streams"
            )
    return Device(
        id=id,
        kind=kind,
        location=location,
        zone=zone,
        site=site,
        streams=chosen,
        interval_s=float(interval_s),
        label=label,
    )


def load_devices_file(path: Path) -> list[Device]:
    """Read a YAML devices file."""
    try:
        data: Any = yaml.safe_load(path.read_text("utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read devices file {path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    try:
        parsed = DevicesFile.model_validate(data)
    except PydanticValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise ConfigError(f"{path}: {where}: {e['msg']}", field=where) from err
    try:
        return [d.to_domain() for d in parsed.devices]
    except ValidationError as err:
        raise ConfigError(f"{path}: {err}", field=err.field) from err


def _definition(device: Device) -> bytes:
    return msgspec.json.encode(device)


def _event(device: Device) -> DeviceRegistered:
    return DeviceRegistered(
        device_id=device.id,
        kind=device.kind,
        location=device.location,
        zone=device.zone,
        site=device.site,
        streams=device.streams,
        interval_s=device.interval_s,
        label=device.label,
    )


def _device(e: DeviceRegistered) -> Device:
    return Device(
        id=e.device_id,
        kind=e.kind,
        location=e.location,
        zone=e.zone,
        site=e.site,
        streams=dict(e.streams),
        interval_s=e.interval_s,
        label=e.label,
    )


def gateway_user_name(gateway_id: str) -> str:
    """Return the login of a gateway: ``gateway-<id>``."""
    return GATEWAY_USER_PREFIX + gateway_id


def user_name(device_id: str) -> str:
    """Return the login of a device: ``device-<id>``, made a valid login name.

    Ids that are not already one (a colon, more than 56 characters) get their
    other characters replaced and a digest of the whole id appended, so two ids
    never share a login.
    """
    lower = device_id.lower()
    if re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,55}", lower):
        return USER_PREFIX + lower
    safe = re.sub(r"[^a-z0-9._-]", ".", lower)[:40]
    return f"{USER_PREFIX}{safe}-{hashlib.sha256(device_id.encode()).hexdigest()[:12]}"


class DeviceRegistry:
    """Registered devices; `devices` is the live id -> Device mapping the parser reads."""

    def __init__(self, store: UserStore, bus: Bus, users: Users, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._users = users
        self._clock = clock
        self._lock = threading.Lock()
        self.devices: dict[DeviceId, Device] = {}
        self.gateways: dict[str, Gateway] = {}
        self.gateway_devices: dict[str, frozenset[DeviceId]] = {}  # live: the parser reads it
        self._by_user: dict[str, DeviceId] = {}
        self._last_event: dict[str, str] = {}
        self.sinks: list[CredentialSink] = []
        self.load()

    def load(self) -> None:
        """Rebuild the registry from the device and gateway events in the log."""
        for rec in self._store.events_with_prefix(ID_PREFIX):
            if isinstance(rec.event, DeviceRegistered):
                self._put(_device(rec.event), rec.id)
        for rec in self._store.events_with_prefix(GATEWAY_PREFIX):
            if isinstance(rec.event, GatewayRegistered):
                e = rec.event
                self.gateways[e.gateway_id] = Gateway(
                    id=e.gateway_id, devices=frozenset(e.devices), label=e.label
                )
                self.gateway_devices[e.gateway_id] = frozenset(e.devices)
                self._last_event[GATEWAY_PREFIX + e.gateway_id] = rec.id

    def follow(self, rec: Recorded) -> None:
        """Take in a device or gateway registered by another process (a bus consumer)."""
        e = rec.event
        with self._lock:
            if isinstance(e, DeviceRegistered):
                self._put(_device(e), rec.id)
            elif isinstance(e, GatewayRegistered):
                self.gateways[e.gateway_id] = Gateway(
                    id=e.gateway_id, devices=frozenset(e.devices), label=e.label
                )
                self.gateway_devices[e.gateway_id] = frozenset(e.devices)
                self._last_event[GATEWAY_PREFIX + e.gateway_id] = rec.id
            else:
                return
        self._changed()

    def _put(self, device: Device, event_id: str) -> None:
        self.devices[device.id] = device
        self._by_user[user_name(device.id)] = device.id
        self._last_event[device.id] = event_id

    def get(self, device_id: DeviceId) -> Device:
        """Return a device or raise NotFoundError."""
        device = self.devices.get(device_id)
        if device is None:
            raise NotFoundError(f"no device {device_id!r}", field="device_id")
        return device

    def all(self) -> list[Device]:
        """Return every device, by id."""
        return sorted(self.devices.values(), key=lambda d: d.id)

    def device_of_user(self, name: str) -> Device | None:
        """Return the device a login belongs to (None for gateways and brokers)."""
        ident = self._by_user.get(name)
        return None if ident is None else self.devices.get(ident)

    def scope_of_user(self, name: str) -> frozenset[str]:
        """Return the devices a ``device``-role login may report for (empty: none).

        A device's login reports for that device, a gateway's for its devices;
        any other login of the role (made by hand) is bound to nothing.
        """
        device = self.device_of_user(name)
        if device is not None:
            return frozenset({device.id})
        if name.startswith(GATEWAY_USER_PREFIX):
            gateway = self.gateways.get(name.removeprefix(GATEWAY_USER_PREFIX))
            if gateway is not None:
                return gateway.devices
        return frozenset()

    def register_gateway(
        self, gateway_id: str, devices: Iterable[DeviceId], *, label: str = "", actor: str
    ) -> Gateway:
        """Register or redefine a gateway and its devices (all must be registered)."""
        if not GATEWAY_ID.match(gateway_id):
            raise ValidationError(
                "gateway ids are 1-56 characters of a-z 0-9 . _ - starting alphanumeric",
                field="id",
            )
        chosen = frozenset(devices)
        unknown = sorted(d for d in chosen if d not in self.devices)
        if unknown:
            raise ValidationError(
                f"not registered devices: {', '.join(unknown[:10])}", field="devices"
            )
        if not chosen:
            raise ValidationError("a gateway reports for at least one device", field="devices")
        gateway = Gateway(id=gateway_id, devices=chosen, label=clean_line(label))
        with self._lock:
            if self.gateways.get(gateway_id) == gateway:
                return gateway
            key = GATEWAY_PREFIX + gateway_id
            prev = self._last_event.get(key, "")
            definition = msgspec.json.encode([gateway_id, sorted(chosen), gateway.label])
            digest = hashlib.sha256(prev.encode() + definition).hexdigest()[:20]
            event = GatewayRegistered(
                gateway_id=gateway_id, devices=sorted(chosen), label=gateway.label
            )
            pending = Pending(
                id=EventId(f"{key}:{digest}"),
                at=self._clock.now(),
                actor=actor,
                cause=None,
                event=event,
            )
            recorded = self._store.append([pending])
            self.gateways[gateway_id] = gateway
            self.gateway_devices[gateway_id] = chosen
            self._last_event[key] = pending.id
        self._bus.publish(recorded)
        self._changed()
        return gateway

    def issue_gateway_token(self, gateway_id: str, *, actor: str) -> str:
        """Create the gateway's login if needed, revoke its old tokens, issue a new one."""
        if gateway_id not in self.gateways:
            raise NotFoundError(f"no gateway {gateway_id!r}", field="gateway_id")
        return self._issue(gateway_user_name(gateway_id), f"gateway {gateway_id}", actor)

    def _changed(self) -> None:
        for sink in self.sinks:
            sink.changed()

    def register(self, devices: Iterable[Device], *, actor: str) -> list[Device]:
        """Register or redefine devices in one log append; return those that changed."""
        with self._lock:
            pending: list[Pending] = []
            changed: list[Device] = []
            seen: dict[str, str] = {}  # lower-case id -> id, within this call
            now = self._clock.now()
            for device in devices:
                lower = device.id.lower()
                other = self._by_user.get(user_name(device.id))
                if (other is not None and other != device.id) or seen.get(
                    lower, device.id
                ) != device.id:
                    raise ValidationError(
                        f"device id {device.id!r} differs only in case from another device",
                        field="id",
                    )
                seen[lower] = device.id
                if self.devices.get(device.id) == device:
                    continue
                prev = self._last_event.get(device.id, "")
                digest = hashlib.sha256(prev.encode() + _definition(device)).hexdigest()[:20]
                event_id = EventId(f"{ID_PREFIX}{device.id}:{digest}")
                pending.append(
                    Pending(id=event_id, at=now, actor=actor, cause=None, event=_event(device))
                )
                changed.append(device)
            if not pending:
                return []
            recorded = self._store.append(pending)
            for p, device in zip(pending, changed, strict=True):
                self._put(device, p.id)
        self._bus.publish(recorded)
        self._changed()
        return changed

    def issue_token(self, device_id: DeviceId, *, actor: str) -> str:
        """Create the device's login if needed, revoke its old tokens, issue a new one."""
        self.get(device_id)
        return self._issue(user_name(device_id), f"device {device_id}", actor)

    def _issue(self, name: str, label: str, actor: str) -> str:
        existing = self._store.user(name)
        if existing is None:
            self._users.add(name, Role.DEVICE, None, actor=actor, device_login=True)
        elif existing.role != Role.DEVICE.value:
            # Never revoke-and-reissue a login of another role: that hands its powers over.
            raise ConflictError(
                f"login {name!r} exists with role {existing.role}; a device token may only "
                "belong to a device login",
                field="id",
            )
        self._users.revoke_tokens(name)
        token = self._users.issue_token(name, label=label, actor=actor, ttl=None)
        for sink in self.sinks:
            sink.issued(name, token)
        return token
