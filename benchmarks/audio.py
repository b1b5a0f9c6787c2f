"""Acoustic worker: microphones per CPU core at 48 kHz, LAeq error, detection quality.

- ``mics_per_core``: seconds of 48 kHz audio one CPU-second processes with every
  metric and the detector on (meter, detector, 1 s / report / 15 min periods,
  MQTT message building with a no-op send), on a real recording (city traffic,
  tests/data/audio/hum.mp3) with real gunshots mixed in every 5 s. CPU time
  (time.process_time), not wall time: the machine is shared. Baseline in the
  same run: the meter alone (filters, time weighting, bands), no detector.
- ``laeq_error_db``: the largest |LAeq - true level| over calibrated signals: a
  1 kHz tone at 94 dB, pink noise at 80 dB LZeq (true LAeq from the spectrum
  under the standard's A curve), white noise at 70 dB LZeq.
- ``impulse_precision`` / ``impulse_recall``: alarming-class detections against
  the hand labels of tests/data/audio (tests/data/audio/PROVENANCE.md), onset
  within 0.3 s; 95 % Wilson intervals. ``snr_curve``: detection rate of real
  shots mixed into real traffic at known SNRs.

Run: .venv/bin/python benchmarks/audio.py [--seconds 60]
Writes benchmarks/results/audio.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vigil.audio.detect import DetectorSettings
from vigil.audio.evaluate import evaluate_folder, mix_at_snr, read_mono, snr_curve, wilson
from vigil.audio.levels import summarise
from vigil.audio.meter import Calibration, LevelMeter
from vigil.audio.ordinance import Limit
from vigil.audio.pipeline import MicPipeline, MicSpec
from vigil.audio.publish import Message, MicMessages
from vigil.audio.weighting import Weighting, design_gain_db

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "audio"
RESULTS = ROOT / "benchmarks" / "results" / "audio.json"
FS = 48000


def realistic_signal(seconds: float) -> np.ndarray:
    bg = read_mono(DATA / "hum.mp3", FS)
    shot = read_mono(DATA / "gunshot_4.wav", FS)[int(1.9 * FS) : int(2.9 * FS)]
    reps = math.ceil(seconds * FS / len(bg))
    x = np.tile(bg, reps)[: int(seconds * FS)]
    return mix_at_snr(
        x, shot, snr_db=15.0, at=list(range(FS, len(x) - FS, 5 * FS)), event_window=FS // 2
    )


def cpu_seconds_full(x: np.ndarray) -> tuple[float, int]:
    spec = MicSpec(
        fs=FS,
        calibration=Calibration(100.0),
        detector=DetectorSettings(),
        start=datetime(2026, 6, 1, tzinfo=UTC),
        report_s=60.0,
        limits=(
            Limit(start=datetime.min.time(), end=datetime.max.time(), period_s=900.0, laeq_db=55.0),
        ),
    )
    sent: list[Message] = []
    sink = MicMessages(
        site="bench", mic_id="m", noise_device="m", acoustic_device="m-ac", send=sent.append
    )
    pipe = MicPipeline(spec, sink)
    block = FS // 10
    t = time.process_time()
    for i in range(0, len(x), block):
        pipe.feed(x[i : i + block])
    pipe.close()
    return time.process_time() - t, sink.events


def cpu_seconds_meter(x: np.ndarray) -> float:
    meter = LevelMeter(FS, Calibration(100.0))
    t = time.process_time()
    k = 0
    while meter.frame_bounds(k + 1) <= len(x):
        meter.measure(x[meter.frame_bounds(k) : meter.frame_bounds(k + 1)])
        k += 1
    return time.process_time() - t


def laeq_of(x: np.ndarray, cal: Calibration) -> float:
    meter = LevelMeter(FS, cal)
    frames = []
    k = 0
    while meter.frame_bounds(k + 1) <= len(x):
        frames.append(meter.measure(x[meter.frame_bounds(k) : meter.frame_bounds(k + 1)]))
        k += 1
    settled = frames[len(frames) // 2 :]
    return summarise(settled, cal, start=0.0).laeq


def calibrated_errors() -> dict[str, float]:
    cal = Calibration(120.0)
    rng = np.random.default_rng(11)
    out = {}
    tone = 10 ** ((94 - 120) / 20) * np.sin(2 * np.pi * 1000 * np.arange(FS * 10) / FS)
    out["tone_1khz_94db"] = laeq_of(tone, cal) - 94.0
    for name, target, pink in (("pink_80db", 80.0, True), ("white_70db", 70.0, False)):
        n = FS * 20
        f = np.fft.rfftfreq(n, 1 / FS)
        shape = np.zeros_like(f)
        band = (f >= 20) & (f <= 20000)
        shape[band] = 1 / np.sqrt(f[band]) if pink else 1.0
        x = np.fft.irfft(shape * np.exp(2j * np.pi * rng.random(len(f))), n)
        x *= math.sqrt(10 ** ((target - cal.offset_db) / 10) / np.mean(x**2))
        p = shape[band] ** 2
        true_a = target + 10 * math.log10(
            float(
                np.sum(
                    p
                    * 10
                    ** (design_gain_db(Weighting.A, np.asarray(f[band], dtype=np.float64)) / 10)
                )
                / np.sum(p)
            )
        )
        out[name] = laeq_of(np.concatenate((x, x)), cal) - true_a
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="audio per timing run")
    args = ap.parse_args()
    x = realistic_signal(args.seconds)
    runs = [cpu_seconds_full(x) for _ in range(3)]
    full_cpu = sorted(r[0] for r in runs)[1]
    meter_cpu = sorted(cpu_seconds_meter(x) for _ in range(3))[1]
    errors = calibrated_errors()
    total, per_file = evaluate_folder(DATA)
    bg = read_mono(DATA / "hum.mp3", FS)
    shots = []
    for name, onset in (("gunshot_2.wav", 2.56), ("gunshot_4.wav", 1.93)):
        s = read_mono(DATA / name, FS)
        shots.append(s[int((onset - 0.02) * FS) : int((onset + 1.0) * FS)])
    curve = snr_curve(bg, shots, FS, [-10.0, -5.0, 0.0, 5.0, 8.0, 10.0, 12.0, 15.0, 20.0])
    p_lo, p_hi = wilson(total.tp, total.tp + total.fp)
    r_lo, r_hi = wilson(total.tp, total.tp + total.fn)
    result = {
        "mics_per_core": round(args.seconds / full_cpu, 1),
        "mics_per_core_meter_only": round(args.seconds / meter_cpu, 1),
        "cpu_s_per_audio_s_full": full_cpu / args.seconds,
        "events_in_timing_signal": runs[0][1],
        "laeq_error_db": round(max(abs(v) for v in errors.values()), 3),
        "laeq_errors_db": {k: round(v, 3) for k, v in errors.items()},
        "impulse_precision": round(total.precision, 3),
        "impulse_precision_ci95": [round(p_lo, 3), round(p_hi, 3)],
        "impulse_recall": round(total.recall, 3),
        "impulse_recall_ci95": [round(r_lo, 3), round(r_hi, 3)],
        "impulse_tp_fp_fn": [total.tp, total.fp, total.fn],
        "class_correct_of_tp": total.class_correct,
        "per_file": {k: [v.tp, v.fp, v.fn] for k, v in per_file.items()},
        "snr_curve": curve,
        "method": "CPU seconds (time.process_time), median of 3; 48 kHz; shared 2-core machine",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"mics per core at 48 kHz, everything on: {result['mics_per_core']} (target >= 50)")
    print(f"  meter alone (baseline, same run):     {result['mics_per_core_meter_only']}")
    print(
        f"LAeq error on calibrated signals: {result['laeq_error_db']} dB (target <= 0.5) {result['laeq_errors_db']}"
    )
    print(
        f"impulses on labelled real recordings: precision {total.precision:.2f} [{p_lo:.2f}, {p_hi:.2f}], "
        f"recall {total.recall:.2f} [{r_lo:.2f}, {r_hi:.2f}] (TP {total.tp}, FP {total.fp}, FN {total.fn})"
    )
    for k, v in per_file.items():
        print(f"  {k:16} TP {v.tp} FP {v.fp} FN {v.fn}")
    for row in curve:
        print(
            f"  SNR {row['snr_db']:+5.1f} dB: detection rate {row['detection_rate']:.2f} ({row['inserted']} shots), false alarms {row['false_alarms']}"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
