"""The official smart-data-models examples (key-value and normalised) map to their devices.

Attack/defect (before): the official `NoiseLevelObserved` example, whose entity
id ends in a timestamp with colons and which has no `refDevice`, was rejected
with "device '00' is not registered": the last-segment rule split inside the
timestamp, and device ids could not contain ':' so the URN could not be
registered. The files are the unchanged examples (see smart_data_models/PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ingest.conftest import NOW
from vigil.core.geometry import LatLon
from vigil.ingest.model import DeviceKind
from vigil.ingest.ngsi import parse_notification
from vigil.ingest.parse import Limits, Parser
from vigil.ingest.registry import make_device, user_name

EXAMPLES = Path(__file__).parent / "smart_data_models"
KIND = {
    "NoiseLevelObserved": DeviceKind.NOISE_METER,
    "WaterObserved": DeviceKind.FLOOD_GAUGE,
    "FloodMonitoring": DeviceKind.FLOOD_GAUGE,
    "CrowdFlowObserved": DeviceKind.CROWD_COUNTER,
    "Alert": DeviceKind.PANIC_BUTTON,
}
FILES = sorted(EXAMPLES.glob("*.jsonld"))


def _entity(path: Path) -> dict[str, Any]:
    entity: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return entity


def _notification(*entities: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "urn:ngsi-ld:Notification:1",
            "type": "Notification",
            "subscriptionId": "urn:ngsi-ld:Subscription:vigil",
            "notifiedAt": "2026-06-01T08:00:00Z",
            "data": list(entities),
        }
    ).encode()


def test_every_supported_type_has_both_official_examples() -> None:
    found = {p.name.split(".", 1)[0] for p in FILES}
    assert found == set(KIND)
    assert len(FILES) == 2 * len(KIND)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_official_example_maps_to_the_device_registered_under_its_urn(path: Path) -> None:
    entity = _entity(path)
    etype = entity["type"]
    # The entity's own URN is registered as the device (there is no refDevice to use).
    device_id = entity["id"]
    device = make_device(
        id=device_id,
        kind=KIND[etype],
        location=LatLon(42.85, -2.70),
        zone=None,
        site="default",
        streams=None,
        interval_s=3600,
    )
    parser = Parser({device.id: device}, Limits(max_future_s=1e12))
    out = parse_notification(parser, _notification(entity), NOW)
    assert not [r for r in out.rejections if "not registered" in r.detail], out.rejections
    assert out.observations, out.rejections
    assert {o.device_id for o in out.observations} == {device_id}
    assert user_name(device_id).startswith("device-")


def test_vitoria_noise_example_is_not_cut_inside_its_timestamp() -> None:
    entity = _entity(EXAMPLES / "NoiseLevelObserved.example.jsonld")
    assert entity["id"].endswith("2016-12-28T11:00:00_2016-12-28T12:00:00")
    # Registered under the local id (everything after urn:ngsi-ld:<Type>:), not "00".
    local = entity["id"].split(":", 3)[3]
    device = make_device(
        id=local,
        kind=DeviceKind.NOISE_METER,
        location=LatLon(42.85, -2.70),
        zone=None,
        site="default",
        streams=None,
        interval_s=3600,
    )
    parser = Parser({device.id: device}, Limits(max_future_s=1e12))
    out = parse_notification(parser, _notification(entity), NOW)
    laeq = next(o for o in out.observations if o.stream == "laeq")
    assert (laeq.device_id, laeq.value) == (local, 67.8)
    unknown = parse_notification(Parser({}, Limits()), _notification(entity), NOW)
    assert "device '00'" not in unknown.rejections[0].detail
    assert f"device {entity['id']!r}" in unknown.rejections[0].detail


def test_urn_device_ids_get_distinct_valid_logins() -> None:
    a = user_name("urn:ngsi-ld:Device:a:b")
    b = user_name("urn:ngsi-ld:Device:a.b")
    assert a != b
    assert len(a) <= 64 and len(b) <= 64
    assert user_name("nm-1") == "device-nm-1"
