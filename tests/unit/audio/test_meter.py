"""IEC 61672-1 time weighting and level checks, and the calibration step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.audio.levels import PeriodAccumulator, energy_mean_db, summarise
from vigil.audio.meter import Calibration, Frame, LevelMeter
from vigil.audio.weighting import Weighting, design_gain_db

FS = 48000


def run(meter: LevelMeter, x: np.ndarray) -> list[Frame]:
    frames: list[Frame] = []
    k, pos = 0, 0
    while True:
        n = meter.frame_bounds(k + 1) - meter.frame_bounds(k)
        if pos + n > len(x):
            return frames
        frames.append(meter.measure(x[pos : pos + n]))
        pos += n
        k += 1


def tone(level_db: float, full_scale_db: float, f: float, seconds: float) -> np.ndarray:
    amp = 10 ** ((level_db - full_scale_db) / 20.0)
    return amp * np.sin(2 * np.pi * f * np.arange(int(FS * seconds)) / FS)


def test_calibrated_1khz_tone_reads_its_level_within_half_a_db() -> None:
    cal = Calibration(120.0)
    frames = run(LevelMeter(FS, cal), tone(94.0, 120.0, 1000.0, 10.0))
    period = summarise(frames[8:], cal, start=1.0)
    assert period.laeq == pytest.approx(94.0, abs=0.5)
    assert period.laeq == pytest.approx(94.0, abs=0.05)  # what it actually achieves
    assert period.lceq == pytest.approx(94.0, abs=0.05)
    assert period.lafmax == pytest.approx(94.0, abs=0.1)
    assert period.lcpeak == pytest.approx(94.0 + 20 * math.log10(math.sqrt(2)), abs=0.1)
    assert period.l10 == pytest.approx(94.0, abs=0.1) and period.l90 == pytest.approx(94.0, abs=0.1)


def test_reference_tone_calibration_step() -> None:
    # A calibrator (94 dB) recorded 18.3 dB below a full-scale sine.
    x = 10 ** (-18.3 / 20) * np.sin(2 * np.pi * 1000 * np.arange(FS * 5) / FS)
    cal = Calibration.from_reference_tone(x, reference_db=94.0)
    assert cal.full_scale_db == pytest.approx(94.0 + 18.3, abs=0.01)
    frames = run(LevelMeter(FS, cal), x)
    assert summarise(frames[8:], cal, start=1.0).laeq == pytest.approx(94.0, abs=0.05)
    with pytest.raises(ValueError, match="silent"):
        Calibration.from_reference_tone(np.zeros(FS))


def pink_noise(
    seconds: float, rng: np.random.Generator, *, pink: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return pink (1/f power) or white noise, 20 Hz-20 kHz, its frequencies and power spectrum."""
    n = int(FS * seconds)
    f = np.fft.rfftfreq(n, 1 / FS)
    shape = np.zeros_like(f)
    band = (f >= 20) & (f <= 20000)
    shape[band] = 1 / np.sqrt(f[band]) if pink else 1.0
    spec = shape * np.exp(2j * np.pi * rng.random(len(f)))
    x = np.fft.irfft(spec, n)
    return x, f, shape**2


@pytest.mark.parametrize("pink", [True, False])
def test_noise_of_known_level(pink: bool) -> None:
    """LZeq set to 80 dB; LAeq must equal the spectrum integrated under the A design curve."""
    rng = np.random.default_rng(7)
    x, f, power = pink_noise(20.0, rng, pink=pink)
    cal = Calibration(110.0)
    target_z = 80.0
    x *= math.sqrt(10 ** ((target_z - cal.offset_db) / 10) / np.mean(x**2))
    band = power > 0
    a_gain = 10 ** (design_gain_db(Weighting.A, f[band]) / 10)
    expected_a = target_z + 10 * math.log10(
        float(np.sum(power[band] * a_gain) / np.sum(power[band]))
    )
    frames = run(LevelMeter(FS, cal), np.concatenate((x, x)))  # the second pass is settled
    second = frames[len(frames) // 2 :]
    z = cal.level(float(np.mean([fr.z_ms for fr in second])))
    a = summarise(second, cal, start=0.0).laeq
    assert z == pytest.approx(target_z, abs=0.05)
    assert a == pytest.approx(expected_a, abs=0.5)
    assert (70 < expected_a < 80) if pink else (74 < expected_a < 80)


# IEC 61672-1:2013 Table 4: 4 kHz tone bursts; class 1 limits by burst duration (ms).
LIMITS = {
    1000: (0.5, -0.5),
    500: (0.5, -0.5),
    200: (0.5, -0.5),
    100: (1.0, -1.0),
    50: (1.0, -1.0),
    20: (1.0, -1.0),
    10: (1.0, -1.0),
    5: (1.0, -1.0),
    2: (1.0, -1.5),
    1: (1.0, -2.0),
    0.5: (1.0, -2.5),
    0.25: (1.0, -3.0),
}


@pytest.mark.parametrize(
    ("tau", "durations"), [(0.125, list(LIMITS)), (1.0, [1000, 500, 200, 100, 50, 20, 10, 5, 2])]
)
def test_tone_burst_responses(tau: float, durations: list[float]) -> None:
    """LAFmax/LASmax of a 4 kHz burst, re the steady level, against 10 lg(1 - e^(-Tb/τ))."""
    cal = Calibration(100.0)
    steady_x = tone(80.0, 100.0, 4000.0, 3.0)
    steady = run(LevelMeter(FS, cal), steady_x)[-1]
    steady_level = steady.laf if tau < 0.5 else steady.las
    failures = []
    for tb_ms in durations:
        n_burst = round(FS * tb_ms / 1000)
        x = np.zeros(int(FS * 3.0))
        start = FS  # after 1 s of silence; the burst starts and ends at zero crossings
        x[start : start + n_burst] = steady_x[:n_burst]
        frames = run(LevelMeter(FS, cal), x)
        got = max(fr.lafmax if tau < 0.5 else fr.lasmax for fr in frames) - steady_level
        ref = 10 * math.log10(1 - math.exp(-tb_ms / 1000 / tau))
        up, lo = LIMITS[tb_ms]
        if not (lo <= got - ref <= up):
            failures.append((tb_ms, round(got - ref, 2)))
    assert not failures, f"tone bursts outside class 1 limits (ms, deviation): {failures}"


def test_frames_cut_anywhere_read_the_same() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.05, FS * 3)
    cal = Calibration(100.0)
    whole = run(LevelMeter(FS, cal), x)
    acc = PeriodAccumulator(1.0, cal)
    periods = [p for fr in whole if (p := acc.add(fr)) is not None]
    assert len(periods) == 3
    assert energy_mean_db([p.laeq for p in periods]) == pytest.approx(
        summarise(whole, cal, start=0).laeq, abs=1e-9
    )
    assert cal.level(float(np.mean(x**2))) == pytest.approx(
        cal.level(float(np.mean([f.z_ms for f in whole]))), abs=1e-9
    )


def test_statistical_levels_order() -> None:
    cal = Calibration(100.0)
    x = np.concatenate([tone(60.0, 100.0, 1000.0, 8.0), tone(80.0, 100.0, 1000.0, 2.0)])
    p = summarise(run(LevelMeter(FS, cal), x), cal, start=0)
    assert p.l90 == pytest.approx(60.0, abs=0.2)
    assert p.l50 == pytest.approx(60.0, abs=0.2)
    assert p.l10 == pytest.approx(80.0, abs=0.3)  # the loud 20 % is above L10
    assert p.laeq == pytest.approx(10 * math.log10(0.8 * 1e6 + 0.2 * 1e8), abs=0.2)


def test_octave_bands_put_a_tone_in_its_band() -> None:
    cal = Calibration(100.0)
    frames = run(LevelMeter(FS, cal), tone(70.0, 100.0, 1000.0, 2.0))
    meter_bands = LevelMeter(FS, cal).band_centres
    b = frames[-1].bands
    k = meter_bands.index(1000.0)
    assert b[k] == pytest.approx(70.0, abs=0.5)
    assert max(v for i, v in enumerate(b) if i != k) < 50.0
