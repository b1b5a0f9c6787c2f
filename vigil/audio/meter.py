"""A streaming sound level meter to IEC 61672-1: A/C/Z weighting, Fast/Slow, Leq, peak.

Samples arrive in frames of 125 ms (the finest resolution anything leaves the
worker at). For each frame the meter returns the frame's energies (mean square
A-, C- and Z-weighted pressure, so any longer Leq is an exact energy average),
the Fast and Slow time-weighted levels at its end and their maxima within it,
the C-weighted peak, and octave-band levels. Filter and time-weighting state
carry over from frame to frame, so a stream cut into frames reads exactly as
the whole signal would.

Time weighting is the standard's exponential average of the squared weighted
signal, y' = (p² - y) / τ with τ = 125 ms (Fast) or 1 s (Slow), discretised per
sample (scipy's lfilter, so the tone-burst responses hold down to 0.25 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from vigil.audio.weighting import Weighting, design_sos

FAST_S = 0.125
SLOW_S = 1.0
FRAMES_PER_S = 8  # 125 ms frames
ENVELOPE_S = 0.005  # the detector's in-memory envelope resolution
OCTAVES_HZ: tuple[float, ...] = (
    31.5,
    63.0,
    125.0,
    250.0,
    500.0,
    1000.0,
    2000.0,
    4000.0,
    8000.0,
    16000.0,
)
_TINY = 1e-20
_SQRT2_DB = 20.0 * math.log10(math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class Calibration:
    """How digital full scale maps to sound pressure: the SPL of a full-scale sine."""

    full_scale_db: float

    @property
    def offset_db(self) -> float:
        """Return the level of a mean square of 1.0 (a full-scale sine has 0.5)."""
        return self.full_scale_db + _SQRT2_DB

    def level(self, mean_square: float) -> float:
        """Return the level in dB of a mean square of digital samples."""
        return 10.0 * math.log10(max(mean_square, _TINY)) + self.offset_db

    def peak(self, amplitude: float) -> float:
        """Return the peak level in dB of an absolute sample value."""
        return 20.0 * math.log10(max(amplitude, 1e-10)) + self.offset_db

    @classmethod
    def from_reference_tone(
        cls, samples: NDArray[np.float64], *, reference_db: float = 94.0
    ) -> Calibration:
        """Return the calibration that makes a recorded calibrator tone read `reference_db`.

        The middle 80 % of the recording is used (the calibrator being fitted and
        removed at the ends); the level is Z-weighted, as a calibrator's is.
        """
        n = len(samples)
        if n < 100:
            raise ValueError("a reference tone needs at least 100 samples")
        core = samples[n // 10 : n - n // 10]
        ms = float(np.mean(np.square(core, dtype=np.float64)))
        if ms <= 0.0:
            raise ValueError("the reference tone recording is silent")
        return cls(full_scale_db=reference_db - 10.0 * math.log10(ms / 0.5))


@dataclass(frozen=True, slots=True)
class Frame:
    """What the meter measured over one 125 ms frame (levels in dB, calibrated)."""

    t: float  # start, seconds since the stream's first sample
    duration: float  # seconds
    a_ms: float  # mean square A-weighted samples (digital units): Leq is an energy average
    c_ms: float
    z_ms: float
    laeq: float
    lceq: float
    laf: float  # Fast A level at the frame's end
    lafmax: float  # highest Fast A level within the frame
    las: float
    lasmax: float
    lcpeak: float  # C-weighted peak
    clipped: int  # samples at or beyond digital full scale
    bands: tuple[float, ...]  # octave-band Leq (Z), one per `LevelMeter.band_centres`
    envelope: NDArray[np.float64]  # C-weighted 5 ms mean squares: in memory only, never sent


class LevelMeter:
    """Measure frames of one microphone's samples (float, full scale ±1.0)."""

    def __init__(self, fs: int, calibration: Calibration) -> None:
        if fs < 8000:
            raise ValueError(f"sample rate {fs} Hz is too low for sound level metering")
        self.fs = fs
        self.calibration = calibration
        self._sos_a = design_sos(Weighting.A, fs)
        self._sos_c = design_sos(Weighting.C, fs)
        self._zi_a = np.zeros((self._sos_a.shape[0], 2))
        self._zi_c = np.zeros((self._sos_c.shape[0], 2))
        self._alpha_f = math.exp(-1.0 / (fs * FAST_S))
        self._alpha_s = math.exp(-1.0 / (fs * SLOW_S))
        self._yf = np.zeros(1)
        self._ys = np.zeros(1)
        self._env_n = max(1, round(fs * ENVELOPE_S))
        self.band_centres = tuple(f for f in OCTAVES_HZ if f * math.sqrt(2.0) < fs / 2.0)
        self._band_cache: dict[int, list[tuple[int, int]]] = {}
        self.samples = 0

    def frame_bounds(self, k: int) -> int:
        """Return the sample index where frame k starts (frames of fs/8, exact over time)."""
        return (k * self.fs) // FRAMES_PER_S

    def measure(self, x: NDArray[np.float64]) -> Frame:
        """Measure one frame of samples and advance the meter's state."""
        n = len(x)
        if n == 0:
            raise ValueError("an empty frame")
        cal = self.calibration
        a, self._zi_a = signal.sosfilt(self._sos_a, x, zi=self._zi_a)
        c, self._zi_c = signal.sosfilt(self._sos_c, x, zi=self._zi_c)
        a2 = a * a
        c2 = c * c
        af = self._alpha_f
        fast, zf = signal.lfilter([1.0 - af], [1.0, -af], a2, zi=self._yf * af)
        as_ = self._alpha_s
        slow, zs = signal.lfilter([1.0 - as_], [1.0, -as_], a2, zi=self._ys * as_)
        self._yf = zf / af
        self._ys = zs / as_
        a_ms = float(a2.mean())
        c_ms = float(c2.mean())
        z_ms = float(np.dot(x, x) / n)
        m = self._env_n
        k = n // m
        env = c2[: k * m].reshape(k, m).mean(axis=1) if k else np.array([c_ms])
        t = self.samples / self.fs
        self.samples += n
        return Frame(
            t=t,
            duration=n / self.fs,
            a_ms=a_ms,
            c_ms=c_ms,
            z_ms=z_ms,
            laeq=cal.level(a_ms),
            lceq=cal.level(c_ms),
            laf=cal.level(float(fast[-1])),
            lafmax=cal.level(float(fast.max())),
            las=cal.level(float(slow[-1])),
            lasmax=cal.level(float(slow.max())),
            lcpeak=cal.peak(float(np.abs(c).max())),
            clipped=int(np.count_nonzero(np.abs(x) >= 0.999)),
            bands=self._bands(x),
            envelope=env,
        )

    def _bands(self, x: NDArray[np.float64]) -> tuple[float, ...]:
        n = len(x)
        spec = np.fft.rfft(x)
        power = spec.real**2 + spec.imag**2
        power[1:] *= 2.0  # one-sided (Parseval: the sum is n² times the mean square)
        if n % 2 == 0:
            power[-1] /= 2.0
        edges = self._band_cache.get(n)
        if edges is None:
            edges = []
            for fc in self.band_centres:
                lo = math.ceil(fc / math.sqrt(2.0) * n / self.fs)
                hi = math.ceil(fc * math.sqrt(2.0) * n / self.fs)
                edges.append((max(lo, 1), max(hi, 2)))
            self._band_cache[n] = edges
        cum = np.concatenate(([0.0], np.cumsum(power)))
        scale = 1.0 / (n * n)
        cal = self.calibration
        return tuple(cal.level(float(cum[hi] - cum[lo]) * scale) for lo, hi in edges)
