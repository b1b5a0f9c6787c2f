"""IEC 61672-1 frequency weightings (A, C, Z) as digital filters designed with scipy.

The analogue prototypes are the standard's own (IEC 61672-1:2013 Annex E): the
pole frequencies f1..f4 and the 1 kHz normalisation constants A1000 and C1000.
They are mapped to the sample rate by the bilinear transform and normalised to
0 dB at 1 kHz. Bilinear warping lowers the response towards the Nyquist
frequency (-1.2 dB at 10 kHz, -6.4 dB at 16 kHz at 48 kHz: inside class 1,
but enough to read white noise 0.75 dB low), so a 15-tap linear-phase FIR,
fitted by least squares (scipy's firls) to the difference between the design
goal and the bilinear response, follows it as extra second-order sections. The
result is within 0.1 dB of the design goal up to 12.5 kHz at 44.1 and 48 kHz
(tests/unit/audio/test_weighting.py measures it at every test frequency).
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy import signal

# IEC 61672-1:2013, equations E.1-E.4 (the exact values the annex derives).
F1 = 20.598997
F2 = 107.65265
F3 = 737.86223
F4 = 12194.217
A1000 = -2.000
C1000 = -0.062


class Weighting(StrEnum):
    """A frequency weighting of IEC 61672-1."""

    A = "A"
    C = "C"
    Z = "Z"


def design_gain_db(weighting: Weighting, f: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Return the standard's design-goal weighting in dB at frequencies f (Hz), eqs. E.6/E.1."""
    f2 = np.asarray(f, dtype=np.float64) ** 2
    if weighting is Weighting.Z:
        return np.zeros_like(f2)
    c = (F4**2 * f2) / ((f2 + F1**2) * (f2 + F4**2))
    if weighting is Weighting.C:
        return np.asarray(20.0 * np.log10(c) - C1000)
    a = c * f2 / np.sqrt((f2 + F2**2) * (f2 + F3**2))
    return np.asarray(20.0 * np.log10(a) - A1000)


def design_sos(weighting: Weighting, fs: float, *, correct_hf: bool = True) -> NDArray[np.float64]:
    """Return second-order sections of the weighting at sample rate fs, 0 dB at 1 kHz."""
    if weighting is Weighting.Z:
        return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    w = [2.0 * math.pi * f for f in (F1, F2, F3, F4)]
    if weighting is Weighting.A:
        zeros = [0.0] * 4
        poles = [-w[0], -w[0], -w[1], -w[2], -w[3], -w[3]]
    else:
        zeros = [0.0] * 2
        poles = [-w[0], -w[0], -w[3], -w[3]]
    z, p, k = signal.bilinear_zpk(np.array(zeros), np.array(poles), 1.0, fs)
    sos: NDArray[np.float64] = signal.zpk2sos(z, p, k)
    _, h = signal.sosfreqz(sos, worN=[1000.0], fs=fs)
    sos[0, :3] /= abs(h[0])
    if correct_hf:
        fir = _hf_correction(sos, weighting, fs)
        sos = np.vstack((sos, signal.tf2sos(fir, [1.0])))
    _, h = signal.sosfreqz(sos, worN=[1000.0], fs=fs)
    sos[0, :3] /= abs(h[0])
    return sos


def _hf_correction(
    sos: NDArray[np.float64], weighting: Weighting, fs: float, taps: int = 15
) -> NDArray[np.float64]:
    """Return a short FIR that brings the bilinear response back to the design goal.

    The boost is capped at +6 dB and held flat above 0.42 fs, so the filter
    never amplifies the band next to the Nyquist frequency.
    """
    grid = np.linspace(0.0, fs / 2.0, 97)
    gain = np.zeros_like(grid)
    gain[1:] = design_gain_db(weighting, grid[1:]) - response_db(sos, grid[1:], fs)
    gain = np.clip(gain, -1.0, 6.0)
    gain[grid > 0.42 * fs] = gain[grid <= 0.42 * fs][-1]
    amp = 10.0 ** (gain / 20.0)
    bands = np.repeat(grid, 2)[1:-1]
    desired = np.repeat(amp, 2)[1:-1]
    return np.asarray(signal.firls(taps, bands, desired, fs=fs), dtype=np.float64)


def response_db(sos: NDArray[np.float64], f: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    """Return the magnitude response in dB of second-order sections at frequencies f."""
    _, h = signal.sosfreqz(sos, worN=np.asarray(f, dtype=np.float64), fs=fs)
    return np.asarray(20.0 * np.log10(np.maximum(np.abs(h), 1e-30)))
