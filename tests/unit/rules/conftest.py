"""Helpers for rules tests: observations, calls and rule sets built from YAML text."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.incidents.catalogue import Catalogue, load_catalogue
from vigil.ingest.model import DeviceKind, Observation
from vigil.rules.evaluate import Evaluator, Firing
from vigil.rules.facts import Fact
from vigil.rules.load import compile_texts
from vigil.rules.rule import RuleSet

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HERE = LatLon(60.1699, 24.9384)  # Helsinki centre


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The built-in incident type catalogue."""
    return load_catalogue()


def ruleset(text: str, catalogue: Catalogue, source: str = "test.yaml") -> RuleSet:
    """Compile a rule file's text (dedented)."""
    return compile_texts([(source, textwrap.dedent(text))], catalogue)


_seq = [0]


def obs(
    kind: DeviceKind,
    stream: str,
    value: float,
    at: datetime,
    *,
    device: str = "D-1",
    location: LatLon = HERE,
    zone: str | None = None,
    unit: str = "",
    attrs: dict[str, str | float | bool] | None = None,
) -> Observation:
    """Build an observation with a fresh id."""
    _seq[0] += 1
    return Observation(
        id=f"{device}:{stream}:{_seq[0]}",
        device_id=DeviceId(device),
        kind=kind,
        stream=stream,
        value=value,
        unit=unit,
        observed_at=at,
        received_at=at,
        location=location,
        zone=zone,
        attrs=attrs or {},
    )


def call(at: datetime, location: LatLon | None = HERE, nature: str = "shots heard") -> Fact:
    """Build a call.received fact."""
    _seq[0] += 1
    return Fact(
        id=f"CALL-EV-{_seq[0]}",
        kind="call.received",
        value=1.0,
        location=location,
        observed_at=at,
        attrs={"nature": nature, "incident_id": "INC-X"},
    )


def minutes(n: float) -> timedelta:
    """Return n minutes."""
    return timedelta(minutes=n)


class Harness:
    """An evaluator with a manual clock and a set of active incidents."""

    def __init__(self, rules: RuleSet, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(T0)
        self.active: set[str] = set()
        self.evaluator = Evaluator(rules, now=self.clock.now, is_active=self.active.__contains__)

    def feed(self, *inputs: Observation | Fact) -> list[Firing]:
        """Evaluate inputs in order; return the firings."""
        out: list[Firing] = []
        for x in inputs:
            self.evaluator.observe(x, out)
        return out


HarnessFactory = Callable[[str], Harness]


@pytest.fixture
def harness(catalogue: Catalogue) -> HarnessFactory:
    """Return a factory: rule file text -> Harness."""
    return lambda text: Harness(ruleset(text, catalogue))
