"""One settings model: YAML + environment, unknown keys refused with the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config import load_settings
from vigil.core.errors import ConfigError


def test_yaml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "city.yaml"
    f.write_text("data_dir: /srv/vigil\nserver: {port: 9000}\n")
    monkeypatch.setenv("VIGIL_AUDIT__PERSONAL_DATA_RETENTION_DAYS", "30")
    s = load_settings(f)
    assert s.server.port == 9000
    assert s.data_dir == Path("/srv/vigil")
    assert s.audit.personal_data_retention_days == 30


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("server: {port: 0}", "server.port"),
        ("serverr: {}", "serverr"),
        ("server: {host: x, tls: true}", "server.tls"),
        ("- a list", "mapping"),
        ("server: [", "YAML"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(f)


def test_every_field_is_described() -> None:
    from vigil.config import Settings  # noqa: PLC0415

    def walk(model: type, path: str) -> None:
        for name, info in model.model_fields.items():  # type: ignore[attr-defined] # pydantic models only
            assert info.description, f"{path}{name} has no description"
            ann = info.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann, f"{path}{name}.")

    walk(Settings, "")
