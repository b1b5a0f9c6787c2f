"""Privacy: speech cannot be rebuilt from what a microphone emits, and no audio is written.

The measure. An attacker holding the emitted features rebuilds the sound with
a noise vocoder — band-limited noise shaped by each band's level, the classic
way of making band envelopes audible (Shannon et al., Science 1995) — and we
score the result against the original speech with STOI (Taal et al., IEEE
TASLP 2011), the standard objective predictor of intelligibility. STOI has a
floor (here about 0.4) that owes nothing to the content, so each score is
compared with a *no-information* rebuild that knows only the speech's
long-term spectrum. Two controls make the test able to fail: a vocoder fed
1/3-octave levels at 8 ms (known to be intelligible) must gain at least 0.2
over the floor; the emitted features (125 ms broadband levels, octave bands
per second) must gain less than a quarter of what that control gains.
"""

from __future__ import annotations

import ast
import io
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray
from pystoi import stoi
from scipy import signal

from vigil.audio.analyze import EPOCH, Collected
from vigil.audio.detect import DetectorSettings
from vigil.audio.meter import Calibration
from vigil.audio.pipeline import MicPipeline, MicSpec
from vigil.audio.publish import Message
from vigil.audio.settings import MicsFile
from vigil.audio.worker import Worker

FS = 48000
REPO = Path(__file__).resolve().parents[3]
TEXTS = {
    "en+m3": "Please call me back at seven tonight, the meeting is at the old harbour near the bridge.",
    "en+f3": "The quick brown fox jumps over the lazy dog, and then we drove home along the river road.",
}


def speech(voice: str) -> NDArray[np.float64]:
    """Synthesise a sentence with espeak-ng, in memory, at 48 kHz."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        reason = "espeak-ng is not installed (scripts/setup installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    wav = subprocess.run(
        [exe, "--stdout", "-v", voice, "-s", "150", TEXTS[voice]], capture_output=True, check=True
    ).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float64")
    g = math.gcd(int(rate), FS)
    y = signal.resample_poly(x, FS // g, int(rate) // g)
    return np.asarray(0.3 * y / np.abs(y).max(), dtype=np.float64)


def vocode(
    levels_db: NDArray[np.float64], frame_s: float, centres: list[float], half_bw: float, n: int
) -> NDArray[np.float64]:
    """Rebuild sound from band levels (frames x bands): shaped noise, envelopes interpolated."""
    rng = np.random.default_rng(0)
    t = np.arange(n) / FS
    tc = (np.arange(levels_db.shape[0]) + 0.5) * frame_s
    out = np.zeros(n)
    for b, fc in enumerate(centres):
        lo, hi = fc / half_bw, min(fc * half_bw, 0.99 * FS / 2)
        if lo >= hi:
            continue
        sos = signal.butter(4, [lo, hi], btype="band", fs=FS, output="sos")
        noise = signal.sosfilt(sos, rng.normal(0, 1, n))
        noise /= np.sqrt(np.mean(noise**2))
        out += np.interp(t, tc, np.sqrt(10 ** (levels_db[:, b] / 10))) * noise
    return out


def band_levels(
    x: NDArray[np.float64], frame_s: float, centres: list[float], half_bw: float
) -> NDArray[np.float64]:
    """Return band levels (dB, uncalibrated) of x in frames (the control's analysis)."""
    hop = int(frame_s * FS)
    m = len(x) // hop
    cols = []
    for fc in centres:
        sos = signal.butter(
            4, [fc / half_bw, min(fc * half_bw, 0.99 * FS / 2)], btype="band", fs=FS, output="sos"
        )
        y = signal.sosfilt(sos, x)[: m * hop]
        cols.append(10 * np.log10(np.maximum((y**2).reshape(m, hop).mean(axis=1), 1e-20)))
    return np.array(cols).T


def emitted(x: NDArray[np.float64]) -> tuple[Collected, list[float], Calibration]:
    """Run a microphone's pipeline over x; return what it emits (and its band centres)."""
    cal = Calibration(100.0)
    sink = Collected(keep_features=True)
    pipe = MicPipeline(
        MicSpec(fs=FS, calibration=cal, detector=DetectorSettings(), start=EPOCH), sink
    )
    pipe.feed(np.concatenate((x, np.zeros(FS))))  # a second of silence flushes the last second
    pipe.close()
    return sink, list(pipe.meter.band_centres), cal


@pytest.mark.slow
@pytest.mark.parametrize("voice", sorted(TEXTS))
def test_speech_is_not_recoverable_from_emitted_features(voice: str) -> None:
    x = speech(voice)
    n = len(x)
    sink, octaves, cal = emitted(x)
    octave_bw = math.sqrt(2.0)
    # What leaves the worker: LAeq per 125 ms, octave bands per second (levels in dB).
    per_s = {round(s.t): s for s in sink.seconds}
    rows = []
    for f in sink.feature_frames[: int(n / FS * 8)]:
        sec = per_s[int(f.t)]
        rows.append([b - cal.offset_db + (f.laeq - sec.laeq) for b in sec.bands])
    d_emitted = stoi(x, vocode(np.array(rows), 0.125, octaves, octave_bw, n), FS)
    # No information: the long-term spectrum only.
    longterm = band_levels(x, n / FS - 0.01, octaves, octave_bw)
    d_floor = stoi(x, vocode(np.repeat(longterm, 8, axis=0), n / FS / 8, octaves, octave_bw, n), FS)
    # Control: fine features an intelligible vocoder needs (1/3 octaves at 8 ms).
    thirds = [1000 * 2 ** (k / 3) for k in range(-12, 13)]
    fine = band_levels(x, 0.008, thirds, 2 ** (1 / 6))
    d_fine = stoi(x, vocode(fine, 0.008, thirds, 2 ** (1 / 6), n), FS)
    gain_fine, gain_emitted = d_fine - d_floor, d_emitted - d_floor
    print(f"{voice}: STOI floor {d_floor:.3f}, fine control {d_fine:.3f}, emitted {d_emitted:.3f}")
    assert gain_fine >= 0.2, "the measure cannot tell intelligible from unintelligible here"
    assert gain_emitted < 0.25 * gain_fine, (d_floor, d_emitted, d_fine)


# ------------------------------------------------------------------ no audio on disk
WRITERS = {"write", "write_bytes", "write_text", "save", "savez", "tofile", "dump"}


def _writes(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = (
            fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        )
        if name in WRITERS:
            yield f"{path.name}:{node.lineno} {name}"
        if name in {"open", "SoundFile"}:  # read-only unless a writing mode is given
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [
                k.value.value
                for k in node.keywords
                if k.arg == "mode" and isinstance(k.value, ast.Constant)
            ]
            if any(isinstance(m, str) and set(m) & set("wax+") for m in modes):
                yield f"{path.name}:{node.lineno} open({modes[0]!r})"


def test_no_code_path_in_the_worker_writes_files() -> None:
    found = [w for p in sorted((REPO / "vigil" / "audio").glob("*.py")) for w in _writes(p)]
    assert found == [], found
    # The CLI writes one file: the JSON report of `analyze` (levels and events, no samples).
    cli = list(_writes(REPO / "vigil" / "cli" / "audio.py"))
    assert len(cli) == 1 and "write_text" in cli[0], cli


def test_running_the_worker_opens_nothing_for_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Message] = []
    cfg = MicsFile.model_validate(
        {
            "report_s": 2,
            "mics": [
                {
                    "id": "m1",
                    "lat": 60.17,
                    "lon": 24.95,
                    "input": {
                        "kind": "file",
                        "path": str(REPO / "tests/data/audio/gunshot_4.wav"),
                        "realtime": False,
                    },
                    "calibration": {"full_scale_db": 120},
                    "publish_features": True,
                }
            ],
        }
    )
    writes: list[str] = []
    active = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if (
            active[0]
            and event == "open"
            and len(args) > 1
            and isinstance(args[1], str)
            and set(args[1]) & set("wax+")
        ):
            writes.append(str(args[0]))

    monkeypatch.chdir(tmp_path)
    sys.addaudithook(hook)  # audit hooks cannot be removed: it only records while `active`
    before = set(tmp_path.rglob("*"))
    try:
        Worker(cfg, send=sent.append).run()
    finally:
        active[0] = False
    assert [w for w in writes if not w.endswith((".pyc", ".pyc.tmp"))] == []
    assert set(tmp_path.rglob("*")) == before
    # What was sent: readings and features, each a small JSON document with no sample in it.
    assert sent and all(len(m.payload) < 2048 for m in sent)
    features = [m for m in sent if m.topic.endswith("/features")]
    assert features and all(m.payload.count(b",") < 60 for m in features)
