"""Wire data → typed, validated, normalised observations, or rejections naming a reason.

Pure: bytes in, `Parsed` out; no I/O, no clock (the caller passes `now`). Every
input yields either observations or rejections, never an exception: a
rejection carries a stable `reason` (the counter key), the `field` at fault,
a human `detail`, and the raw bytes to keep in the dead-letter store.

Wire format (MQTT; HTTP accepts the same objects):

- single: topic ``vigil/<site>/devices/<device_id>/<stream>``, payload
  ``{"seq": 17, "ts": "2026-05-01T12:00:00+02:00", "value": 61.5, "unit": "dBA",
  "attrs": {"class": "impulse"}}``; ``"id": "<message id>"`` may replace ``seq``.
- batch (gateway): topic ``vigil/<site>/gateways/<gateway_id>/batch``, payload
  ``{"observations": [{"device_id": ..., "stream": ..., "seq": ..., "ts": ...,
  "value": ..., "unit": ..., "attrs": ...}, ...]}``; each item stands or falls alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from vigil.core.ids import DeviceId
from vigil.ingest.model import Device, Observation
from vigil.ingest.streams import DESCRIPTIVE_ATTRS, StreamSpec, spec_for
from vigil.ingest.units import UNITS, UnitMismatch, convert


class RejectReason(StrEnum):
    """Why a message (or one observation in it) was not stored: a stable counter key."""

    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    BAD_TOPIC = "bad_topic"
    TOPIC_MISMATCH = "topic_mismatch"
    WRONG_SITE = "wrong_site"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_STREAM = "unknown_stream"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_UNIT = "bad_unit"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_ATTRS = "bad_attrs"
    IDENTITY_ATTR = "identity_attr"
    BATCH_TOO_LARGE = "batch_too_large"
    FORBIDDEN = "forbidden"
    BAD_LOCATION = "bad_location"
    UNSUPPORTED_ENTITY = "unsupported_entity"
    DUPLICATE = "duplicate"
    PARSER_ERROR = "parser_error"  # a bug in Vigil, not in the message: kept for diagnosis


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A message, or one observation in it, that was not stored, and why."""

    reason: RejectReason
    field: str | None
    detail: str
    source: str  # mqtt | http | ngsi-ld | csv
    topic: str | None
    raw: bytes
    device_id: str | None = None
    index: int | None = None  # position in a batch


@dataclass(slots=True)
class Parsed:
    """What one message yielded."""

    observations: list[Observation] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        """Append another message's results."""
        self.observations.extend(other.observations)
        self.rejections.extend(other.rejections)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Input limits; anything beyond them is rejected, counted and dead-lettered."""

    max_payload_bytes: int = 256 * 1024
    max_batch: int = 100
    max_future_s: float = 300.0
    max_age_s: float | None = None
    max_attrs: int = 16
    max_attr_chars: int = 200
    max_raw_kept: int = 64 * 1024  # dead-letter keeps at most this many bytes of a message


UtcTimestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Scope = frozenset[str]  # the devices a login (device, gateway) may report for
AttrValue = str | float | bool


class WireObservation(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One observation as a device sends it."""

    ts: UtcTimestamp
    value: float | bool
    seq: int | None = None
    id: str | None = None
    unit: str | None = None
    attrs: dict[str, AttrValue] = {}
    device_id: DeviceId | None = None
    stream: str | None = None


class _WireBatch(msgspec.Struct, forbid_unknown_fields=True):
    observations: list[msgspec.Raw]


class _TypedBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A whole gateway batch decoded in one call (the fast path)."""

    observations: list[WireObservation]


class Reject(Exception):  # noqa: N818 - a control-flow signal inside the parser
    """Raised inside the parser; always turned into a Rejection."""

    def __init__(self, reason: RejectReason, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.field = field
        self.detail = detail


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")
_UNKNOWN = re.compile(r"unknown field `(?P<name>[^`]+)`")
_ID = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")
_MAX_SEQ = 2**63 - 1
_DECODE_ITEM = msgspec.json.Decoder(WireObservation)
_DECODE_BATCH = msgspec.json.Decoder(_WireBatch)
_DECODE_TYPED_BATCH = msgspec.json.Decoder(_TypedBatch)

# (device as registered, the stream's unit, its spec): the fast path's per-stream lookup.
_StreamEntry = tuple[Device, str, StreamSpec]


def schema_reject(err: msgspec.ValidationError, prefix: str = "") -> Reject:
    """Translate a msgspec validation error into a reason and the field at fault."""
    text = str(err)
    m = _AT.search(text)
    path = m.group("path") if m else ""
    detail = text[: m.start()] if m else text
    for pattern, reason in (
        (_MISSING, RejectReason.MISSING_FIELD),
        (_UNKNOWN, RejectReason.UNKNOWN_FIELD),
    ):
        found = pattern.search(detail)
        if found:
            name = found.group("name")
            return Reject(reason, _join(prefix, f"{path}.{name}" if path else name), detail)
    last = path.rsplit(".", 1)[-1]
    if last == "ts":
        reason = RejectReason.BAD_TIMESTAMP
    elif "out of range" in detail:
        reason = RejectReason.OUT_OF_RANGE
    else:
        reason = RejectReason.WRONG_TYPE
    return Reject(reason, _join(prefix, path) or None, detail)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


class Parser:
    """Turn wire messages into observations, checked against the device registry."""

    def __init__(
        self,
        devices: Mapping[DeviceId, Device],
        limits: Limits | None = None,
        *,
        fast: bool = True,
        gateways: Mapping[str, frozenset[DeviceId]] | None = None,
        registered_gateways_only: bool = False,
    ) -> None:
        self._devices = devices
        # gateway id -> the devices its batches may carry; a gateway not in it is
        # refused when registered_gateways_only (the broker's ACLs are Vigil's).
        self._gateways: Mapping[str, frozenset[DeviceId]] = {} if gateways is None else gateways
        self._registered_gateways_only = registered_gateways_only
        self.limits = limits or Limits()
        self._fast_path = fast  # False: the checked path only (tests compare the two)
        self._streams: dict[tuple[str, str], _StreamEntry] = {}
        self._factors: dict[tuple[str, str], tuple[float, float] | None] = {}
        self._future = timedelta(seconds=self.limits.max_future_s)
        self._max_age = (
            None if self.limits.max_age_s is None else timedelta(seconds=self.limits.max_age_s)
        )

    # ----------------------------------------------------------------- MQTT

    def has_device(self, device_id: str) -> bool:
        """Return whether a device id is registered."""
        return device_id in self._devices

    def mqtt(self, topic: str, payload: bytes, now: datetime) -> Parsed:
        """Parse one MQTT message (single reading or gateway batch)."""
        out = Parsed()
        if len(payload) > self.limits.max_payload_bytes:
            out.rejections.append(self._oversized("mqtt", topic, payload))
            return out
        parts = topic.split("/")
        if len(parts) == 5 and parts[0] == "vigil" and parts[2] == "devices":
            site, device_id, stream = parts[1], DeviceId(parts[3]), parts[4]
            fast = (
                self._fast_single(payload, device_id, stream, now, site)
                if self._fast_path
                else None
            )
            if fast is not None:
                out.observations.append(fast)
                return out
            try:
                item = _decode_item(payload)
                obs = self.build(item, device_id, stream, now, site=site, prefix="")
            except Reject as r:
                out.rejections.append(self.reject(r, "mqtt", topic, payload, device_id))
            else:
                out.observations.append(obs)
            return out
        if len(parts) == 5 and parts[0] == "vigil" and parts[2:5:2] == ["gateways", "batch"]:
            scope = self._gateways.get(parts[3])
            if scope is None and self._registered_gateways_only:
                detail = f"gateway {parts[3]!r} is not registered: it may report for no device"
                refused = Reject(RejectReason.FORBIDDEN, "topic", detail)
                out.rejections.append(self.reject(refused, "mqtt", topic, payload))
                return out
            return self.batch(payload, now, source="mqtt", topic=topic, site=parts[1], scope=scope)
        detail = (
            "topic must be vigil/<site>/devices/<device_id>/<stream> "
            "or vigil/<site>/gateways/<gateway_id>/batch"
        )
        out.rejections.append(
            self.reject(Reject(RejectReason.BAD_TOPIC, "topic", detail), "mqtt", topic, payload)
        )
        return out

    # ------------------------------------------------------ batches and bodies

    def body(
        self, payload: bytes, now: datetime, *, source: str, scope: Scope | None = None
    ) -> Parsed:
        """Parse an HTTP body: one object with device_id and stream, or a batch."""
        out = Parsed()
        if len(payload) > self.limits.max_payload_bytes:
            out.rejections.append(self._oversized(source, None, payload))
            return out
        # A single observation cannot hold an "observations" key (unknown fields are refused).
        if b'"observations"' in payload:
            return self.batch(payload, now, source=source, topic=None, scope=scope)
        try:
            item = _decode_item(payload)
            obs = self.build(
                item, item.device_id, item.stream, now, site=None, prefix="", only=scope
            )
        except Reject as r:
            out.rejections.append(self.reject(r, source, None, payload, _device_of(payload)))
        else:
            out.observations.append(obs)
        return out

    def batch(
        self,
        payload: bytes,
        now: datetime,
        *,
        source: str,
        topic: str | None,
        site: str | None = None,
        scope: Scope | None = None,
    ) -> Parsed:
        """Parse ``{"observations": [...]}``; each item is accepted or rejected on its own.

        With a `scope`, only those devices' observations are accepted (the others
        are refused as forbidden): what a device or gateway login may report.
        """
        fast = self._fast_batch(payload, now, site, scope) if self._fast_path else None
        if fast is not None:
            return Parsed(observations=fast)
        out = Parsed()
        try:
            items = _DECODE_BATCH.decode(payload).observations
        except msgspec.ValidationError as err:
            out.rejections.append(self.reject(schema_reject(err), source, topic, payload))
            return out
        except msgspec.DecodeError as err:
            r = Reject(RejectReason.MALFORMED_JSON, None, f"not valid JSON: {err}")
            out.rejections.append(self.reject(r, source, topic, payload))
            return out
        if len(items) > self.limits.max_batch:
            detail = f"{len(items)} observations in one message; at most {self.limits.max_batch}"
            r = Reject(RejectReason.BATCH_TOO_LARGE, "observations", detail)
            out.rejections.append(self.reject(r, source, topic, payload))
            return out
        for i, raw in enumerate(items):
            prefix = f"observations[{i}]"
            try:
                try:
                    item = _DECODE_ITEM.decode(raw)
                except msgspec.ValidationError as err:
                    raise schema_reject(err, prefix) from None
                obs = self.build(
                    item,
                    item.device_id,
                    item.stream,
                    now,
                    site=site,
                    prefix=prefix,
                    only=scope,
                )
            except Reject as r:
                rej = self.reject(r, source, topic, bytes(raw), _device_of(bytes(raw)), index=i)
                out.rejections.append(rej)
            else:
                out.observations.append(obs)
        return out

    # ------------------------------------------------------------- fast path
    #
    # The checked path (`build`) raises a `Reject` naming the reason and field;
    # the fast path below accepts only what it can see is valid without raising
    # and returns None otherwise, and the caller then takes the checked path
    # (for a batch: the whole message, item by item, from its raw bytes). So a
    # message yields exactly what the checked path alone would yield.

    def _fast_single(
        self, payload: bytes, device_id: DeviceId, stream: str, now: datetime, site: str
    ) -> Observation | None:
        try:
            w = _DECODE_ITEM.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if (w.device_id is not None and w.device_id != device_id) or (
            w.stream is not None and w.stream != stream
        ):
            return None
        window = self._window(now)
        return self._fast(w, device_id, stream, now, window=window, site=site, only=None)

    def _fast_batch(
        self, payload: bytes, now: datetime, site: str | None, only: Scope | None
    ) -> list[Observation] | None:
        """Every observation of a batch, or None if any item needs the checked path."""
        try:
            items = _DECODE_TYPED_BATCH.decode(payload).observations
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if len(items) > self.limits.max_batch:
            return None
        window = self._window(now)
        fast = self._fast
        out: list[Observation] = []
        for w in items:
            device_id, stream = w.device_id, w.stream
            if device_id is None or stream is None:
                return None
            obs = fast(w, device_id, stream, now, window=window, site=site, only=only)
            if obs is None:
                try:  # valid but off the fast path (message ids, attrs, ...)
                    obs = self.build(w, device_id, stream, now, site=site, prefix="", only=only)
                except Reject:
                    return None
            out.append(obs)
        return out

    def _window(self, now: datetime) -> tuple[datetime, datetime | None]:
        """Return the newest and oldest acceptable reading time at `now`."""
        return now + self._future, None if self._max_age is None else now - self._max_age

    def _entry(self, device: Device, stream: str) -> _StreamEntry | None:
        key = (device.id, stream)
        entry = self._streams.get(key)
        if entry is not None and entry[0] is device:  # a redefined device is looked up again
            return entry
        unit = device.streams.get(stream)
        if unit is None:
            return None
        entry = (device, unit, spec_for(device.kind, stream, unit))
        self._streams[key] = entry
        return entry

    def _factor(self, unit: str, to: str) -> tuple[float, float] | None:
        key = (unit, to)
        if key in self._factors:
            return self._factors[key]
        d = UNITS.get(unit) or UNITS.get(unit.strip())
        factor = None if d is None or d.canonical != to else (d.factor, d.offset)
        self._factors[key] = factor
        return factor

    def _fast(
        self,
        w: WireObservation,
        device_id: DeviceId,
        stream: str,
        now: datetime,
        *,
        window: tuple[datetime, datetime | None],
        site: str | None,
        only: Scope | None,
    ) -> Observation | None:
        device = self._devices.get(device_id)
        entry = None if device is None else self._admit(device, stream, site, only)
        if entry is None:
            return None
        device, unit, spec = entry
        seq = w.seq
        ts = _fast_ts(w.ts, window)
        value = self._fast_value(w, unit, spec)
        if seq is None or not 0 <= seq <= _MAX_SEQ or ts is None or value is None:
            return None
        attrs = w.attrs
        if attrs and not self._attrs_ok(attrs, spec):
            return None
        return _observation(
            device, stream, f"{device_id}:{stream}:{seq}", value, unit, ts, now, attrs
        )

    def _admit(
        self, device: Device, stream: str, site: str | None, only: Scope | None
    ) -> _StreamEntry | None:
        if (only is not None and device.id not in only) or (
            site is not None and site not in {"+", device.site}
        ):
            return None
        return self._entry(device, stream)

    def _fast_value(self, w: WireObservation, unit: str, spec: StreamSpec) -> float | None:
        raw = w.value
        if isinstance(raw, bool):
            return (1.0 if raw else 0.0) if spec.flag else None
        if not math.isfinite(raw):
            return None
        if w.unit is not None and w.unit != unit:
            factor = self._factor(w.unit, unit)
            if factor is None:
                return None
            if factor != (1.0, 0.0):
                raw = raw * factor[0] + factor[1]
        value = float(raw)
        if (spec.flag and value not in {0.0, 1.0}) or not spec.low <= value <= spec.high:
            return None
        return value

    def _attrs_ok(self, attrs: dict[str, AttrValue], spec: StreamSpec) -> bool:
        try:
            self._check_attrs(attrs, spec.attr_values, "")
        except Reject:
            return False
        return True

    # ------------------------------------------------------------ validation

    def build(
        self,
        w: WireObservation,
        device_id: DeviceId | None,
        stream: str | None,
        now: datetime,
        *,
        site: str | None,
        prefix: str,
        only: Scope | None = None,
        source_tag: str = "",
    ) -> Observation:
        """Validate one wire observation against its device and stream; normalise it."""
        if w.device_id is not None and device_id != w.device_id:
            detail = f"payload device_id {w.device_id!r} differs from the topic's {device_id!r}"
            raise Reject(RejectReason.TOPIC_MISMATCH, _join(prefix, "device_id"), detail)
        if w.stream is not None and stream != w.stream:
            detail = f"payload stream {w.stream!r} differs from the topic's {stream!r}"
            raise Reject(RejectReason.TOPIC_MISMATCH, _join(prefix, "stream"), detail)
        if not device_id:
            raise Reject(RejectReason.MISSING_FIELD, _join(prefix, "device_id"), "no device_id")
        if not stream:
            raise Reject(RejectReason.MISSING_FIELD, _join(prefix, "stream"), "no stream")
        device = self._devices.get(device_id)
        if device is None:
            raise Reject(
                RejectReason.UNKNOWN_DEVICE,
                _join(prefix, "device_id"),
                f"device {device_id!r} is not registered",
            )
        if only is not None and device_id not in only:
            raise Reject(
                RejectReason.FORBIDDEN,
                _join(prefix, "device_id"),
                _forbidden(only, device_id),
            )
        if site is not None and site not in {"+", device.site}:
            raise Reject(
                RejectReason.WRONG_SITE,
                "topic",
                f"device {device_id!r} belongs to site {device.site!r}, not {site!r}",
            )
        unit = device.streams.get(stream)
        if unit is None:
            known = ", ".join(sorted(device.streams))
            raise Reject(
                RejectReason.UNKNOWN_STREAM,
                _join(prefix, "stream"),
                f"device {device_id!r} has no stream {stream!r} (it has: {known})",
            )
        spec = spec_for(device.kind, stream, unit)
        key = self._key(w, prefix)
        observed_at = self._timestamp(w.ts, now, prefix)
        value = self._value(w, spec.flag, unit, prefix)
        if not spec.low <= value <= spec.high:
            raise Reject(
                RejectReason.OUT_OF_RANGE,
                _join(prefix, "value"),
                f"{value:g} {unit} is outside {spec.low:g}..{spec.high:g} for {stream}",
            )
        attrs = w.attrs
        if attrs:
            self._check_attrs(attrs, spec.attr_values, prefix)
        ident = f"{device_id}:{stream}:{source_tag}{key}"
        return _observation(device, stream, ident, value, unit, observed_at, now, attrs)

    @staticmethod
    def _key(w: WireObservation, prefix: str) -> str:
        if w.seq is not None:
            if not 0 <= w.seq <= _MAX_SEQ:
                raise Reject(
                    RejectReason.OUT_OF_RANGE, _join(prefix, "seq"), "seq must be 0..2^63-1"
                )
            return str(w.seq)
        if w.id is not None:
            if not _ID.match(w.id):
                raise Reject(
                    RejectReason.WRONG_TYPE,
                    _join(prefix, "id"),
                    "id must be 1-128 characters of A-Z a-z 0-9 . _ : @ + -",
                )
            return w.id
        raise Reject(
            RejectReason.MISSING_FIELD,
            _join(prefix, "seq"),
            "a seq (per-device-stream counter) or a message id is needed to deduplicate",
        )

    def _timestamp(self, ts: datetime, now: datetime, prefix: str) -> datetime:
        if ts.tzinfo is not UTC:
            try:
                ts = ts.astimezone(UTC)
            except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
                raise Reject(
                    RejectReason.BAD_TIMESTAMP,
                    _join(prefix, "ts"),
                    "timestamp is out of range once converted to UTC",
                ) from None
        ahead = (ts - now).total_seconds()
        if ahead > self.limits.max_future_s:
            raise Reject(
                RejectReason.FUTURE_TIMESTAMP,
                _join(prefix, "ts"),
                f"timestamp is {ahead:.0f} s in the future (limit {self.limits.max_future_s:g} s)",
            )
        max_age = self.limits.max_age_s
        if max_age is not None and -ahead > max_age:
            raise Reject(
                RejectReason.STALE_TIMESTAMP,
                _join(prefix, "ts"),
                f"timestamp is {-ahead:.0f} s old (limit {max_age:g} s)",
            )
        return ts

    @staticmethod
    def _value(w: WireObservation, flag: bool, unit: str, prefix: str) -> float:
        raw = w.value
        if isinstance(raw, bool):
            if not flag:
                raise Reject(
                    RejectReason.WRONG_TYPE,
                    _join(prefix, "value"),
                    f"a number in {unit} is expected, not a boolean",
                )
            return 1.0 if raw else 0.0
        if not math.isfinite(raw):
            raise Reject(RejectReason.OUT_OF_RANGE, _join(prefix, "value"), "value is not finite")
        if w.unit is not None and w.unit != unit:
            try:
                raw = convert(raw, w.unit, unit)
            except UnitMismatch as err:
                raise Reject(RejectReason.BAD_UNIT, _join(prefix, "unit"), str(err)) from None
        if flag and raw not in {0.0, 1.0}:
            raise Reject(
                RejectReason.OUT_OF_RANGE,
                _join(prefix, "value"),
                f"{raw:g} is not a flag (true/false or 1/0)",
            )
        return float(raw)

    def _check_attrs(
        self,
        attrs: dict[str, AttrValue],
        vocab: tuple[tuple[str, frozenset[str]], ...],
        prefix: str,
    ) -> None:
        where = _join(prefix, "attrs")
        if len(attrs) > self.limits.max_attrs:
            raise Reject(
                RejectReason.BAD_ATTRS, where, f"at most {self.limits.max_attrs} attributes"
            )
        for k, v in attrs.items():
            if k not in DESCRIPTIVE_ATTRS:
                raise Reject(
                    RejectReason.IDENTITY_ATTR,
                    f"{where}.{k}",
                    f"attribute {k!r} is not a descriptive attribute of a place "
                    f"(allowed: {', '.join(sorted(DESCRIPTIVE_ATTRS))}); Vigil records places",
                )
            if len(k) > 64 or (isinstance(v, str) and len(v) > self.limits.max_attr_chars):
                raise Reject(RejectReason.BAD_ATTRS, f"{where}.{k}", "attribute too long")
            if isinstance(v, float) and not math.isfinite(v):
                raise Reject(RejectReason.BAD_ATTRS, f"{where}.{k}", "attribute is not finite")
        for name, allowed in vocab:
            got = attrs.get(name)
            if got is not None and got not in allowed:
                raise Reject(
                    RejectReason.BAD_ATTRS,
                    f"{where}.{name}",
                    f"{name} must be one of {', '.join(sorted(allowed))}, not {got!r}",
                )

    # ------------------------------------------------------------- rejections

    def reject(
        self,
        r: Reject,
        source: str,
        topic: str | None,
        raw: bytes,
        device_id: str | None = None,
        *,
        index: int | None = None,
    ) -> Rejection:
        """Return the Rejection of a message (its raw bytes capped at max_raw_kept).

        Every non-descriptive attribute's value is redacted before anything is
        kept: a dead letter must not keep the plate or name that was refused for
        being one (nor one that rode along in a message refused for another reason).
        """
        raw = redact_identity(
            raw[: self.limits.max_raw_kept], strict=r.reason is RejectReason.IDENTITY_ATTR
        )
        return Rejection(
            reason=r.reason,
            field=r.field,
            detail=r.detail,
            source=source,
            topic=topic,
            raw=raw[: self.limits.max_raw_kept],
            device_id=device_id,
            index=index,
        )

    def _oversized(self, source: str, topic: str | None, payload: bytes) -> Rejection:
        detail = (
            f"message of {len(payload)} bytes exceeds {self.limits.max_payload_bytes}; "
            f"first {self.limits.max_raw_kept} bytes kept"
        )
        r = Reject(RejectReason.OVERSIZED, None, detail)
        return self.reject(r, source, topic, payload)


REDACTED = "[redacted]"


def redact_identity(raw: bytes, *, strict: bool) -> bytes:
    """Return `raw` with the value of every non-descriptive attribute redacted.

    Every ``attrs`` object anywhere in the message is cleaned. When `strict` (the
    message was refused for an identity attribute) and it is not whole JSON (cut
    at the size limit, malformed), it cannot be cleaned with certainty, so
    nothing of it is kept.
    """
    if b"attrs" not in raw:
        return raw
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return b"" if strict else raw

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "attrs" and isinstance(v, dict):
                    out[k] = {
                        ak: (av if ak in DESCRIPTIVE_ATTRS else REDACTED) for ak, av in v.items()
                    }
                else:
                    out[k] = clean(v)
            return out
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return msgspec.json.encode(clean(doc))


def _forbidden(scope: Scope, device_id: DeviceId) -> str:
    if len(scope) == 1:
        (own,) = scope
        return f"device {own!r} may only report its own observations, not {device_id!r}"
    if not scope:
        return "this login is bound to no registered device or gateway: it may report for none"
    return f"this gateway may not report for device {device_id!r} (not among its devices)"


def _fast_ts(ts: datetime, window: tuple[datetime, datetime | None]) -> datetime | None:
    """Return the reading's time in UTC if it is within the window, else None."""
    if ts.tzinfo is not UTC:
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:
            return None  # the checked path names the reason
    latest, oldest = window
    if ts > latest or (oldest is not None and ts < oldest):
        return None
    return ts


def _decode_item(payload: bytes) -> WireObservation:
    try:
        return _DECODE_ITEM.decode(payload)
    except msgspec.ValidationError as err:
        raise schema_reject(err) from None
    except msgspec.DecodeError as err:
        raise Reject(RejectReason.MALFORMED_JSON, None, f"not valid JSON: {err}") from None


class _DeviceOnly(msgspec.Struct):
    device_id: str | None = None


_DECODE_DEVICE = msgspec.json.Decoder(_DeviceOnly)


def _device_of(raw: bytes) -> str | None:
    """Best effort: the device a rejected object claims to come from (for the dead-letter)."""
    try:
        return _DECODE_DEVICE.decode(raw).device_id
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _observation(  # noqa: PLR0917 - a positional constructor on the hot path
    device: Device,
    stream: str,
    ident: str,
    value: float,
    unit: str,
    observed_at: datetime,
    received_at: datetime,
    attrs: dict[str, AttrValue],
) -> Observation:
    """Build an accepted observation of a device's stream (its place comes from the device)."""
    return Observation(
        id=ident,
        device_id=device.id,
        kind=device.kind,
        stream=stream,
        value=value,
        unit=unit,
        observed_at=observed_at,
        received_at=received_at,
        location=device.location,
        zone=device.zone,
        attrs=attrs,
    )
