"""`vigil audio analyze` and `vigil audio calibrate` on real files; MICS.yaml validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vigil.audio.settings import load_mics
from vigil.cli import cli
from vigil.core.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "data" / "audio"


def test_analyze_prints_and_writes_the_documented_shape(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    res = CliRunner().invoke(
        cli,
        [
            "audio",
            "analyze",
            str(DATA / "gunshot_4.wav"),
            "--full-scale-db",
            "120",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert [s["t"] for s in report["per_second"]] == [0.0, 1.0, 2.0, 3.0]
    assert set(report["per_second"][0]) == {"t", "laeq", "lafmax", "lcpeak"}
    (event,) = report["events"]
    assert event["class"] == "gunshot_like" and 1.9 < event["t"] < 2.0
    assert 0 < event["confidence"] <= 1
    # The shot's second is the loudest; the level moves one-for-one with the calibration.
    loud = max(report["per_second"], key=lambda s: s["laeq"])
    assert loud["t"] == 1.0 or loud["t"] == 2.0
    assert "gunshot_like" in res.output


def test_calibration_shifts_every_level_by_the_same_amount(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for fs_db, path in ((100, a), (120, b)):
        args = [
            "audio",
            "analyze",
            str(DATA / "hum.mp3"),
            "--full-scale-db",
            str(fs_db),
            "--json",
            str(path),
        ]
        assert CliRunner().invoke(cli, args).exit_code == 0
    la = [s["laeq"] for s in json.loads(a.read_text())["per_second"]]
    lb = [s["laeq"] for s in json.loads(b.read_text())["per_second"]]
    assert np.allclose(np.array(lb) - np.array(la), 20.0, atol=0.11)


def test_calibrate_prints_full_scale_db(tmp_path: Path) -> None:
    fs = 48000
    tone = 0.25 * np.sin(2 * np.pi * 1000 * np.arange(fs * 3) / fs)  # 12.04 dB under full scale
    path = tmp_path / "cal.wav"
    sf.write(str(path), tone, fs)  # the test writes its own input; the worker never writes audio
    res = CliRunner().invoke(cli, ["audio", "calibrate", str(path), "--reference-db", "94"])
    assert res.exit_code == 0, res.output
    assert "full_scale_db: 106.04" in res.output


def test_mics_file_errors_name_the_field(tmp_path: Path) -> None:
    p = tmp_path / "mics.yaml"
    p.write_text(
        "mics:\n  - id: m1\n    lat: 60.17\n    lon: 24.95\n"
        "    input: {kind: file, path: x.wav}\n    calibration: {}\n"
    )
    with pytest.raises(ConfigError, match="exactly one of full_scale_db") as err:
        load_mics(p)
    assert err.value.field == "mics.0.calibration"
    p.write_text("mics:\n  - id: m1\n    lat: 60.17\n    lon: 24.95\n    input: {kind: tape}\n")
    with pytest.raises(ConfigError) as err2:
        load_mics(p)
    assert err2.value.field is not None and err2.value.field.startswith("mics.0.input")


def test_analyze_period_gives_statistical_levels(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    args = [
        "audio",
        "analyze",
        str(DATA / "water.mp3"),
        "--full-scale-db",
        "100",
        "--period-s",
        "10",
        "--json",
        str(out),
    ]
    assert CliRunner().invoke(cli, args).exit_code == 0
    periods = json.loads(out.read_text())["periods"]
    assert [p["duration_s"] for p in periods[:2]] == [10.0, 10.0]
    for p in periods:
        assert p["l90"] <= p["l50"] <= p["l10"] <= p["lafmax"]
