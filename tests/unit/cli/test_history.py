from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.unit.history.test_store import sffd_row, write_sffd
from vigil.cli.history import app

runner = CliRunner()


def test_import_prints_counts_and_bad_lines(tmp_path: Path) -> None:
    src = write_sffd(
        tmp_path / "c.csv",
        [sffd_row(RowID="a"), sffd_row(RowID="b", **{"On Scene DtTm": "soon"})],
    )
    store = tmp_path / "h"
    result = runner.invoke(app, ["import", str(src), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "read 2 rows, imported 1, rejected 1" in result.output
    assert "line 3: On Scene DtTm (on_scene_at): 'soon' matches none" in result.output
    again = runner.invoke(app, ["import", str(src), "--store", str(store)])
    assert "replaced, not added" in again.output
    assert "1 distinct unit responses" in again.output
    shown = runner.invoke(app, ["show", "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "1 unit responses, 1 units" in shown.output


def test_import_unknown_format_fails_clearly(tmp_path: Path) -> None:
    src = write_sffd(tmp_path / "c.csv", [sffd_row()])
    result = runner.invoke(app, ["import", str(src), "--format", "nope", "--store", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown format 'nope'" in result.output
