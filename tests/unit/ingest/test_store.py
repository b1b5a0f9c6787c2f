"""The observation store: batched writes, duplicates, dead letters, counters, latest values."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec

from tests.unit.ingest.conftest import NOW, TS
from vigil.ingest.parse import Parser, RejectReason
from vigil.ingest.store import ObservationStore

TOPIC = "vigil/hel/devices/noise-meter/laeq"


def _msg(parser: Parser, seq: int, value: float = 50.0) -> bytes:
    return json.dumps({"seq": seq, "ts": TS, "value": value}).encode()


def test_write_skips_duplicates_and_dead_letters_them(tmp_path: Path, parser: Parser) -> None:
    store = ObservationStore(tmp_path / "obs.sqlite3")
    try:
        first = parser.mqtt(TOPIC, _msg(parser, 1), NOW)
        first.extend(parser.mqtt(TOPIC, _msg(parser, 2, 60.0), NOW))
        first.extend(parser.mqtt(TOPIC, _msg(parser, 2, 61.0), NOW))  # same seq in one batch
        first.extend(parser.mqtt(TOPIC, b"{oops", NOW))
        result = store.write(first.observations, first.rejections, NOW)
        assert [o.id for o in result.stored] == ["noise-meter:laeq:1", "noise-meter:laeq:2"]
        assert [o.value for o in result.duplicates] == [61.0]
        again = parser.mqtt(TOPIC, _msg(parser, 1), NOW)
        again.extend(parser.mqtt(TOPIC, _msg(parser, 3), NOW))
        result = store.write(again.observations, again.rejections, NOW)
        assert [o.id for o in result.stored] == ["noise-meter:laeq:3"]
        assert [o.id for o in result.duplicates] == ["noise-meter:laeq:1"]

        assert store.count() == 3
        stats = store.stats()
        assert stats.stored == 3
        assert stats.by_reason == {"duplicate": 2, "malformed_json": 1}
        letters = store.dead_letters()
        assert [d.reason for d in letters] == ["duplicate", "duplicate", "malformed_json"]
        assert letters[-1].raw == b"{oops"
        assert letters[-1].topic == TOPIC
        assert msgspec.json.decode(letters[0].raw)["id"] == "noise-meter:laeq:1"
        assert [d.reason for d in store.dead_letters(reason="malformed_json")] == [
            RejectReason.MALFORMED_JSON.value
        ]
        (latest,) = store.latest("noise-meter")
        assert (latest.stream, latest.value) == ("laeq", 50.0)
        assert store.last_seen() == {"noise-meter": NOW}
    finally:
        store.close()


def test_survives_reopen(tmp_path: Path, parser: Parser) -> None:
    path = tmp_path / "obs.sqlite3"
    store = ObservationStore(path)
    p = parser.mqtt(TOPIC, _msg(parser, 1), NOW)
    store.write(p.observations, p.rejections, NOW)
    store.close()
    store = ObservationStore(path)
    try:
        assert store.ids() == ["noise-meter:laeq:1"]
        assert store.stats().stored == 1
    finally:
        store.close()


def _crash_copy(path: Path, to: Path) -> Path:
    """Copy the database and its WAL as a crash would leave them (no close, no flush)."""
    for suffix in ("", "-wal"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            Path(f"{to}{suffix}").write_bytes(src.read_bytes())
    return to


def test_latest_values_held_in_memory_are_rebuilt_after_a_crash(
    tmp_path: Path, parser: Parser
) -> None:
    path = tmp_path / "obs.sqlite3"
    store = ObservationStore(path, latest_flush_s=3600.0)  # never flushed by time here
    try:
        for seq, value in ((1, 50.0), (2, 70.0), (3, 60.0)):
            p = parser.mqtt(TOPIC, _msg(parser, seq, value), NOW)
            store.write(p.observations, p.rejections, NOW)
        crashed = _crash_copy(path, tmp_path / "crashed.sqlite3")
        (latest,) = store.latest("noise-meter")  # a read writes them first
        assert latest.value == 60.0  # same observed_at: the later one wins
    finally:
        store.close()
    reopened = ObservationStore(crashed)
    try:
        (latest,) = reopened.latest("noise-meter")
        assert (latest.value, latest.observed_at) == (60.0, NOW)
        assert reopened.last_seen() == {"noise-meter": NOW}
    finally:
        reopened.close()


def test_latest_is_flushed_with_a_write_once_due(tmp_path: Path, parser: Parser) -> None:
    path = tmp_path / "obs.sqlite3"
    store = ObservationStore(path, latest_flush_s=0.0)  # every write flushes
    try:
        p = parser.mqtt(TOPIC, _msg(parser, 1, 42.0), NOW)
        store.write(p.observations, p.rejections, NOW)
        crashed = _crash_copy(path, tmp_path / "crashed.sqlite3")
    finally:
        store.close()
    conn = sqlite3.connect(crashed)
    try:
        # the crash copy holds the row itself, not only the observation to replay
        assert conn.execute("SELECT value FROM latest").fetchall() == [(42.0,)]
        assert conn.execute("SELECT n FROM meta WHERE name = 'latest_rowid'").fetchall() == [(1,)]
    finally:
        conn.close()


def test_an_older_file_without_a_watermark_keeps_its_latest(tmp_path: Path, parser: Parser) -> None:
    path = tmp_path / "obs.sqlite3"
    store = ObservationStore(path)
    p = parser.mqtt(TOPIC, _msg(parser, 1, 42.0), NOW)
    store.write(p.observations, p.rejections, NOW)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE meta")  # as an earlier version left it
    conn.execute("UPDATE latest SET value = 43.0")  # its latest rows are taken as they are
    conn.commit()
    conn.close()
    store = ObservationStore(path)
    try:
        assert [v.value for v in store.latest()] == [43.0]
    finally:
        store.close()
