"""Injected time: all logic reads a Clock so tests and replays are deterministic."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (always timezone-aware UTC)."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, at: datetime) -> None:
        """Jump to an absolute time (never backwards)."""
        with self._lock:
            if at < self._now:
                raise ValueError("ManualClock cannot go backwards")
            self._now = at


class ScaledClock:
    """Simulated time running `speed` times faster than the wall clock.

    With ``held=True`` the clock stays at `start` until `go()`: setting up a run
    (logins, units, devices) takes wall time that must not eat simulated time.
    """

    def __init__(self, start: datetime, speed: float, *, held: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start
        self._speed = speed
        self._t0: float | None = None if held else time.monotonic()

    def go(self) -> None:
        """Let simulated time run from now on (no effect once running)."""
        if self._t0 is None:
            self._t0 = time.monotonic()

    def now(self) -> datetime:
        """Return simulated time."""
        if self._t0 is None:
            return self._start
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)


def utc(value: datetime) -> datetime:
    """Return `value` in UTC, refusing naive datetimes (their zone is unknown)."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no timezone")
    return value.astimezone(UTC)
