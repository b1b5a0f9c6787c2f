"""The whole app on the NATS JetStream bus: the rules flows of `test_rules_flow` again.

The same tests (imported, so pytest runs them here with this module's `city`
fixture) on an App whose bus is NATS (the shared server, a random prefix):
readings and calls go through JetStream to the rules engine, whose commands
come back through it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import T0
from tests.integration.test_rules_flow import (
    register_devices,
    test_flood_batch_opens_incident_with_rule_and_evidence,
    test_impulse_and_two_calls_open_a_priority_one_incident,
)
from tests.natsutil import delete_streams, nats_url
from vigil.app import App, build
from vigil.bus.nats import NatsBus
from vigil.config import load_settings
from vigil.core.clock import ManualClock

pytestmark = pytest.mark.integration

__all__ = [
    "test_flood_batch_opens_incident_with_rule_and_evidence",
    "test_impulse_and_two_calls_open_a_priority_one_incident",
]


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[App, ManualClock]]:
    """An App on the NATS bus with the built-in rules, a flood gauge and an acoustic detector."""
    url = nats_url()
    prefix = f"t{secrets.token_hex(6)}"
    clock = ManualClock(T0)
    settings = load_settings(
        data_dir=tmp_path / "data", bus={"kind": "nats", "url": url, "prefix": prefix}
    )
    app = build(settings, clock=clock)
    assert isinstance(app.bus, NatsBus)
    register_devices(app)
    yield app, clock
    app.close()
    delete_streams(url, prefix)
