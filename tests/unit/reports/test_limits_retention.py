"""Report rate limits survive a restart and hold across processes; reports and photos expire."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.unit.reports.conftest import jpeg_with_gps
from vigil.app import App, build
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.errors import NotFoundError, RateLimitedError
from vigil.core.geometry import LatLon
from vigil.reports.events import ReportExpired
from vigil.reports.service import NewReport

HERE = LatLon(60.1699, 24.9384)


@contextmanager
def platform(data_dir: Path, clock: ManualClock, **alerts: object) -> Iterator[App]:
    app = build(
        load_settings(
            data_dir=data_dir,
            alerts={"reports_per_client_per_hour": 2, "reports_per_area_per_hour": 4, **alerts},
        ),
        clock=clock,
    )
    try:
        yield app
    finally:
        app.close()


def report(text: str = "Water over the road", where: LatLon = HERE, **more: object) -> NewReport:
    return NewReport(category="flooding", text=text, location=where, **more)  # type: ignore[arg-type]


def test_limits_survive_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    with platform(tmp_path, clock) as app:
        app.reports.submit(report("one"), client="198.51.100.7")
        app.reports.submit(report("two"), client="198.51.100.7")
        app.reports.submit(report("three"), client="198.51.100.8")
    with platform(tmp_path, clock) as app:  # restarted: same data, fresh memory
        with pytest.raises(RateLimitedError) as client:
            app.reports.submit(report("again"), client="198.51.100.7")
        assert client.value.field == "client"
        app.reports.submit(report("four"), client="198.51.100.9")  # 4th in the cell
        with pytest.raises(RateLimitedError) as area:
            app.reports.submit(report("five"), client="198.51.100.10")
        assert area.value.field == "location"
        clock.advance(3601)  # an hour later both windows have moved on
        app.reports.submit(report("later"), client="198.51.100.7")


def test_client_limit_is_shared_by_two_processes_on_one_data_dir(
    tmp_path: Path, clock: ManualClock
) -> None:
    with platform(tmp_path, clock) as a, platform(tmp_path, clock) as b:
        a.reports.submit(report("one"), client="203.0.113.5")
        b.reports.submit(report("two"), client="203.0.113.5")
        with pytest.raises(RateLimitedError):
            a.reports.submit(report("three"), client="203.0.113.5")
        with pytest.raises(RateLimitedError):
            b.reports.submit(report("three"), client="203.0.113.5")


def test_no_client_address_is_stored(tmp_path: Path, clock: ManualClock) -> None:
    with platform(tmp_path, clock) as app:
        app.reports.submit(report(), client="192.0.2.44")
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert b"192.0.2.44" not in f.read_bytes(), f


def test_reports_and_photos_expire_on_schedule(tmp_path: Path, clock: ManualClock) -> None:
    with platform(tmp_path, clock, report_retention_days=30) as app:
        old, old_token = app.reports.submit(report("old", photo=jpeg_with_gps()), client="c1")
        assert app.reports.photo(old.id)
        clock.advance(20 * 86400)
        young, _ = app.reports.submit(report("young", photo=jpeg_with_gps()), client="c2")
        assert app.reports.purge_expired() == []
        clock.advance(11 * 86400)
        assert app.reports.purge_expired() == [old.id]
        with pytest.raises(NotFoundError):
            app.reports.get(old.id)
        with pytest.raises(NotFoundError):
            app.reports.by_token(old_token)
        with pytest.raises(NotFoundError):
            app.reports.photo(old.id)
        assert app.reports.photo(young.id)  # not yet due
        assert [r.id for r in app.reports.find()] == [young.id]
        expired = [r.event for r in app.store.stream(f"report/{old.id}")]
        assert any(isinstance(e, ReportExpired) and e.retention_days == 30 for e in expired)
        assert app.reports.purge_expired() == []  # idempotent
    with platform(tmp_path, clock, report_retention_days=30) as app:  # and after a restart
        with pytest.raises(NotFoundError):
            app.reports.get(old.id)
        assert [r.id for r in app.reports.find()] == [young.id]
