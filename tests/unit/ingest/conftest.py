"""Devices and a parser shared by the ingest tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import Device, DeviceKind
from vigil.ingest.parse import Limits, Parser
from vigil.ingest.registry import make_device

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TS = "2026-06-01T10:00:00+02:00"  # == NOW in UTC


def device(ident: str, kind: DeviceKind, *, zone: str = "harbour", site: str = "hel") -> Device:
    """Return a device with the kind's conventional streams."""
    return make_device(
        id=DeviceId(ident),
        kind=kind,
        location=LatLon(60.1699, 24.9384),
        zone=zone,
        site=site,
        streams=None,
        interval_s=60.0,
    )


@pytest.fixture
def devices() -> dict[str, Device]:
    """One device of each kind, id = kind name with dashes."""
    return {d.id: d for d in (device(k.value.replace("_", "-"), k) for k in DeviceKind)}


@pytest.fixture
def parser(devices: dict[DeviceId, Device]) -> Parser:
    """A parser with the default limits."""
    return Parser(devices, Limits())
