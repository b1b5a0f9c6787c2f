"""The CAP 1.2 schema is on by default (shipped); EIDO's is configured or refused loudly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, shared_file
from vigil.alerts.settings import BUNDLED_CAP_SCHEMA
from vigil.app import build
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.errors import ConfigError
from vigil.sim import warning_demo


def test_the_bundled_cap_schema_is_the_oasis_file_and_is_used_by_default(
    tmp_path: Path, clock: ManualClock
) -> None:
    shared = shared_file("cap/cap12.xsd")
    assert BUNDLED_CAP_SCHEMA.read_bytes() == shared.read_bytes()  # unmodified
    digest = hashlib.sha256(BUNDLED_CAP_SCHEMA.read_bytes()).hexdigest()
    provenance = (REPO / "vigil" / "alerts" / "schemas" / "README.md").read_text("utf-8")
    assert digest in provenance and "Copyright OASIS Open" in BUNDLED_CAP_SCHEMA.read_text()
    app = build(load_settings(data_dir=tmp_path / "d"), clock=clock)
    try:
        assert app.alerts.schema is not None
        assert app.alerts.schema_label == f"cap12.xsd sha256:{digest[:16]}"
    finally:
        app.close()


def test_schema_checks_can_be_turned_off_explicitly_only(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "d", alerts={"cap_schema": None})
    assert s.alerts.cap_schema is None


@pytest.mark.parametrize(
    ("section", "key"), [("alerts", "cap_schema"), ("exchange", "eido_schema")]
)
def test_a_configured_schema_that_is_missing_stops_start_up(
    tmp_path: Path, section: str, key: str
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        overrides: dict[str, Any] = {section: {key: str(tmp_path / "nope.xsd")}}
        load_settings(None, data_dir=tmp_path / "d", **overrides)


def test_the_demo_points_eido_at_the_shared_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = shared_file("eido/Schema/openapi.yaml")
    monkeypatch.delenv(warning_demo.EIDO_ENV, raising=False)
    monkeypatch.setenv("VIGIL_SHARED_DATA", str(schema.parents[2]))
    lines = warning_demo.use_shared_schemas()
    assert any(str(schema) in line for line in lines)
    assert load_settings().exchange.eido_schema == schema


def test_the_demo_says_loudly_when_there_is_no_eido_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(warning_demo.EIDO_ENV, raising=False)
    monkeypatch.setenv("VIGIL_SHARED_DATA", str(tmp_path))
    lines = warning_demo.use_shared_schemas()
    assert any("EIDO schema NOT CONFIGURED" in line for line in lines)
    assert load_settings().exchange.eido_schema is None
