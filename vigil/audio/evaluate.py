"""Detection quality against hand labels, and synthetic mixtures at known SNR.

A detection *matches* a label when its onset is within ``tolerance_s`` of the
labelled onset; each label matches at most one detection. Only alarming
classes count as detections (gunshot-, explosion-, glass-break-, scream-like);
a plain ``impulse`` is reported separately. Precision and recall come with
95 % Wilson score intervals, because the labelled sets are small.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy import signal

from vigil.audio.analyze import analyze_file
from vigil.audio.detect import AcousticEvent, DetectorSettings, EventClass
from vigil.audio.meter import Calibration
from vigil.audio.pipeline import MicPipeline, MicSpec

ALARMING = frozenset(
    {
        EventClass.GUNSHOT_LIKE,
        EventClass.EXPLOSION_LIKE,
        EventClass.GLASS_BREAK_LIKE,
        EventClass.SCREAM_LIKE,
    }
)


@dataclass(frozen=True, slots=True)
class Label:
    """A hand-labelled event."""

    file: str
    t: float
    cls: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    """Matches of detections against labels."""

    tp: int
    fp: int
    fn: int
    class_correct: int  # matched detections whose class is the labelled one

    @property
    def precision(self) -> float:
        """Return TP / (TP + FP) (1.0 when nothing was detected)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Return TP / (TP + FN) (1.0 when nothing was labelled)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the 95 % Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_labels(path: Path) -> list[Label]:
    """Read a labels CSV: file, t_s, class, note."""
    with path.open(newline="", encoding="utf-8") as f:
        return [Label(r["file"], float(r["t_s"]), r["class"]) for r in csv.DictReader(f)]


def match(
    detections: Iterable[AcousticEvent], labels: Iterable[Label], *, tolerance_s: float = 0.3
) -> Score:
    """Score one file's alarming detections against its labels (greedy, nearest first)."""
    dets = sorted((d for d in detections if d.cls in ALARMING), key=lambda d: d.t)
    free = sorted(labels, key=lambda lab: lab.t)
    tp = correct = 0
    fp = 0
    for d in dets:
        best = min(free, key=lambda lab: abs(lab.t - d.t), default=None)
        if best is not None and abs(best.t - d.t) <= tolerance_s:
            free.remove(best)
            tp += 1
            correct += int(best.cls == d.cls.value)
        else:
            fp += 1
    return Score(tp=tp, fp=fp, fn=len(free), class_correct=correct)


def add(a: Score, b: Score) -> Score:
    """Return the sum of two scores."""
    return Score(
        tp=a.tp + b.tp,
        fp=a.fp + b.fp,
        fn=a.fn + b.fn,
        class_correct=a.class_correct + b.class_correct,
    )


def evaluate_folder(
    folder: Path, *, full_scale_db: float = 110.0, detector: DetectorSettings | None = None
) -> tuple[Score, dict[str, Score]]:
    """Run the detector on every recording of a labelled folder; return total and per-file."""
    labels = load_labels(folder / "labels.csv")
    per_file: dict[str, Score] = {}
    total = Score(tp=0, fp=0, fn=0, class_correct=0)
    for path in sorted(
        p for p in folder.iterdir() if p.suffix.lower() in {".wav", ".flac", ".mp3"}
    ):
        got = analyze_file(path, full_scale_db=full_scale_db, detector=detector)
        s = match(got.events, [lab for lab in labels if lab.file == path.name])
        per_file[path.name] = s
        total = add(total, s)
    return total, per_file


def read_mono(path: Path, fs: int) -> NDArray[np.float64]:
    """Read a recording as mono at sample rate fs (polyphase resampling)."""
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    y = x.mean(axis=1)
    if rate != fs:
        g = math.gcd(int(rate), fs)
        y = signal.resample_poly(y, fs // g, int(rate) // g)
    return np.asarray(y, dtype=np.float64)


def mix_at_snr(
    background: NDArray[np.float64],
    event: NDArray[np.float64],
    *,
    snr_db: float,
    at: list[int],
    event_window: int,
) -> NDArray[np.float64]:
    """Add copies of `event` at sample offsets `at`, scaled so that the mean square of its
    first `event_window` samples is `snr_db` above the background's mean square."""
    bg_ms = float(np.mean(background**2))
    ev_ms = float(np.mean(event[:event_window] ** 2))
    gain = math.sqrt(bg_ms / ev_ms * 10 ** (snr_db / 10))
    out = background.copy()
    for a in at:
        n = min(len(event), len(out) - a)
        out[a : a + n] += gain * event[:n]
    return out


def detect_array(
    x: NDArray[np.float64],
    fs: int,
    *,
    full_scale_db: float = 110.0,
    detector: DetectorSettings | None = None,
) -> list[AcousticEvent]:
    """Run the detector over samples in memory; return its events."""
    from vigil.audio.analyze import EPOCH, Collected  # noqa: PLC0415 - avoid a cycle at import

    sink = Collected()
    spec = MicSpec(
        fs=fs,
        calibration=Calibration(full_scale_db),
        detector=detector or DetectorSettings(),
        start=EPOCH,
    )
    pipe = MicPipeline(spec, sink)
    for i in range(0, len(x), fs // 2):
        pipe.feed(x[i : i + fs // 2])
    pipe.close()
    return sink.events


def snr_curve(
    background: NDArray[np.float64],
    events: list[NDArray[np.float64]],
    fs: int,
    snrs: Iterable[float],
    *,
    spacing_s: float = 3.0,
    detector: DetectorSettings | None = None,
) -> list[dict[str, float]]:
    """Return, per SNR, the fraction of inserted events found (alarming class) and false alarms."""
    rows = []
    window = int(0.5 * fs)
    for snr in snrs:
        found = inserted = fp = 0
        for k, ev in enumerate(events):
            first = int((1.5 + 0.37 * k) * fs)  # events at different phases of the background
            at = list(range(first, len(background) - int(1.2 * fs), int(spacing_s * fs)))
            mixed = mix_at_snr(background, ev, snr_db=snr, at=at, event_window=window)
            got = [e for e in detect_array(mixed, fs, detector=detector) if e.cls in ALARMING]
            labels = [Label("mix", a / fs, "gunshot_like") for a in at]
            s = match(got, labels, tolerance_s=0.3)
            found += s.tp
            fp += s.fp
            inserted += len(at)
        rows.append(
            {
                "snr_db": float(snr),
                "detection_rate": found / inserted,
                "inserted": inserted,
                "false_alarms": fp,
            }
        )
    return rows
