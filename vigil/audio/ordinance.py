"""Noise ordinance limits by time of day, and exceedance events.

A limit names the hours it holds (local time of the microphone's time zone),
the averaging period of the ordinance (e.g. LAeq over 15 min) and the level.
Consecutive periods above their limit make one exceedance whose level is the
LAeq over all of them and whose duration is their total length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from vigil.audio.levels import energy_mean_db


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """An ordinance limit: LAeq over `period_s` must not exceed `laeq_db` between start and end."""

    start: time
    end: time  # end < start: the limit runs over midnight
    period_s: float
    laeq_db: float

    def holds_at(self, local: time) -> bool:
        """Return whether the limit applies at a local time of day."""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class Exceedance:
    """An ordinance exceedance: when, how loud, how long, against which limit."""

    start: datetime
    duration_s: float
    laeq: float
    limit_db: float
    period_s: float


def limit_at(limits: tuple[Limit, ...], at: datetime, tz: ZoneInfo) -> Limit | None:
    """Return the limit in force at an instant (the first listed that holds)."""
    local = at.astimezone(tz).time()
    return next((lim for lim in limits if lim.holds_at(local)), None)


class ExceedanceTracker:
    """Compare each closed ordinance period with its limit and merge consecutive exceedances."""

    def __init__(self, limits: tuple[Limit, ...], tz: ZoneInfo) -> None:
        self.limits = limits
        self.tz = tz
        self._open: list[tuple[datetime, float, float, Limit]] = []

    def period(self, start: datetime, duration_s: float, laeq: float) -> Exceedance | None:
        """Take one closed period's LAeq; return an exceedance when one has just ended."""
        lim = limit_at(self.limits, start, self.tz)
        if lim is not None and laeq > lim.laeq_db:
            if self._open and self._open[-1][3] is not lim:
                done = self._close()
                self._open = [(start, duration_s, laeq, lim)]
                return done
            self._open.append((start, duration_s, laeq, lim))
            return None
        return self._close()

    def flush(self) -> Exceedance | None:
        """Close an exceedance still running (the end of a stream)."""
        return self._close()

    def _close(self) -> Exceedance | None:
        if not self._open:
            return None
        rows, self._open = self._open, []
        lim = rows[0][3]
        return Exceedance(
            start=rows[0][0],
            duration_s=sum(r[1] for r in rows),
            laeq=round(energy_mean_db([r[2] for r in rows], [r[1] for r in rows]), 1),
            limit_db=lim.laeq_db,
            period_s=lim.period_s,
        )


def period_start(at: datetime, period_s: float) -> datetime:
    """Return the clock-aligned start of the period containing `at` (UTC epoch aligned)."""
    epoch = at.timestamp()
    return at - timedelta(seconds=epoch % period_s)
