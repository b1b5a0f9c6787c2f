"""CSV replay: rows go through the same checks; bad rows are counted and kept."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ingest.conftest import device
from vigil.app import App
from vigil.ingest.csv_replay import replay
from vigil.ingest.model import DeviceKind

CSV = """device_id,stream,ts,value,unit,seq,attrs
g-1,level,2026-06-01T07:00:00Z,310,cm,1,
g-1,level,2026-06-01T07:01:00Z,3.3,,2,"{""quality"": ""rising""}"
g-1,level,2026-06-01T07:01:00Z,3.3,,2,
g-1,level,2026-06-01T07:02:00Z,deep,,3,
s-1,alarm,2026-06-01T07:02:00Z,true,,1,
"""


def test_replay(app: App, tmp_path: Path) -> None:
    app.ingest.registry.register(
        [device("g-1", DeviceKind.FLOOD_GAUGE), device("s-1", DeviceKind.SMOKE_PANEL)], actor="t"
    )
    path = tmp_path / "obs.csv"
    path.write_text(CSV)
    slept: list[float] = []
    result = replay(
        path,
        parser=app.ingest.parser,
        pipeline=app.ingest.pipeline,
        clock=app.clock,
        chunk=2,
    )
    assert (result.rows, result.stored, result.duplicates, result.rejected) == (5, 3, 1, 1)
    letters = app.ingest.observations.dead_letters(reason="wrong_type")
    assert letters[0].field == "line 5.value"
    assert letters[0].raw.startswith(b"g-1,level,2026-06-01T07:02:00Z,deep")
    values = {v.stream: v.value for v in app.ingest.observations.latest()}
    assert values == {"level": 3.3, "alarm": 1.0}
    # Paced replay sleeps by the recorded gaps (here 60 s at speed 60 = about 1 s).
    again = replay(
        path,
        parser=app.ingest.parser,
        pipeline=app.ingest.pipeline,
        clock=app.clock,
        speed=60.0,
        sleep=slept.append,
    )
    assert again.duplicates == 4
    assert slept and max(slept) <= 2.0
