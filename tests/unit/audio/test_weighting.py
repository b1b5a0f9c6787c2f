"""IEC 61672-1:2013 frequency weightings, checked by the standard's method: steady sines.

Table 3 of the standard gives, at each nominal one-third-octave frequency from
10 Hz to 20 kHz, the A and C design goals and the class 1 acceptance limits.
The meter's measured level of a sine, relative to its level at 1 kHz, must lie
within those limits of the design goal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.audio.meter import Calibration, LevelMeter
from vigil.audio.weighting import Weighting, design_gain_db

# nominal Hz, A dB, C dB, class 1 upper limit, class 1 lower limit (None = -inf)
TABLE3: list[tuple[float, float, float, float, float | None]] = [
    (10, -70.4, -14.3, 3.5, None),
    (12.5, -63.4, -11.2, 3.0, None),
    (16, -56.7, -8.5, 2.5, -4.5),
    (20, -50.5, -6.2, 2.5, -2.5),
    (25, -44.7, -4.4, 2.5, -2.0),
    (31.5, -39.4, -3.0, 2.0, -2.0),
    (40, -34.6, -2.0, 1.5, -1.5),
    (50, -30.2, -1.3, 1.5, -1.5),
    (63, -26.2, -0.8, 1.5, -1.5),
    (80, -22.5, -0.5, 1.5, -1.5),
    (100, -19.1, -0.3, 1.5, -1.5),
    (125, -16.1, -0.2, 1.5, -1.5),
    (160, -13.4, -0.1, 1.5, -1.5),
    (200, -10.9, 0.0, 1.5, -1.5),
    (250, -8.6, 0.0, 1.4, -1.4),
    (315, -6.6, 0.0, 1.4, -1.4),
    (400, -4.8, 0.0, 1.4, -1.4),
    (500, -3.2, 0.0, 1.4, -1.4),
    (630, -1.9, 0.0, 1.4, -1.4),
    (800, -0.8, 0.0, 1.4, -1.4),
    (1000, 0.0, 0.0, 1.1, -1.1),
    (1250, 0.6, 0.0, 1.4, -1.4),
    (1600, 1.0, -0.1, 1.6, -1.6),
    (2000, 1.2, -0.2, 1.6, -1.6),
    (2500, 1.3, -0.3, 1.6, -1.6),
    (3150, 1.2, -0.5, 1.6, -1.6),
    (4000, 1.0, -0.8, 1.6, -1.6),
    (5000, 0.5, -1.3, 2.1, -2.1),
    (6300, -0.1, -2.0, 2.1, -2.6),
    (8000, -1.1, -3.0, 2.1, -3.1),
    (10000, -2.5, -4.4, 2.6, -3.6),
    (12500, -4.3, -6.2, 3.0, -6.0),
    (16000, -6.6, -8.5, 3.5, -17.0),
    (20000, -9.3, -11.2, 4.0, None),
]


def exact(nominal: float) -> float:
    """Return the exact base-10 one-third-octave frequency of a nominal one (Annex E)."""
    n = round(10.0 * math.log10(nominal / 1000.0))
    return float(1000.0 * 10.0 ** (n / 10.0))


@pytest.mark.parametrize(("weighting", "col"), [(Weighting.A, 1), (Weighting.C, 2)])
def test_design_goals_match_table_3(weighting: Weighting, col: int) -> None:
    for row in TABLE3:
        goal = float(design_gain_db(weighting, exact(row[0])))
        assert goal == pytest.approx(row[col], abs=0.051), row[0]


def sine_level(meter: LevelMeter, which: Weighting, f: float, seconds: float = 1.0) -> float:
    """Return the meter's Leq of a steady sine after the filters have settled."""
    fs = meter.fs
    n = int(fs * seconds)
    x = 0.1 * np.sin(2 * np.pi * f * np.arange(2 * n) / fs)
    step = meter.frame_bounds(1)
    frames = [meter.measure(x[i : i + step]) for i in range(0, 2 * n - step + 1, step)]
    tail = frames[len(frames) // 2 :]
    energy = [fr.a_ms if which is Weighting.A else fr.c_ms for fr in tail]
    return 10.0 * math.log10(float(np.mean(energy)))


@pytest.mark.parametrize("fs", [48000, 44100])
@pytest.mark.parametrize("weighting", [Weighting.A, Weighting.C])
def test_measured_response_within_class_1_limits(fs: int, weighting: Weighting) -> None:
    col = 1 if weighting is Weighting.A else 2
    ref = sine_level(LevelMeter(fs, Calibration(100.0)), weighting, 1000.0)
    failures = []
    for nominal, a, c, upper, lower in TABLE3:
        f = exact(nominal)
        if f >= fs / 2:
            continue
        seconds = 4.0 if f < 20 else 1.0  # 10 Hz needs time for the filter to settle
        dev = (
            sine_level(LevelMeter(fs, Calibration(100.0)), weighting, f, seconds)
            - ref
            - (a, c)[col - 1]
        )
        if dev > upper or (lower is not None and dev < lower):
            failures.append((nominal, round(dev, 2), upper, lower))
    assert not failures, f"outside class 1 limits (Hz, deviation, upper, lower): {failures}"
