"""The `vigil` command line: users, config check, store and audit maintenance."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import cli

runner = CliRunner()


def test_users_add_prints_a_token_once_and_refuses_duplicates(tmp_path: Path) -> None:
    d = str(tmp_path / "d")
    first = runner.invoke(cli, ["users", "add", "ana", "--role", "dispatcher", "--data-dir", d])
    assert first.exit_code == 0, first.output
    token = first.output.strip().splitlines()[-1]
    assert token.startswith("vgl_")
    again = runner.invoke(cli, ["users", "add", "ana", "--role", "dispatcher", "--data-dir", d])
    assert again.exit_code == 2
    assert "already exists" in again.output
    bad_role = runner.invoke(cli, ["users", "add", "bo", "--role", "king", "--data-dir", d])
    assert bad_role.exit_code == 2
    listed = runner.invoke(cli, ["users", "list", "--data-dir", d])
    assert "ana" in listed.output
    assert token not in listed.output


def test_config_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("server: {port: 9001}\n")
    ok = runner.invoke(cli, ["config", "check", str(good)])
    assert ok.exit_code == 0
    assert '"port": 9001' in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {prot: 9001}\n")
    refused = runner.invoke(cli, ["config", "check", str(bad)])
    assert refused.exit_code == 2
    assert "server.prot" in refused.output


def test_verify_rebuild_and_purge_on_an_empty_store(tmp_path: Path) -> None:
    d = str(tmp_path / "d")
    verify = runner.invoke(cli, ["audit", "verify", "--data-dir", d])
    assert verify.exit_code == 0
    assert "intact: 0 events" in verify.output
    rebuild = runner.invoke(cli, ["store", "rebuild", "--data-dir", d])
    assert "rebuilt from 0 events" in rebuild.output
    purge = runner.invoke(cli, ["audit", "purge", "--data-dir", d])
    assert "purged personal data of 0 calls" in purge.output


def test_api_openapi_writes_the_document_the_server_serves(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    done = runner.invoke(cli, ["api", "openapi", "--out", str(out)])
    assert done.exit_code == 0, done.output
    doc = json.loads(out.read_text("utf-8"))
    assert doc["info"]["title"] == "Vigil"
    assert "/api/v1/incidents/{incident_id}" in doc["paths"]
    incident = doc["components"]["schemas"]["IncidentOut"]["properties"]
    assert {"id", "status", "priority", "opened_at"} <= set(incident)
