"""Item 7: a log rewritten whole, or an edited projection, is detected.

Attacks (before): editing an event and recomputing every later hash (and the
stored head) passed `vigil audit verify`; so did editing a projection row
(what the API serves). NULL and empty values had to hash differently.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.app import build
from vigil.audit.anchor import (
    generate_key,
    load_public_key,
    projection_differences,
    read_checkpoints,
    verify_checkpoints,
)
from vigil.cad.service import NewCall, all_rows, rebuild_state
from vigil.cli import cli
from vigil.config import load_settings
from vigil.core.geometry import LatLon
from vigil.store.chain import GENESIS, link
from vigil.store.sqlite import _event_hash, _raw

runner = CliRunner()


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, Path]:
    """A data directory with a few incidents and a signing key; returns (data_dir, key)."""
    data, key = tmp_path / "data", tmp_path / "signing.pem"
    generate_key(key)
    app = build(load_settings(data_dir=data, audit={"signing_key_file": key}))
    try:
        for i in range(5):
            app.cad.take_call(
                NewCall(
                    nature=f"fire {i}",
                    location=LatLon(60.17, 24.94),
                    incident_type="structure_fire",
                ),
                actor="taker",
            )
        app.access.record(actor="auditor", action="export", subject="log", purpose="yearly audit")
    finally:
        app.close()
    return data, key


def _verify(data: Path, key: Path) -> tuple[int, str]:
    env = {"VIGIL_AUDIT__SIGNING_KEY_FILE": str(key)}
    r = runner.invoke(cli, ["audit", "verify", "--data-dir", str(data)], env=env)
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes else "")


def _rewrite_whole_chain(db: Path) -> None:
    """Edit event 2 and recompute every later hash and the head: the chain alone is fooled."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
        prev = GENESIS
        for row in rows:
            seq, *fields, data, _prev, _hash = row
            if seq == 2:
                data = bytes(data).replace(b"fire", b"fake", 1)
            h = _event_hash(prev, seq, (*fields, _raw(data)))
            conn.execute(
                "UPDATE events SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (data, prev, h, seq),
            )
            prev = h
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'events_head'", (f"{rows[-1][0]}:{prev}",)
        )
        conn.commit()
    finally:
        conn.close()


def test_whole_chain_rewrite_is_caught_by_an_old_checkpoint(deployment: tuple[Path, Path]) -> None:
    data, key = deployment
    env = {"VIGIL_AUDIT__SIGNING_KEY_FILE": str(key)}
    r = runner.invoke(cli, ["audit", "checkpoint", "--data-dir", str(data)], env=env)
    assert r.exit_code == 0, r.output
    export = data.parent / "auditor"
    r = runner.invoke(cli, ["audit", "export", str(export), "--data-dir", str(data)], env=env)
    assert r.exit_code == 0, r.output
    assert _verify(data, key)[0] == 0

    _rewrite_whole_chain(data / "vigil.sqlite3")
    # The attack works against the chain alone: every link is consistent again.
    app = build(load_settings(data_dir=data))
    try:
        assert app.store.verify() == []
        # ... but the checkpoint the auditor holds no longer matches.
        found = verify_checkpoints(
            read_checkpoints(export / "anchors.jsonl"),
            load_public_key(export / "public-key.pem"),
            log=app.store,
            trail=app.store,
        )
    finally:
        app.close()
    assert found and "rewritten" in found[0].reason
    code, out = _verify(data, key)
    assert code == 1 and "log rewritten" in out, out
    # The auditor's own copy, with only the public key, says the same.
    r = runner.invoke(
        cli,
        [
            "audit",
            "verify",
            "--data-dir",
            str(data),
            "--checkpoints",
            str(export / "anchors.jsonl"),
            "--public-key",
            str(export / "public-key.pem"),
        ],
    )
    assert r.exit_code == 1


def test_a_forged_checkpoint_is_refused(deployment: tuple[Path, Path], tmp_path: Path) -> None:
    data, key = deployment
    env = {"VIGIL_AUDIT__SIGNING_KEY_FILE": str(key)}
    assert (
        runner.invoke(cli, ["audit", "checkpoint", "--data-dir", str(data)], env=env).exit_code == 0
    )
    anchors = data / "anchors.jsonl"
    forged = anchors.read_text().replace('"events_seq": ', '"events_seq": 1', 1)
    anchors.write_text(forged)
    code, out = _verify(data, key)
    assert code == 1 and "signature does not verify" in out


def test_projection_edit_is_caught(deployment: tuple[Path, Path]) -> None:
    data, key = deployment
    conn = sqlite3.connect(data / "vigil.sqlite3")
    body = conn.execute("SELECT body FROM projection WHERE kind = 'incident' LIMIT 1").fetchone()[0]
    edited = (
        bytes(body)
        .replace(b'"priority":1', b'"priority":5')
        .replace(b'"priority":2', b'"priority":5')
    )
    assert edited != bytes(body)
    conn.execute("UPDATE projection SET body = ? WHERE body = ?", (edited, body))
    conn.commit()
    conn.close()
    app = build(load_settings(data_dir=data))
    try:
        assert app.store.verify() == []  # the chains do not cover the projection...
        _seq, stored = app.store.projection_rows()
        diffs = projection_differences(stored, all_rows(rebuild_state(app.store)))
    finally:
        app.close()
    assert len(diffs) == 1 and diffs[0].startswith("incident/")
    code, out = _verify(data, key)  # ... the replay does
    assert code == 1 and "differs from the replay of the log" in out, out


def test_an_untouched_deployment_verifies(deployment: tuple[Path, Path]) -> None:
    data, key = deployment
    env = {"VIGIL_AUDIT__SIGNING_KEY_FILE": str(key)}
    assert (
        runner.invoke(cli, ["audit", "checkpoint", "--data-dir", str(data)], env=env).exit_code == 0
    )
    code, out = _verify(data, key)
    assert code == 0, out
    assert "1 signed checkpoints" in out


def test_null_and_empty_hash_differently() -> None:
    assert link(GENESIS, None) != link(GENESIS, "")
    assert link(GENESIS, None) != link(GENESIS, "\x00")
    assert link(GENESIS, 1) != link(GENESIS, "1")
    assert link(GENESIS, "a", "") != link(GENESIS, "a", None)
    assert link(GENESIS, b"x") != link(GENESIS, "x")
