"""Fixtures for the alerts tests: the real OASIS schema and an App that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import shared_file
from vigil.alerts.xmlsafe import load_schema
from vigil.app import App, build
from vigil.config import load_settings
from vigil.core.clock import ManualClock


@pytest.fixture(scope="session")
def cap_xsd_path() -> Path:
    """The OASIS CAP 1.2 XSD from ../shared/data."""
    return shared_file("cap/cap12.xsd")


@pytest.fixture(scope="session")
def cap_schema(cap_xsd_path: Path) -> etree.XMLSchema:
    """The loaded OASIS CAP 1.2 schema."""
    return load_schema(cap_xsd_path)


@pytest.fixture
def alert_app(tmp_path: Path, clock: ManualClock, cap_xsd_path: Path) -> Iterator[App]:
    """An App whose alerts are checked against the real XSD."""
    built = build(
        load_settings(data_dir=tmp_path / "data", alerts={"cap_schema": str(cap_xsd_path)}),
        clock=clock,
    )
    yield built
    built.close()
