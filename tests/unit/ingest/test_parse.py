"""The payload parser: every input yields observations or rejections naming a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.ingest.conftest import NOW, TS, device
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind
from vigil.ingest.parse import Limits, Parser, RejectReason

TOPIC = "vigil/hel/devices/noise-meter/laeq"


def _one(parser: Parser, topic: str, payload: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    out = parser.mqtt(topic, raw, NOW)
    assert len(out.observations) + len(out.rejections) == 1
    return out.observations[0] if out.observations else out.rejections[0]


def test_single_reading_is_normalised(parser: Parser) -> None:
    obs = _one(parser, TOPIC, {"seq": 7, "ts": TS, "value": 61.5, "unit": "dBA"})
    assert obs.id == "noise-meter:laeq:7"
    assert obs.value == 61.5
    assert obs.unit == "dB(A)"
    assert obs.kind is DeviceKind.NOISE_METER
    assert obs.observed_at == NOW
    assert obs.observed_at.tzinfo is UTC
    assert obs.zone == "harbour"


def test_units_are_converted_to_the_stream_unit(parser: Parser) -> None:
    topic = "vigil/hel/devices/flood-gauge/level"
    obs = _one(parser, topic, {"seq": 1, "ts": TS, "value": 321, "unit": "cm"})
    assert obs.value == 3.21
    assert obs.unit == "m"
    topic = "vigil/hel/devices/weather-station/temp_c"
    assert _one(
        parser, topic, {"seq": 1, "ts": TS, "value": 95, "unit": "F"}
    ).value == pytest.approx(35.0)


def test_booleans_become_flags_and_message_ids_dedupe(parser: Parser) -> None:
    topic = "vigil/hel/devices/smoke-panel/alarm"
    obs = _one(parser, topic, {"id": "evt-42", "ts": TS, "value": True})
    assert (obs.value, obs.unit, obs.id) == (1.0, "", "smoke-panel:alarm:evt-42")


def test_camera_attrs_are_places_not_identities(parser: Parser) -> None:
    topic = "vigil/hel/devices/camera-analytics/count"
    ok = _one(parser, topic, {"seq": 1, "ts": TS, "value": 12, "attrs": {"class": "person"}})
    assert ok.attrs == {"class": "person"}
    bad = _one(parser, topic, {"seq": 2, "ts": TS, "value": 1, "attrs": {"plate": "ABC-123"}})
    assert (bad.reason, bad.field) == (RejectReason.IDENTITY_ATTR, "attrs.plate")
    bad = _one(parser, topic, {"seq": 3, "ts": TS, "value": 1, "attrs": {"class": "face"}})
    assert (bad.reason, bad.field) == (RejectReason.BAD_ATTRS, "attrs.class")


def _reject(parser: Parser, payload: Any, topic: str = TOPIC) -> tuple[str, str | None]:
    r = _one(parser, topic, payload)
    assert r.raw, "a rejection keeps the raw message"
    return r.reason.value, r.field


def test_each_kind_of_bad_input_names_its_reason(parser: Parser) -> None:
    future = (NOW + timedelta(hours=1)).isoformat()
    cases: list[tuple[Any, str, tuple[str, str | None]]] = [
        (b"{not json", TOPIC, ("malformed_json", None)),
        (
            {"seq": 1, "ts": TS, "value": 1},
            "vigil/hel/devices/nobody/laeq",
            ("unknown_device", "device_id"),
        ),
        (
            {"seq": 1, "ts": TS, "value": 1},
            "vigil/hel/devices/noise-meter/pm25",
            ("unknown_stream", "stream"),
        ),
        ({"seq": 1, "ts": TS, "value": "loud"}, TOPIC, ("wrong_type", "value")),
        ({"seq": 1, "ts": TS, "value": True}, TOPIC, ("wrong_type", "value")),
        ({"seq": 1, "ts": TS, "value": 999}, TOPIC, ("out_of_range", "value")),
        ({"seq": -1, "ts": TS, "value": 50}, TOPIC, ("out_of_range", "seq")),
        ({"seq": 1, "ts": future, "value": 50}, TOPIC, ("future_timestamp", "ts")),
        ({"seq": 1, "ts": "2026-06-01T10:00:00", "value": 50}, TOPIC, ("bad_timestamp", "ts")),
        ({"seq": 1, "ts": "yesterday", "value": 50}, TOPIC, ("bad_timestamp", "ts")),
        ({"seq": 1, "value": 50}, TOPIC, ("missing_field", "ts")),
        ({"ts": TS, "value": 50}, TOPIC, ("missing_field", "seq")),
        ({"seq": 1, "ts": TS, "value": 50, "colour": "red"}, TOPIC, ("unknown_field", "colour")),
        ({"seq": 1, "ts": TS, "value": 50, "unit": "cm"}, TOPIC, ("bad_unit", "unit")),
        (
            {"seq": 1, "ts": TS, "value": 50},
            "vigil/other/devices/noise-meter/laeq",
            ("wrong_site", "topic"),
        ),
        ({"seq": 1, "ts": TS, "value": 50}, "city/noise", ("bad_topic", "topic")),
        (
            {"seq": 1, "ts": TS, "value": 50, "device_id": "x"},
            TOPIC,
            ("topic_mismatch", "device_id"),
        ),
    ]
    for payload, topic, expected in cases:
        assert _reject(parser, payload, topic) == expected, payload


def test_oversized_payload_is_rejected_and_its_head_kept(devices: Any) -> None:
    parser = Parser(devices, Limits(max_payload_bytes=2048, max_raw_kept=1024))
    r = _one(parser, TOPIC, b"x" * 5000)
    assert r.reason is RejectReason.OVERSIZED
    assert len(r.raw) == 1024


def test_stale_readings_rejected_when_configured(devices: Any) -> None:
    parser = Parser(devices, Limits(max_age_s=3600))
    old = (NOW - timedelta(days=1)).isoformat()
    r = _one(parser, TOPIC, {"seq": 1, "ts": old, "value": 50})
    assert r.reason is RejectReason.STALE_TIMESTAMP


def _batch(items: list[Any]) -> bytes:
    return json.dumps({"observations": items}).encode()


def test_gateway_batch_items_stand_or_fall_alone(parser: Parser) -> None:
    items = [
        {"device_id": "noise-meter", "stream": "laeq", "seq": 1, "ts": TS, "value": 55},
        {"device_id": "noise-meter", "stream": "laeq", "seq": 2, "ts": TS, "value": "x"},
        {"device_id": "ghost", "stream": "laeq", "seq": 1, "ts": TS, "value": 55},
        {
            "device_id": "flood-gauge",
            "stream": "level",
            "seq": 1,
            "ts": TS,
            "value": 120,
            "unit": "cm",
        },
    ]
    out = parser.mqtt("vigil/hel/gateways/gw-1/batch", _batch(items), NOW)
    assert [o.id for o in out.observations] == ["noise-meter:laeq:1", "flood-gauge:level:1"]
    assert out.observations[1].value == 1.2
    assert [(r.reason.value, r.field, r.index) for r in out.rejections] == [
        ("wrong_type", "observations[1].value", 1),
        ("unknown_device", "observations[2].device_id", 2),
    ]
    assert json.loads(out.rejections[1].raw)["device_id"] == "ghost"
    assert out.rejections[1].device_id == "ghost"


def test_batch_limits(devices: Any) -> None:
    parser = Parser(devices, Limits(max_batch=2))
    item = {"device_id": "noise-meter", "stream": "laeq", "seq": 1, "ts": TS, "value": 55}
    out = parser.mqtt("vigil/hel/gateways/gw/batch", _batch([item] * 3), NOW)
    assert [r.reason for r in out.rejections] == [RejectReason.BATCH_TOO_LARGE]
    out = parser.mqtt("vigil/hel/gateways/gw/batch", b'{"observations": 5}', NOW)
    assert [(r.reason, r.field) for r in out.rejections] == [
        (RejectReason.WRONG_TYPE, "observations")
    ]


def test_http_body_single_and_own_device_only(parser: Parser) -> None:
    single = {"device_id": "noise-meter", "stream": "laeq", "seq": 1, "ts": TS, "value": 50}
    out = parser.body(
        json.dumps(single).encode(), NOW, source="http", scope=frozenset({"noise-meter"})
    )
    assert len(out.observations) == 1
    out = parser.body(
        json.dumps(single).encode(), NOW, source="http", scope=frozenset({"flood-gauge"})
    )
    assert [(r.reason, r.field) for r in out.rejections] == [(RejectReason.FORBIDDEN, "device_id")]
    out = parser.body(_batch([single, single]), NOW, source="http", scope=None)
    assert len(out.observations) == 2


# --------------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["seq", "id", "ts", "value", "unit", "attrs", "device_id", "stream", "observations"]
)
_values = st.one_of(
    _json,
    st.sampled_from([TS, "2026-06-01T08:00:00Z", "2999-01-01T00:00:00Z", "noise-meter", "laeq"]),
)
_objects = st.dictionaries(_keys, _values, max_size=8)
_topics = st.sampled_from(
    [
        TOPIC,
        "vigil/hel/devices/flood-gauge/level",
        "vigil/hel/gateways/gw/batch",
        "vigil/+/devices/x/y",
        "",
        "vigil",
    ]
) | st.text(max_size=40)


# A module-level parser: hypothesis runs many inputs per test, and parsing is pure.
FUZZ_DEVICES = {d.id: d for d in (device(k.value.replace("_", "-"), k) for k in DeviceKind)}
FUZZ = Parser(FUZZ_DEVICES)


def _check(topic: str, payload: bytes) -> None:
    parser = FUZZ
    out = parser.mqtt(topic, payload, NOW)
    # Every message yields something, except a gateway's empty batch (nothing to store or
    # refuse; test_fuzz_batches_never_crash allows the same).
    empty_batch = topic.endswith("/batch") and payload == b'{"observations": []}'
    assert out.observations or out.rejections or empty_batch
    for r in out.rejections:
        assert r.reason in RejectReason
        assert r.detail
        assert r.raw or not payload
    for o in out.observations:
        assert o.observed_at.tzinfo is UTC
        assert o.unit == FUZZ_DEVICES[o.device_id].streams[o.stream]


@settings(max_examples=400, deadline=None)
@given(topic=_topics, payload=st.binary(max_size=300))
def test_fuzz_raw_bytes_never_crash(topic: str, payload: bytes) -> None:
    _check(topic, payload)


@settings(max_examples=400, deadline=None)
@given(topic=_topics, obj=_objects)
def test_fuzz_json_objects_never_crash(topic: str, obj: dict[str, Any]) -> None:
    _check(topic, json.dumps(obj).encode())


@settings(max_examples=200, deadline=None)
@given(items=st.lists(_objects, max_size=5))
def test_fuzz_batches_never_crash(items: list[dict[str, Any]]) -> None:
    payload = msgspec.json.encode({"observations": items})
    out = FUZZ.mqtt("vigil/hel/gateways/gw/batch", payload, NOW)
    assert len(out.observations) + len(out.rejections) == max(1, len(items)) or (
        not items and not out.rejections and not out.observations
    )
    for r in out.rejections:
        assert r.reason in RejectReason and r.detail


def test_fuzz_clock_is_not_read(parser: Parser) -> None:
    """Same input, same `now` → same output: the parser is pure."""
    payload = json.dumps({"seq": 1, "ts": TS, "value": 50}).encode()
    a = parser.mqtt(TOPIC, payload, datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    b = parser.mqtt(TOPIC, payload, datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    assert a == b


# ------------------------------------------------ fast path == checked path

CHECKED = Parser(FUZZ_DEVICES, fast=False)
_DEVICE_STREAMS = sorted((d.id, s) for d in FUZZ_DEVICES.values() for s in d.streams)
_near_valid = st.fixed_dictionaries(
    {
        "device_id": st.sampled_from([*(d for d, _ in _DEVICE_STREAMS), "ghost"]),
        "stream": st.sampled_from([*sorted({s for _, s in _DEVICE_STREAMS}), "nope"]),
        "ts": st.sampled_from(
            [
                TS,
                "2026-06-01T08:00:00Z",
                "2026-06-01T08:04:59Z",
                "2026-06-01T08:06:00Z",
                "2026-06-01T08:00:00",
                "2020-01-01T00:00:00+05:30",
            ]
        ),
        "value": st.one_of(
            st.booleans(),
            st.integers(-5, 5),
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, 1.0, 55.5, 321.0, 1e13]),
        ),
    },
    optional={
        "seq": st.integers(-2, 2**63),
        "id": st.sampled_from(["evt-1", "bad id!", ""]),
        "unit": st.sampled_from(["cm", "dBA", "F", "m", "bogus", " m ", "", "people", "µg/m³"]),
        "attrs": st.sampled_from(
            [{}, {"class": "person"}, {"class": "face"}, {"plate": "X"}, {"kind": "fall"}]
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(_near_valid, min_size=1, max_size=6), site=st.sampled_from(["hel", "+", "x"]))
def test_fast_path_yields_exactly_what_the_checked_path_does(
    items: list[dict[str, Any]], site: str
) -> None:
    topic = f"vigil/{site}/gateways/gw/batch"
    payload = msgspec.json.encode({"observations": items})
    assert FUZZ.mqtt(topic, payload, NOW) == CHECKED.mqtt(topic, payload, NOW)
    for item in items:
        single = {k: v for k, v in item.items() if k not in {"device_id", "stream"}}
        topic = f"vigil/{site}/devices/{item['device_id']}/{item['stream']}"
        raw = msgspec.json.encode(single)
        assert FUZZ.mqtt(topic, raw, NOW) == CHECKED.mqtt(topic, raw, NOW)


def test_fast_path_sees_a_redefined_device(devices: dict[DeviceId, Any]) -> None:
    parser = Parser(devices)
    item = {"device_id": "noise-meter", "stream": "laeq", "seq": 1, "ts": TS, "value": 55}
    assert parser.mqtt("vigil/hel/gateways/gw/batch", _batch([item]), NOW).observations
    devices[DeviceId("noise-meter")] = device("noise-meter", DeviceKind.NOISE_METER, site="espoo")
    out = parser.mqtt("vigil/hel/gateways/gw/batch", _batch([item]), NOW)
    assert [r.reason for r in out.rejections] == [RejectReason.WRONG_SITE]
    del devices[DeviceId("noise-meter")]
    out = parser.mqtt("vigil/+/gateways/gw/batch", _batch([item]), NOW)
    assert [r.reason for r in out.rejections] == [RejectReason.UNKNOWN_DEVICE]
