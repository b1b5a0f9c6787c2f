"""Clocks are UTC and injectable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.core.clock import ManualClock, ScaledClock, SystemClock, utc


def test_manual_clock_moves_only_forward() -> None:
    c = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert c.advance(90) == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="backwards"):
        c.set(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone"):
        ManualClock(datetime(2026, 1, 1))


def test_scaled_clock_runs_faster() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = ScaledClock(start, speed=1000)
    assert start <= c.now() < start + timedelta(hours=1)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start, speed=0)


def test_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
    with pytest.raises(ValueError, match="timezone"):
        utc(datetime(2026, 1, 1))


def test_held_scaled_clock_waits_for_go() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = ScaledClock(start, speed=1000, held=True)
    assert c.now() == start
    c.go()
    first = c.now()
    assert first >= start
    c.go()  # a second go() does not restart the clock
    assert c.now() >= first
