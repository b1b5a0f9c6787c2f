"""One microphone's processing: samples in, levels, features and events out.

Samples of any block size are cut into 125 ms frames (held in memory until a
frame is complete), measured, fed to the detector, and aggregated into the
1 s levels, the report period's levels and the ordinance periods. Everything
that leaves goes through a `Sink`; no sample ever does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from vigil.audio.detect import AcousticEvent, Detector, DetectorSettings
from vigil.audio.levels import PeriodAccumulator, PeriodLevels
from vigil.audio.meter import Calibration, Frame, LevelMeter
from vigil.audio.ordinance import Exceedance, ExceedanceTracker, Limit, limit_at

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureFrame:
    """The finest thing a microphone may emit: broadband levels over 125 ms.

    Octave-band levels leave only per second (`PeriodLevels.bands`): at 125 ms
    they carry measurable speech envelope information, at 1 s none (see
    tests/unit/audio/test_privacy.py and docs/audio.md).
    """

    t: float
    laeq: float
    lafmax: float
    lcpeak: float


def features_of(frame: Frame) -> FeatureFrame:
    """Return what may leave the worker about a frame (levels rounded to 0.1 dB)."""
    return FeatureFrame(
        t=round(frame.t, 3),
        laeq=round(frame.laeq, 1),
        lafmax=round(frame.lafmax, 1),
        lcpeak=round(frame.lcpeak, 1),
    )


class Sink(Protocol):
    """Where a microphone's outputs go (MQTT, a JSON report, a test's list)."""

    def second(self, at: datetime, levels: PeriodLevels) -> None:
        """Take the levels of one second."""

    def report(self, at: datetime, levels: PeriodLevels) -> None:
        """Take the levels of one report period (what goes to Vigil's noise meter)."""

    def event(self, at: datetime, event: AcousticEvent) -> None:
        """Take an impulsive/alarming event."""

    def exceedance(self, exceedance: Exceedance) -> None:
        """Take an ordinance exceedance."""

    def features(self, at: datetime, features: FeatureFrame) -> None:
        """Take one frame's features (only sinks that publish them act on it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MicSpec:
    """How one microphone is processed."""

    fs: int
    calibration: Calibration
    detector: DetectorSettings
    start: datetime  # the instant of the first sample (UTC)
    report_s: float = 60.0
    limits: tuple[Limit, ...] = ()
    tz: ZoneInfo = UTC_ZONE


class MicPipeline:
    """Feed samples; the sink hears levels, events and exceedances."""

    def __init__(self, spec: MicSpec, sink: Sink) -> None:
        self.spec = spec
        self.sink = sink
        self.meter = LevelMeter(spec.fs, spec.calibration)
        self.detector = Detector(spec.fs, spec.calibration, spec.detector)
        self._pending = np.zeros(0)
        self._k = 0  # next frame number
        self._second = PeriodAccumulator(1.0, spec.calibration)
        self._report = PeriodAccumulator(spec.report_s, spec.calibration)
        self._ordinance = {
            p: PeriodAccumulator(p, spec.calibration) for p in {lim.period_s for lim in spec.limits}
        }
        self._tracker = ExceedanceTracker(spec.limits, spec.tz)
        self.frames = 0
        self.clipped = 0
        self.last_frame: Frame | None = None

    def at(self, t: float) -> datetime:
        """Return the instant of a stream time (seconds since the first sample)."""
        return self.spec.start + timedelta(seconds=t)

    def feed(self, samples: NDArray[np.float64]) -> None:
        """Take a block of samples (float, full scale ±1.0, any length)."""
        buf = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        pos = 0
        while True:
            n = self.meter.frame_bounds(self._k + 1) - self.meter.frame_bounds(self._k)
            if len(buf) - pos < n:
                break
            self._frame(buf[pos : pos + n])
            pos += n
            self._k += 1
        self._pending = buf[pos:].copy()

    def close(self) -> None:
        """Flush the partial periods at the end of a stream (a partial frame is dropped)."""
        self._pending = np.zeros(0)
        if (s := self._second.flush()) is not None:
            self.sink.second(self.at(s.t), s)
        if (r := self._report.flush()) is not None:
            self.sink.report(self.at(r.t), r)
        for period_s, acc in self._ordinance.items():
            if (p := acc.flush()) is not None and p.duration >= period_s * 0.999:
                self._ordinance_period(period_s, p)
        if (e := self._tracker.flush()) is not None:
            self.sink.exceedance(e)

    def _frame(self, x: NDArray[np.float64]) -> None:
        frame = self.meter.measure(x)
        self.frames += 1
        self.clipped += frame.clipped
        self.last_frame = frame
        sink = self.sink
        sink.features(self.at(frame.t), features_of(frame))
        for ev in self.detector.feed(frame, x):
            sink.event(self.at(ev.t), ev)
        if (s := self._second.add(frame)) is not None:
            sink.second(self.at(s.t), s)
        if (r := self._report.add(frame)) is not None:
            sink.report(self.at(r.t), r)
        for period_s, acc in self._ordinance.items():
            if (p := acc.add(frame)) is not None:
                self._ordinance_period(period_s, p)

    def _ordinance_period(self, period_s: float, p: PeriodLevels) -> None:
        start = self.at(p.t)
        lim = limit_at(self.spec.limits, start, self.spec.tz)
        if lim is not None and lim.period_s != period_s:
            return  # this period length is another limit's
        e = self._tracker.period(start, p.duration, p.laeq)
        if e is not None:
            self.sink.exceedance(e)
