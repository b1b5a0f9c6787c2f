"""Published schemas (CAP, EIDO) are configured, never shipped; the demo uses the shared copies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, shared_file
from vigil.app import build
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.errors import ConfigError
from vigil.sim import warning_demo


def test_the_published_schemas_are_not_shipped_and_unset_means_profile_rules_only(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Copies of ../shared/data never go into the repository; the operator points at them.
    assert not list((REPO / "vigil").rglob("cap12.xsd"))
    monkeypatch.delenv(warning_demo.CAP_ENV, raising=False)
    app = build(load_settings(data_dir=tmp_path / "d"), clock=clock)
    try:
        assert app.alerts.schema is None
        assert app.alerts.schema_label == "none configured"
    finally:
        app.close()


def test_a_configured_cap_schema_is_used_and_named_by_its_digest(
    tmp_path: Path, clock: ManualClock
) -> None:
    xsd = shared_file("cap/cap12.xsd")
    digest = hashlib.sha256(xsd.read_bytes()).hexdigest()
    settings = load_settings(data_dir=tmp_path / "d", alerts={"cap_schema": str(xsd)})
    app = build(settings, clock=clock)
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


@pytest.mark.parametrize(
    ("env", "relative", "setting"),
    [
        (warning_demo.CAP_ENV, "cap/cap12.xsd", lambda s: s.alerts.cap_schema),
        (warning_demo.EIDO_ENV, "eido/Schema/openapi.yaml", lambda s: s.exchange.eido_schema),
    ],
)
def test_the_demo_points_at_the_shared_schemas(
    monkeypatch: pytest.MonkeyPatch, env: str, relative: str, setting: Callable[[Any], Path]
) -> None:
    schema = shared_file(relative)
    monkeypatch.delenv(warning_demo.CAP_ENV, raising=False)
    monkeypatch.delenv(warning_demo.EIDO_ENV, raising=False)
    monkeypatch.setenv("VIGIL_SHARED_DATA", str(shared_file("cap/cap12.xsd").parents[1]))
    lines = warning_demo.use_shared_schemas()
    assert any(str(schema) in line for line in lines)
    assert setting(load_settings()) == schema


def test_the_demo_says_loudly_when_a_schema_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(warning_demo.CAP_ENV, raising=False)
    monkeypatch.delenv(warning_demo.EIDO_ENV, raising=False)
    monkeypatch.setenv("VIGIL_SHARED_DATA", str(tmp_path))
    lines = warning_demo.use_shared_schemas()
    assert any("CAP schema NOT CONFIGURED" in line for line in lines)
    assert any("EIDO schema NOT CONFIGURED" in line for line in lines)
    settings = load_settings()
    assert settings.alerts.cap_schema is None and settings.exchange.eido_schema is None
