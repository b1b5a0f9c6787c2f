"""NGSI-LD notifications of smart-data-models entities → observations.

A context broker (Orion-LD, Scorpio, ...) POSTs
``{"id": ..., "type": "Notification", "subscriptionId": ..., "notifiedAt": ...,
"data": [entity, ...]}``. Entities come *normalised* (``{"LAeq": {"type":
"Property", "value": 61.2, "unitCode": "2N", "observedAt": ...}}``) or
*key-value* (``{"LAeq": 61.2}``); both are read.

| entity type          | attribute                 | stream  |
|----------------------|---------------------------|---------|
| NoiseLevelObserved   | LAeq, LAmax               | laeq, lamax |
| CrowdFlowObserved    | peopleCount, density      | count, density |
| WaterObserved        | height (or waterLevel)    | level   |
| FloodMonitoring      | currentLevel              | level   |
| Alert                | severity (+ category)     | alert   |

The device is the one the settings map the entity id to
(``ingest.ngsi_entities``), else the entity's ``refDevice`` (``alertSource``
for an Alert), else the entity itself; each is tried as the whole URN (devices may be registered
under an entity's URN) and then as its local id, everything after
``urn:ngsi-ld:<Type>:`` (``urn:ngsi-ld:NoiseLevelObserved:nm-001`` → ``nm-001``).
Units come from UN/CEFACT ``unitCode`` (MTR, CMT, 2N, ...). The
observation id is the device, stream and observation time, so a re-sent
notification is a duplicate, not a second reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from vigil.core.errors import GeoError
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import Observation
from vigil.ingest.parse import (
    Parsed,
    Parser,
    Reject,
    RejectReason,
    Scope,
    UtcTimestamp,
    WireObservation,
)

# entity type -> (attribute names → stream, default unit)
ATTRIBUTES: dict[str, list[tuple[tuple[str, ...], str, str]]] = {
    "NoiseLevelObserved": [(("LAeq",), "laeq", "dB(A)"), (("LAmax",), "lamax", "dB(A)")],
    "CrowdFlowObserved": [(("peopleCount",), "count", "people"), (("density",), "density", "")],
    "WaterObserved": [(("height", "waterLevel", "level"), "level", "m")],
    "FloodMonitoring": [(("currentLevel",), "level", "m")],
    "Alert": [(("severity",), "alert", "level")],
}
TIME_ATTRS = (
    "dateObservedTo",
    "dateObserved",
    "observationDateTime",  # FloodMonitoring (IUDX-derived models)
    "dateIssued",
    "dateObservedFrom",
)
SEVERITY = {"informational": 0.0, "low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0}


def _prop(entity: Mapping[str, Any], name: str) -> tuple[Any, str | None, Any]:
    """Return (value, unitCode, observedAt) of an attribute in either representation."""
    raw = entity.get(name)
    if isinstance(raw, dict) and raw.get("type") in {"Property", "GeoProperty", "Relationship"}:
        value = raw.get("object") if raw.get("type") == "Relationship" else raw.get("value")
        unit = raw.get("unitCode")
        return value, unit if isinstance(unit, str) else None, raw.get("observedAt")
    return raw, None, None


def _date(value: Any) -> Any:
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    # The official normalised FloodMonitoring example writes a time as
    # {"type": "string", "format": "date-time", "value": ...}.
    if isinstance(value, dict) and value.get("format") == "date-time" and "value" in value:
        return value["value"]
    return value


def _candidates(urn: Any) -> list[str]:
    """Return the device ids an entity URN may name: the URN itself, then its local id.

    ``urn:ngsi-ld:<Type>:<local id>``: the local id is everything after the
    type, colons included (``...:Vitoria-2016-12-28T11:00:00_...`` is one id;
    splitting at the last colon would cut inside the timestamp).
    """
    if isinstance(urn, list) and urn:
        urn = urn[0]
    if not isinstance(urn, str) or not urn:
        return []
    out = [urn]
    parts = urn.split(":", 3)
    if len(parts) == 4 and parts[0].lower() == "urn" and parts[1].lower() == "ngsi-ld" and parts[3]:
        out.append(parts[3])
    return out


def device_of(
    parser: Parser,
    entity: Mapping[str, Any],
    ref: str,
    entities: Mapping[str, str] | None = None,
) -> DeviceId | None:
    """Return the device an entity reports for: as configured, its reference, or itself.

    A configured mapping of the entity id wins outright. Then the reference
    (``refDevice``, or ``alertSource`` for an Alert) wins over the entity; each
    candidate is tried as the whole URN, then its local id, and the first one
    registered is the device. None registered: the first candidate, so the
    rejection names what was looked for.
    """
    ident = entity.get("id")
    if entities and isinstance(ident, str) and ident in entities:
        return DeviceId(entities[ident])
    candidates = _candidates(_prop(entity, ref)[0]) + _candidates(ident)
    for c in candidates:
        if parser.has_device(c):
            return DeviceId(c)
    return DeviceId(candidates[0]) if candidates else None


def _timestamp(entity: Mapping[str, Any], observed_at: Any) -> datetime:
    candidates = [("observedAt", observed_at)] + [
        (n, _date(_prop(entity, n)[0])) for n in TIME_ATTRS
    ]
    for name, value in candidates:
        if value is None:
            continue
        try:
            ts: datetime = msgspec.convert(value, type=UtcTimestamp)
        except msgspec.ValidationError as err:
            raise Reject(RejectReason.BAD_TIMESTAMP, name, f"{name}: {err}") from None
        return ts
    raise Reject(
        RejectReason.MISSING_FIELD,
        "dateObserved",
        "no observation time (observedAt, dateObserved or dateIssued)",
    )


def _check_location(entity: Mapping[str, Any]) -> None:
    loc, _, _ = _prop(entity, "location")
    if loc is None:
        return
    coords = loc.get("coordinates") if isinstance(loc, dict) else None
    if not isinstance(loc, dict) or loc.get("type") != "Point":
        # Polygons and lines describe areas; the device's registered point is used.
        return
    if not (
        isinstance(coords, list)
        and len(coords) >= 2
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise Reject(RejectReason.BAD_LOCATION, "location", "Point needs [lon, lat] numbers")
    try:
        LatLon(float(coords[1]), float(coords[0]))
    except GeoError as err:
        raise Reject(RejectReason.BAD_LOCATION, "location", err.message) from None


def parse_notification(
    parser: Parser,
    payload: bytes,
    now: datetime,
    *,
    scope: Scope | None = None,
    entities: Mapping[str, str] | None = None,
) -> Parsed:
    """Parse an NGSI-LD notification body; each entity attribute is accepted or rejected alone."""
    out = Parsed()
    source = "ngsi-ld"
    if len(payload) > parser.limits.max_payload_bytes:
        return parser.body(payload, now, source=source)  # yields the oversized rejection
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError as err:
        r = Reject(RejectReason.MALFORMED_JSON, None, f"not valid JSON: {err}")
        out.rejections.append(parser.reject(r, source, None, payload))
        return out
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        r = Reject(RejectReason.MISSING_FIELD, "data", "a Notification needs a 'data' list")
        out.rejections.append(parser.reject(r, source, None, payload))
        return out
    for i, entity in enumerate(data):
        raw = msgspec.json.encode(entity)
        try:
            _entity(parser, entity, now, index=i, only=scope, out=out, entities=entities)
        except Reject as r:
            out.rejections.append(parser.reject(r, source, None, raw, index=i))
    return out


def _entity(
    parser: Parser,
    entity: Any,
    now: datetime,
    *,
    index: int,
    only: Scope | None,
    out: Parsed,
    entities: Mapping[str, str] | None = None,
) -> None:
    prefix = f"data[{index}]"
    if not isinstance(entity, dict):
        raise Reject(RejectReason.WRONG_TYPE, prefix, "an entity must be a JSON object")
    etype = entity.get("type")
    mapping = ATTRIBUTES.get(etype) if isinstance(etype, str) else None
    if mapping is None:
        raise Reject(
            RejectReason.UNSUPPORTED_ENTITY,
            f"{prefix}.type",
            f"entity type {etype!r} is not one of {', '.join(sorted(ATTRIBUTES))}",
        )
    ref = "alertSource" if etype == "Alert" else "refDevice"
    device_id = device_of(parser, entity, ref, entities)
    if device_id is None:
        raise Reject(RejectReason.MISSING_FIELD, f"{prefix}.id", "no entity id or refDevice")
    _check_location(entity)
    found = False
    for names, stream, default_unit in mapping:
        for name in names:
            value, unit_code, observed_at = _prop(entity, name)
            if value is None:
                continue
            found = True
            raw = msgspec.json.encode({name: entity.get(name)})
            try:
                obs = _observation(
                    parser,
                    entity,
                    now,
                    attr=(name, value, unit_code or default_unit or None, observed_at),
                    target=(device_id, stream),
                    where=f"{prefix}.{name}",
                    only=only,
                )
            except Reject as r:
                out.rejections.append(
                    parser.reject(r, "ngsi-ld", None, raw, device_id, index=index)
                )
            else:
                out.observations.append(obs)
            break
    if not found:
        wanted = ", ".join(n for names, _, _ in mapping for n in names)
        raise Reject(RejectReason.MISSING_FIELD, prefix, f"{etype} carries none of {wanted}")


def _observation(
    parser: Parser,
    entity: Mapping[str, Any],
    now: datetime,
    *,
    attr: tuple[str, Any, str | None, Any],
    target: tuple[DeviceId, str],
    where: str,
    only: Scope | None,
) -> Observation:
    name, value, unit, observed_at = attr
    device_id, stream = target
    attrs: dict[str, str | float | bool] = {}
    if stream == "alert":
        if not isinstance(value, str) or value.lower() not in SEVERITY:
            raise Reject(
                RejectReason.OUT_OF_RANGE,
                where,
                f"severity must be one of {', '.join(SEVERITY)}, not {value!r}",
            )
        value = SEVERITY[value.lower()]
        for key, out_key in (("category", "category"), ("subCategory", "sub_category")):
            v, _, _ = _prop(entity, key)
            if isinstance(v, str):
                attrs[out_key] = v[:200]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Reject(RejectReason.WRONG_TYPE, where, f"{name} must be a number, not {value!r}")
    ts = _timestamp(entity, observed_at)
    wire = WireObservation(ts=ts, value=float(value), id=ts.isoformat(), unit=unit, attrs=attrs)
    return parser.build(
        wire, device_id, stream, now, site=None, prefix=where, only=only, source_tag="ngsi:"
    )
