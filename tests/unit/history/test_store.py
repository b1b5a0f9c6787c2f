"""Historical CAD import: mapping, time zones, bad rows, idempotence, real DataSF files."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import shared_file
from vigil.core.errors import ConfigError, ValidationError
from vigil.history import SCHEMA, HistoryStore, load_mapping
from vigil.history.localtime import parse_naive, to_utc, zone

SFFD_HEADER = [
    "Call Number",
    "Unit ID",
    "Incident Number",
    "Call Type",
    "Call Date",
    "Watch Date",
    "Received DtTm",
    "Entry DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Transport DtTm",
    "Hospital DtTm",
    "Call Final Disposition",
    "Available DtTm",
    "Address",
    "City",
    "Zipcode of Incident",
    "Battalion",
    "Station Area",
    "Box",
    "Original Priority",
    "Priority",
    "Final Priority",
    "ALS Unit",
    "Call Type Group",
    "Number of Alarms",
    "Unit Type",
    "Unit sequence in call dispatch",
    "Fire Prevention District",
    "Supervisor District",
    "Neighborhood  District",
    "Location",
    "RowID",
]


def sffd_row(**over: str) -> dict[str, str]:
    row = {
        "Call Number": "170010001",
        "Unit ID": "E07",
        "Incident Number": "17000001",
        "Call Type": "Structure Fire",
        "Call Date": "01/01/2017",
        "Watch Date": "01/01/2017",
        "Received DtTm": "01/01/2017 10:00:00 AM",
        "Entry DtTm": "01/01/2017 10:00:30 AM",
        "Dispatch DtTm": "01/01/2017 10:01:00 AM",
        "Response DtTm": "01/01/2017 10:01:40 AM",
        "On Scene DtTm": "01/01/2017 10:05:10 AM",
        "Transport DtTm": "01/01/2017 10:20:00 AM",
        "Hospital DtTm": "01/01/2017 10:35:00 AM",
        "Call Final Disposition": "Fire",
        "Available DtTm": "01/01/2017 11:00:00 AM",
        "Address": "2700 Block of MISSION ST",
        "City": "San Francisco",
        "Zipcode of Incident": "94110",
        "Battalion": "B06",
        "Station Area": "07",
        "Box": "5236",
        "Original Priority": "E",
        "Priority": "3",
        "Final Priority": "3",
        "ALS Unit": "true",
        "Call Type Group": "Fire",
        "Number of Alarms": "1",
        "Unit Type": "ENGINE",
        "Unit sequence in call dispatch": "1",
        "Fire Prevention District": "6",
        "Supervisor District": "9",
        "Neighborhood  District": "Mission",
        "Location": "(37.7525, -122.4185)",
        "RowID": "170010001-E07",
    }
    row.update(over)
    return row


def write_sffd(path: Path, rows: list[dict[str, str]], header: list[str] = SFFD_HEADER) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def fetch(store: HistoryStore, sql: str) -> list[tuple[object, ...]]:
    con = store.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def test_every_column_is_mapped_and_typed(tmp_path: Path) -> None:
    src = write_sffd(tmp_path / "calls.csv", [sffd_row()])
    store = HistoryStore(tmp_path / "h")
    report = store.import_file(src, "sffd", tz=None, progress=False)
    assert (report.rows_read, report.imported, report.rejected) == (1, 1, 0)
    con = store.connect()
    try:
        cur = con.execute("SELECT * FROM responses")
        names = [d[0] for d in cur.description]
        (row,) = cur.fetchall()
        types = dict(
            con.execute("SELECT column_name, column_type FROM (DESCRIBE responses)").fetchall()
        )
    finally:
        con.close()
    got = dict(zip(names, row, strict=True))
    visible = {c: t for c, t in SCHEMA if c not in ("source_sha256", "imported_at")}
    assert types == {
        c: ("TIMESTAMP WITH TIME ZONE" if t == "TIMESTAMPTZ" else t) for c, t in visible.items()
    }
    assert got == {
        "response_id": "170010001-E07",
        "call_id": "170010001",
        "incident_id": "17000001",
        "unit_id": "E07",
        "unit_type": "ENGINE",
        "call_type": "Structure Fire",
        "call_type_group": "Fire",
        "priority": "E",
        "final_priority": "3",
        "unit_sequence": 1,
        "station_area": "07",
        "battalion": "B06",
        "zone": "Mission",
        "address": "2700 Block of MISSION ST",
        "lat": 37.7525,
        "lon": -122.4185,
        "origin_station": "7",
        "disposition": "Fire",
        # January: PST, UTC-8.
        "received_at": utc(2017, 1, 1, 18, 0, 0),
        "entry_at": utc(2017, 1, 1, 18, 0, 30),
        "dispatch_at": utc(2017, 1, 1, 18, 1, 0),
        "en_route_at": utc(2017, 1, 1, 18, 1, 40),
        "on_scene_at": utc(2017, 1, 1, 18, 5, 10),
        "transport_at": utc(2017, 1, 1, 18, 20),
        "hospital_at": utc(2017, 1, 1, 18, 35),
        "available_at": utc(2017, 1, 1, 19, 0),
        "source": "calls.csv",
        "format": "sffd",
        "line": 2,
    }


def test_summer_times_use_daylight_offset(tmp_path: Path) -> None:
    src = write_sffd(tmp_path / "c.csv", [sffd_row(**{"Received DtTm": "07/04/2016 12:00:00 PM"})])
    store = HistoryStore(tmp_path / "h")
    store.import_file(src, "sffd", tz=None, progress=False)
    assert fetch(store, "SELECT received_at FROM responses") == [(utc(2016, 7, 4, 19, 0),)]


def test_dst_fall_back_hour_is_resolved_by_order(tmp_path: Path) -> None:
    # 2016-11-06: 01:00-02:00 happens twice in Los Angeles (PDT then PST).
    row = sffd_row(
        **{
            "Received DtTm": "11/06/2016 01:50:00 AM",  # first pass, PDT = 08:50Z
            "Entry DtTm": "11/06/2016 01:55:00 AM",
            "Dispatch DtTm": "11/06/2016 01:02:00 AM",  # after the clocks went back: PST = 09:02Z
            "Response DtTm": "11/06/2016 01:03:00 AM",
            "On Scene DtTm": "11/06/2016 01:09:00 AM",
            "Transport DtTm": "",
            "Hospital DtTm": "",
            "Available DtTm": "11/06/2016 02:10:00 AM",  # unambiguous PST = 10:10Z
        }
    )
    src = write_sffd(tmp_path / "c.csv", [row])
    store = HistoryStore(tmp_path / "h")
    store.import_file(src, "sffd", tz=None, progress=False)
    got = fetch(
        store,
        "SELECT received_at, entry_at, dispatch_at, en_route_at, on_scene_at, transport_at, available_at FROM responses",
    )
    assert got == [
        (
            utc(2016, 11, 6, 8, 50),
            utc(2016, 11, 6, 8, 55),
            utc(2016, 11, 6, 9, 2),
            utc(2016, 11, 6, 9, 3),
            utc(2016, 11, 6, 9, 9),
            None,
            utc(2016, 11, 6, 10, 10),
        )
    ]


def test_dst_spring_gap_time_is_a_bad_row(tmp_path: Path) -> None:
    # 2017-03-12 02:30 never happened in Los Angeles.
    good = sffd_row(
        **{
            "Received DtTm": "03/12/2017 01:59:00 AM",
            "Entry DtTm": "03/12/2017 03:00:10 AM",
            "Dispatch DtTm": "",
            "Response DtTm": "",
            "On Scene DtTm": "",
            "Transport DtTm": "",
            "Hospital DtTm": "",
            "Available DtTm": "",
        }
    )
    bad = sffd_row(**{"RowID": "x-2", "Received DtTm": "03/12/2017 02:30:00 AM"})
    src = write_sffd(tmp_path / "c.csv", [good, bad])
    store = HistoryStore(tmp_path / "h")
    report = store.import_file(src, "sffd", tz=None, progress=False)
    assert report.imported == 1
    assert [(b.line, b.reason) for b in report.bad_rows] == [
        (
            3,
            "Received DtTm (received_at): 2017-03-12 02:30:00 does not exist in America/Los_Angeles (DST gap)",
        )
    ]
    # 01:59 PST = 09:59Z; 03:00:10 PDT = 10:00:10Z: eleven seconds apart.
    assert fetch(store, "SELECT received_at, entry_at FROM responses") == [
        (utc(2017, 3, 12, 9, 59), utc(2017, 3, 12, 10, 0, 10))
    ]


def test_bad_rows_are_reported_with_line_numbers_and_kept(tmp_path: Path) -> None:
    rows = [
        sffd_row(RowID="r1"),
        sffd_row(RowID="r2", **{"Dispatch DtTm": "yesterday"}),
        sffd_row(RowID="r3", Address="multi\nline address"),  # occupies lines 4-5
        sffd_row(RowID="r4", **{"Unit ID": ""}),
        sffd_row(RowID="r5", Location="(91.5, -122.4)"),
        sffd_row(RowID="r6", **{"Unit sequence in call dispatch": "first"}),
        sffd_row(RowID="r1"),
        sffd_row(RowID="r8", **{"Received DtTm": ""}),
        sffd_row(RowID="r9", Location="(0, 0)"),
    ]
    src = write_sffd(tmp_path / "c.csv", rows)
    with src.open("a") as f:
        f.write("1,2,3\n")
    store = HistoryStore(tmp_path / "h")
    report = store.import_file(src, "sffd", tz=None, progress=False)
    assert (report.rows_read, report.imported, report.rejected) == (10, 2, 8)
    assert [(b.line, b.reason) for b in report.bad_rows] == [
        (3, "Dispatch DtTm (dispatch_at): 'yesterday' matches none of the formats us, iso"),
        (6, "Unit ID (unit_id) is empty"),
        (7, "Location (location) 91.5, -122.4 is outside the WGS84 range"),
        (8, "Unit sequence in call dispatch (unit_sequence) 'first' is not an integer"),
        (9, "duplicate response_id 'r1' (first at line 2)"),
        (10, "Received DtTm (received_at) is empty"),
        (11, "Location (location) is 0, 0: a placeholder, not a place"),
        (12, "3 fields where the header has 34"),
    ]
    assert report.reasons["location invalid"] == 2
    assert sum(report.reasons.values()) == report.rejected
    assert fetch(store, "SELECT response_id, line FROM responses ORDER BY line") == [
        ("r1", 2),
        ("r3", 4),
    ]
    rejected = fetch(store, "SELECT line, reason, raw FROM import_rejects ORDER BY line")
    assert [r[0] for r in rejected] == [3, 6, 7, 8, 9, 10, 11, 12]
    assert rejected[-1][2] == "1,2,3"


def test_reimport_is_idempotent_and_overlaps_count_once(tmp_path: Path) -> None:
    a = write_sffd(tmp_path / "a.csv", [sffd_row(RowID="r1"), sffd_row(RowID="r2")])
    b = write_sffd(
        tmp_path / "b.csv", [sffd_row(RowID="r2", **{"Unit Type": "TRUCK"}), sffd_row(RowID="r3")]
    )
    store = HistoryStore(tmp_path / "h")
    first = store.import_file(a, "sffd", tz=None, progress=False)
    again = store.import_file(a, "sffd", tz=None, progress=False)
    assert not first.replaced_previous and again.replaced_previous
    assert store.count() == 2
    store.import_file(b, "sffd", tz=None, progress=False)
    assert store.count() == 3
    # The most recent import of an overlapping response wins.
    assert fetch(store, "SELECT unit_type FROM responses WHERE response_id = 'r2'") == [("TRUCK",)]
    assert fetch(store, "SELECT count(*) FROM response_rows") == [(4,)]
    assert len(store.imports()) == 2


def test_generic_mapping_yaml(tmp_path: Path) -> None:
    mapping = tmp_path / "city.yaml"
    mapping.write_text(
        "name: helsinki-cad\n"
        "timezone: Europe/Helsinki\n"
        "delimiter: ';'\n"
        "timestamp_formats: ['%d.%m.%Y %H:%M:%S']\n"
        "columns:\n"
        "  call_id: Tehtava\n"
        "  unit_id: Yksikko\n"
        "  unit_type: [Tyyppi, Type]\n"
        "  received_at: Vastaanotettu\n"
        "  en_route_at: Liikkeella\n"
        "  on_scene_at: Kohteessa\n"
        "  lat: Lat\n"
        "  lon: Lon\n"
        "  origin_station: Asema\n"
    )
    src = tmp_path / "hki.csv"
    src.write_text(
        "Tehtava;Yksikko;Type;Vastaanotettu;Liikkeella;Kohteessa;Lat;Lon;Asema\n"
        "T1;RVS31;ENGINE;30.10.2016 03:30:00;30.10.2016 03:31:00;30.10.2016 03:05:00;60.17;24.94;31\n"
        "T2;RVS31;ENGINE;30.10.2016 12:00:00;;;;;31\n"
    )
    store = HistoryStore(tmp_path / "h")
    report = store.import_file(src, mapping, tz=None, progress=False)
    assert (report.imported, report.rejected) == (2, 0)
    # Helsinki falls back at 04:00 EEST -> 03:00 EET: 03:30 happens twice; on scene at
    # 03:05 after en route 03:31 must be the second pass (EET, UTC+2).
    got = fetch(
        store,
        "SELECT response_id, unit_type, received_at, en_route_at, on_scene_at, lat, origin_station, source FROM responses ORDER BY 1",
    )
    assert got == [
        (
            "T1-RVS31",
            "ENGINE",
            utc(2016, 10, 30, 0, 30),
            utc(2016, 10, 30, 0, 31),
            utc(2016, 10, 30, 1, 5),
            60.17,
            "31",
            "hki.csv",
        ),
        ("T2-RVS31", "ENGINE", utc(2016, 10, 30, 10, 0), None, None, None, "31", "hki.csv"),
    ]


def test_mapping_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("name: x\ncolumns:\n  call_id: A\n  unit_id: B\n")
    with pytest.raises(ConfigError, match="received_at"):
        load_mapping(bad)
    with pytest.raises(ConfigError, match="unknown format"):
        load_mapping("nosuch")
    src = write_sffd(
        tmp_path / "c.csv", [sffd_row()], header=[h for h in SFFD_HEADER if h != "Unit ID"]
    )
    with pytest.raises(ConfigError, match="'Unit ID'"):
        HistoryStore(tmp_path / "h").import_file(src, "sffd", tz=None, progress=False)
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        HistoryStore(tmp_path / "h").import_file(src, "sffd", tz="Mars/Olympus", progress=False)


def test_empty_store_has_typed_views(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "nothing")
    assert store.count() == 0
    assert fetch(store, "SELECT count(*) FROM import_rejects") == [(0,)]


def test_local_time_helpers() -> None:
    la = zone("America/Los_Angeles")
    assert parse_naive("1/2/2017 12:05:09 AM", ("us",)) == datetime(2017, 1, 2, 0, 5, 9)
    assert parse_naive("01/02/2017 12:05:09 PM", ("us",)) == datetime(2017, 1, 2, 12, 5, 9)
    assert parse_naive("2017-01-02T12:05:09.500", ("us", "iso")) == datetime(
        2017, 1, 2, 12, 5, 9, 500000
    )
    assert to_utc(datetime(2017, 1, 2, 12, 0, tzinfo=UTC), la) == utc(2017, 1, 2, 12)
    with pytest.raises(ValueError, match="hour 13"):
        parse_naive("01/02/2017 13:05:09 PM", ("us",))


@pytest.mark.parametrize(
    ("name", "zone_column"),
    [
        ("sffd_calls_fires_2009_2019.csv", "Neighborhooods - Analysis Boundaries"),
        ("sffd_calls_2016-12-31_to_2017-01-03.csv", "Neighborhood  District"),
    ],
)
def test_real_datasf_files_import_whole(tmp_path: Path, name: str, zone_column: str) -> None:
    path = shared_file(f"cad/{name}")
    with path.open(newline="") as f:
        source = list(csv.DictReader(f))
    store = HistoryStore(tmp_path / "h")
    report = store.import_file(path, "sffd", tz=None, progress=False)
    assert report.rows_read == len(source)
    assert report.imported + report.rejected == len(source)
    assert report.rejected == 0, report.bad_rows[:5]
    con = store.connect()
    try:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT response_id, zone, unit_type, unit_sequence, strftime(received_at AT TIME ZONE 'America/Los_Angeles', '%m/%d/%Y %I:%M:%S %p') FROM responses"
            ).fetchall()
        }
        nulls = con.execute(
            "SELECT count(*) FILTER (WHERE on_scene_at IS NULL), count(*) FILTER (WHERE lat IS NULL) FROM responses"
        ).fetchone()
    finally:
        con.close()
    assert len(rows) == len(source)
    for rec in source[:: max(1, len(source) // 200)]:
        z, utype, seq, received = rows[rec["RowID"]]
        assert (z, utype, seq, received) == (
            rec[zone_column],
            rec["Unit Type"],
            int(rec["Unit sequence in call dispatch"]),
            rec["Received DtTm"],
        )
    assert nulls == (sum(1 for r in source if not r["On Scene DtTm"]), 0)
