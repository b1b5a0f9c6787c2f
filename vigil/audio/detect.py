"""Impulsive and alarming sounds from interpretable features: gunshot-, explosion-,
glass-break- and scream-like, each with a confidence.

An *impulse* is a sharp rise of the 5 ms C-weighted envelope (``rise_db`` within
30 ms) to a peak well above the background (``min_excess_db``: LCpeak over the
background LAeq, the median of the last 10 s of 125 ms LAeq) with a high crest
factor. One second after the onset its features are measured from the samples
in the in-memory ring buffer — rise time, T90 duration, crest factor, spectral
balance — and a coarse class is chosen by explicit rules:

- explosion-like: most energy below 250 Hz and a long T90 (90 % of the energy above the
  background arrives ≥ 0.5 s after the onset);
- glass-break-like: most energy above 3 kHz and a ringing tail;
- gunshot-like: a fast rise (≤ 5 ms) and a ringing tail (T90 ≥ 0.3 s), neither of the above;
- otherwise the class is plain ``impulse``.

A *scream* is not impulsive: the level stays ``scream_excess_db`` above the
background for ``scream_min_s`` while the sound is tonal (normalised
autocorrelation peak ≥ ``scream_min_tonality`` at a pitch of 300-2500 Hz).

Every threshold is a `DetectorSettings` field, configurable per site. The
classes are coarse descriptions of a sound, not of its cause: fireworks are
gunshot-like, a slammed skip lid is explosion-like. Measured precision and
recall, with the method, are in docs/audio.md.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from vigil.audio.meter import ENVELOPE_S, Calibration, Frame


class EventClass(StrEnum):
    """What an acoustic event sounded like (never who made it)."""

    IMPULSE = "impulse"
    GUNSHOT_LIKE = "gunshot_like"
    EXPLOSION_LIKE = "explosion_like"
    GLASS_BREAK_LIKE = "glass_break_like"
    SCREAM_LIKE = "scream_like"


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorSettings:
    """Per-site thresholds of the impulsive/alarming event detector."""

    rise_db: float = 12.0  # envelope rise within 30 ms that marks an onset
    min_excess_db: float = 25.0  # LCpeak above the background LAeq
    min_crest_db: float = 8.0  # LCpeak above the LCeq of the 125 ms after the onset
    max_rise_ms: float = 15.0  # onset (-10 dB) to peak
    min_gap_s: float = 0.5  # two impulses closer than this are one
    post_s: float = 1.0  # how much sound after an onset its features use
    background_s: float = 10.0
    scream_excess_db: float = 15.0
    scream_min_s: float = 0.5
    scream_min_tonality: float = 0.5
    min_confidence: float = 0.3


@dataclass(frozen=True, slots=True, kw_only=True)
class AcousticEvent:
    """A detected event and the features it was decided on."""

    t: float  # onset, seconds since the stream's first sample
    cls: EventClass
    confidence: float
    lcpeak: float  # dB
    background_laeq: float  # dB
    features: dict[str, float] = field(default_factory=dict)


def ramp(x: float, lo: float, hi: float) -> float:
    """Return 0 below lo, 1 above hi, linear between (a membership score)."""
    if hi == lo:
        return 1.0 if x >= hi else 0.0
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


class SampleRing:
    """The last few seconds of samples, in memory only (never written anywhere)."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity)
        self._cap = capacity
        self.end = 0  # absolute index one past the newest sample

    def push(self, x: NDArray[np.float64]) -> None:
        """Append samples, overwriting the oldest."""
        n = len(x)
        if n >= self._cap:
            self.end += n
            self._buf[np.arange(self.end - self._cap, self.end) % self._cap] = x[-self._cap :]
            return
        i = self.end % self._cap
        first = min(n, self._cap - i)
        self._buf[i : i + first] = x[:first]
        self._buf[: n - first] = x[first:]
        self.end += n

    def read(self, start: int, stop: int) -> NDArray[np.float64]:
        """Return samples [start, stop) by absolute index, clipped to what is held."""
        start = max(start, self.end - self._cap, 0)
        stop = min(stop, self.end)
        if stop <= start:
            return np.zeros(0)
        idx = np.arange(start, stop) % self._cap
        return self._buf[idx]


@dataclass(slots=True)
class _Candidate:
    onset_env: int  # absolute envelope index
    onset_sample: int


class Detector:
    """Find impulsive and alarming events in one microphone's frames."""

    def __init__(self, fs: int, calibration: Calibration, settings: DetectorSettings) -> None:
        self.fs = fs
        self.cal = calibration
        self.s = settings
        self._env_n = max(1, round(fs * ENVELOPE_S))
        self.ring = SampleRing(int(fs * (settings.post_s + 1.0)))
        n_env = int((settings.post_s + 1.0) / ENVELOPE_S)
        self._env: deque[float] = deque(maxlen=n_env)  # dB, C-weighted
        self._env_end = 0  # absolute envelope index one past the newest
        self._frames: deque[Frame] = deque(maxlen=int((settings.post_s + 1.0) * 8) + 2)
        self._bg: deque[float] = deque(maxlen=max(1, int(settings.background_s * 8)))
        self._bg_c: deque[float] = deque(maxlen=max(1, int(settings.background_s * 8)))
        self._pending: list[_Candidate] = []
        self._last_onset_s = -math.inf
        self._scream_run: list[tuple[Frame, float]] = []
        self._scream_reported = False

    @property
    def background_c(self) -> float:
        """Return the C-weighted background (median of recent 125 ms LCeq), dB."""
        return float(np.median(self._bg_c)) if self._bg_c else -math.inf

    @property
    def background(self) -> float:
        """Return the background LAeq (median of recent 125 ms LAeq), dB."""
        return float(np.median(self._bg)) if self._bg else -math.inf

    def feed(self, frame: Frame, samples: NDArray[np.float64]) -> list[AcousticEvent]:
        """Take a measured frame and its samples; return the events now decided."""
        self.ring.push(samples)
        self._frames.append(frame)
        bg = self.background
        quiet_c = self.background_c + 15.0  # an onset rises from near the background
        events: list[AcousticEvent] = []
        env_db = 10.0 * np.log10(np.maximum(frame.envelope, 1e-20)) + self.cal.offset_db
        start_sample = self.ring.end - len(samples)
        for j, e in enumerate(env_db):
            i = self._env_end
            self._env.append(float(e))
            self._env_end += 1
            if len(self._env) < 8 or not math.isfinite(bg):
                continue
            recent = list(self._env)[-8:-1]
            t_on = (start_sample + j * self._env_n) / self.fs
            if (
                e - min(recent) >= self.s.rise_db
                and min(recent) <= quiet_c
                and e >= bg + self.s.min_excess_db - 10.0
                and t_on - self._last_onset_s >= self.s.min_gap_s
                and not self._pending  # a burst within an event's second is that event
            ):
                self._last_onset_s = t_on
                self._pending.append(_Candidate(i, start_sample + j * self._env_n))
        ready = [
            c for c in self._pending if self._env_end - c.onset_env >= self.s.post_s / ENVELOPE_S
        ]
        for c in ready:
            self._pending.remove(c)
            ev = self._decide(c, bg)
            if ev is not None:
                events.append(ev)
        scream = self._scream(frame, samples, bg)
        if scream is not None:
            events.append(scream)
        # The median of 10 s of 125 ms LAeq: impulses are too short to move it.
        self._bg.append(frame.laeq)
        self._bg_c.append(frame.lceq)
        return events

    # ------------------------------------------------------------------ impulses
    def _decide(self, c: _Candidate, bg: float) -> AcousticEvent | None:
        s = self.s
        env = np.array(self._env)
        first = self._env_end - len(env)
        k0 = c.onset_env - first
        post = int(s.post_s / ENVELOPE_S)
        seg = env[max(0, k0 - 2) : k0 + post]
        if len(seg) < 4:
            return None
        # T90: how long until 90 % of the energy above the background has arrived.
        bg_c = self.background_c
        energy = np.maximum(10.0 ** (seg / 10.0) - 10.0 ** (bg_c / 10.0), 0.0)
        cum = np.cumsum(energy)
        t90_s = float(np.searchsorted(cum, 0.9 * cum[-1]) * ENVELOPE_S) if cum[-1] > 0 else 0.0
        # Sample-level features from the ring buffer (in memory only).
        x = self.ring.read(
            c.onset_sample - int(0.03 * self.fs), c.onset_sample + int(0.15 * self.fs)
        )
        if len(x) < int(0.05 * self.fs):
            return None
        rise_ms = rise_time_ms(x, self.fs)
        peak_amp = float(np.abs(x).max())
        lpeak = self.cal.peak(peak_amp)
        lcpeak = max(
            lpeak,
            max(
                (f.lcpeak for f in self._frames if abs(f.t - c.onset_sample / self.fs) < 0.25),
                default=lpeak,
            ),
        )
        on = int(0.03 * self.fs)
        burst = x[on : on + int(0.125 * self.fs)]
        leq_burst = self.cal.level(float(np.mean(burst**2))) if len(burst) else -math.inf
        crest_db = lcpeak - leq_burst
        spec_x = x[on : on + int(0.1 * self.fs)]
        low_frac, high_frac, centroid = spectral_balance(spec_x, self.fs)
        excess = lcpeak - bg
        features = {
            "rise_ms": rise_ms,
            "t90_s": t90_s,
            "crest_db": crest_db,
            "excess_db": excess,
            "low_frac": low_frac,
            "high_frac": high_frac,
            "centroid_hz": centroid,
        }
        if excess < s.min_excess_db or crest_db < s.min_crest_db or rise_ms > s.max_rise_ms:
            return None
        detect = ramp(excess, s.min_excess_db, s.min_excess_db + 15.0) * 0.5 + 0.5 * ramp(
            crest_db, s.min_crest_db, s.min_crest_db + 10.0
        )
        tail = ramp(t90_s, 0.1, 0.3)  # a shot or a break rings on; a footstep or a click does not
        explosion = ramp(low_frac, 0.35, 0.65) * ramp(t90_s, 0.2, 0.5)
        glass = ramp(high_frac, 0.3, 0.55) * tail
        sharp = ramp(s.max_rise_ms - rise_ms, 0.0, s.max_rise_ms - 5.0)
        gunshot = sharp * tail * (1.0 - max(explosion, glass))
        scores = {
            EventClass.EXPLOSION_LIKE: explosion,
            EventClass.GLASS_BREAK_LIKE: glass,
            EventClass.GUNSHOT_LIKE: gunshot,
        }
        cls, score = max(scores.items(), key=lambda kv: kv[1])
        if score < 0.5:
            cls, score = EventClass.IMPULSE, 1.0
        confidence = round(float(min(1.0, (0.4 + 0.6 * detect) * score)), 3)
        if confidence < s.min_confidence:
            return None
        return AcousticEvent(
            t=round(c.onset_sample / self.fs, 3),
            cls=cls,
            confidence=confidence,
            lcpeak=round(lcpeak, 1),
            background_laeq=round(bg, 1),
            features={k: round(v, 4) for k, v in features.items()},
        )

    # ------------------------------------------------------------------ screams
    def _scream(
        self, frame: Frame, samples: NDArray[np.float64], bg: float
    ) -> AcousticEvent | None:
        s = self.s
        loud = math.isfinite(bg) and frame.laeq >= bg + s.scream_excess_db
        tonal = tonality(samples, self.fs) if loud else 0.0
        if loud and tonal >= s.scream_min_tonality:
            self._scream_run.append((frame, tonal))
        else:
            self._scream_run = []
            self._scream_reported = False
            return None
        dur = sum(f.duration for f, _ in self._scream_run)
        if self._scream_reported or dur < s.scream_min_s:
            return None
        self._scream_reported = True
        first = self._scream_run[0][0]
        mean_tonal = float(np.mean([t for _, t in self._scream_run]))
        excess = float(np.mean([f.laeq for f, _ in self._scream_run])) - bg
        confidence = round(
            0.4
            + 0.3 * ramp(mean_tonal, s.scream_min_tonality, 0.9)
            + 0.3 * ramp(excess, s.scream_excess_db, s.scream_excess_db + 15.0),
            3,
        )
        return AcousticEvent(
            t=round(first.t, 3),
            cls=EventClass.SCREAM_LIKE,
            confidence=confidence,
            lcpeak=round(max(f.lcpeak for f, _ in self._scream_run), 1),
            background_laeq=round(bg, 1),
            features={
                "tonality": round(mean_tonal, 4),
                "excess_db": round(excess, 2),
                "duration_s": dur,
            },
        )


def tonality(x: NDArray[np.float64], fs: int) -> float:
    """Return the median normalised autocorrelation peak at pitches 300-2500 Hz (0..1)."""
    win = int(0.03 * fs)
    lo, hi = max(1, fs // 2500), fs // 300
    if len(x) < win or hi >= win:
        return 0.0
    out = []
    for start in range(0, len(x) - win + 1, win):
        w = x[start : start + win]
        w = w - w.mean()
        spec = np.fft.rfft(w, 2 * win)
        ac = np.fft.irfft(spec.real**2 + spec.imag**2)[:win]
        if ac[0] <= 0.0:
            out.append(0.0)
            continue
        out.append(float(ac[lo:hi].max() / ac[0]))
    return float(np.median(out)) if out else 0.0


def rise_time_ms(x: NDArray[np.float64], fs: int) -> float:
    """Return the rise of an impulse in ms, on a 1 ms envelope.

    From the last block 20 dB under the peak to the first within 6 dB of it (a
    distant shot's reverberant build-up puts the true peak tens of ms later).
    """
    ms1 = max(1, fs // 1000)
    m = len(x) // ms1
    e1 = 10.0 * np.log10(np.maximum((x[: m * ms1] ** 2).reshape(m, ms1).mean(axis=1), 1e-20))
    p1 = int(np.argmax(e1))
    near = int(np.nonzero(e1[: p1 + 1] >= e1[p1] - 6.0)[0][0])
    quiet = np.nonzero(e1[:near] < e1[p1] - 20.0)[0]
    if not len(quiet):
        quiet = np.nonzero(e1[:near] < e1[p1] - 10.0)[0]
    return float(near - quiet[-1]) if len(quiet) else float(near)


def spectral_balance(x: NDArray[np.float64], fs: int) -> tuple[float, float, float]:
    """Return (fraction below 250 Hz, fraction above 3 kHz, centroid Hz) of a short window."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / fs)
    total = float(power[freqs >= 20.0].sum()) or 1e-20
    low = float(power[(freqs >= 20.0) & (freqs < 250.0)].sum()) / total
    high = float(power[freqs >= 3000.0].sum()) / total
    centroid = float(np.dot(freqs, power) / max(float(power.sum()), 1e-20))
    return low, high, centroid
