"""Aggregate 125 ms frames into periods: LAeq, LAFmax, LCpeak and statistical levels.

Leq over any period is the energy average of the frames' mean squares, exact
whatever the period. Statistical levels L10/L50/L90 are percentiles of the
Fast A level sampled at each frame's end (8 samples a second): L90 is the
level exceeded 90 % of the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vigil.audio.meter import Calibration, Frame


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodLevels:
    """Levels over one period (dB; A- or C-weighted as named)."""

    t: float  # period start, seconds since the stream's first sample
    duration: float
    laeq: float
    lceq: float
    lafmax: float
    lasmax: float
    lcpeak: float
    l10: float
    l50: float
    l90: float
    clipped: int
    frames: int
    bands: tuple[float, ...] = ()  # octave-band Leq over the period (Z), dB


@dataclass(slots=True)
class PeriodAccumulator:
    """Collect frames and close a period every `period_s` seconds of signal."""

    period_s: float
    calibration: Calibration
    _frames: list[Frame] = field(default_factory=list)
    _start: float | None = None

    def add(self, frame: Frame) -> PeriodLevels | None:
        """Add a frame; return the period it completes, if any."""
        if self._start is None:
            self._start = frame.t
        self._frames.append(frame)
        end = frame.t + frame.duration
        if end - self._start >= self.period_s - 1e-9:
            return self.flush()
        return None

    def flush(self) -> PeriodLevels | None:
        """Close the period so far (the end of a file); None when empty."""
        if not self._frames or self._start is None:
            return None
        out = summarise(self._frames, self.calibration, start=self._start)
        self._frames = []
        self._start = None
        return out


def summarise(frames: list[Frame], calibration: Calibration, *, start: float) -> PeriodLevels:
    """Return the levels of consecutive frames."""
    weights = np.array([f.duration for f in frames])
    total = float(weights.sum())
    a = float(np.dot(weights, [f.a_ms for f in frames]) / total)
    c = float(np.dot(weights, [f.c_ms for f in frames]) / total)
    laf = np.array([f.laf for f in frames])
    l10, l50, l90 = (float(v) for v in np.percentile(laf, [90.0, 50.0, 10.0]))
    return PeriodLevels(
        t=start,
        duration=total,
        laeq=calibration.level(a),
        lceq=calibration.level(c),
        lafmax=max(f.lafmax for f in frames),
        lasmax=max(f.lasmax for f in frames),
        lcpeak=max(f.lcpeak for f in frames),
        l10=l10,
        l50=l50,
        l90=l90,
        clipped=sum(f.clipped for f in frames),
        frames=len(frames),
        bands=_band_leq(frames, weights, total),
    )


def _band_leq(frames: list[Frame], weights: np.ndarray, total: float) -> tuple[float, ...]:
    if not frames[0].bands:
        return ()
    lv = np.array([f.bands for f in frames])
    e = np.dot(weights, 10.0 ** (lv / 10.0)) / total
    return tuple(float(v) for v in 10.0 * np.log10(e))


def energy_mean_db(levels: list[float], weights: list[float] | None = None) -> float:
    """Return the energy average of levels in dB (Leq of consecutive Leqs)."""
    lv = np.asarray(levels, dtype=np.float64)
    w = np.ones_like(lv) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(10.0 * np.log10(np.dot(w, 10.0 ** (lv / 10.0)) / w.sum()))
