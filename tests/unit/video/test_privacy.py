"""Privacy by construction: blurred snapshots, and no identifying model anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import REPO, shared_file
from vigil.video.pipeline import CameraPipeline, PipelineConfig
from vigil.video.privacy import SnapshotStore, blurred_snapshot
from vigil.video.source import FrameSource

# Everything the camera worker may load at run time beyond the standard library: an
# allowlist, so a new dependency that could identify people must be looked at first.
ALLOWED_RUNTIME = {
    "vigil", "numpy", "cv2", "scipy", "trackers", "supervision", "PIL", "yaml", "tqdm",
    "rich", "requests", "urllib3", "idna", "certifi", "charset_normalizer", "defusedxml",
    "deprecate", "cython_runtime",
}  # fmt: skip
# OpenCV's own people-identifying APIs (face cascades, face detection and recognition).
FORBIDDEN_CV2_APIS = (
    "cascadeclassifier",
    "haarcascade",
    "cv2.data",
    "facedetectoryn",
    "facerecognizersf",
)
MODEL_EXT = {".onnx", ".pt", ".pth", ".tflite", ".pb", ".caffemodel", ".weights", ".xml", ".engine"}


def laplacian_energy(a: np.ndarray) -> float:
    """Edge energy of an image region."""
    return float(cv2.Laplacian(a.astype(np.uint8), cv2.CV_64F).var())


def test_every_detected_person_region_loses_its_original_pixels(tmp_path: Path) -> None:
    src = FrameSource(str(shared_file("video/worker-zone-detection.gif")), fps=12.5)
    pipe = CameraPipeline(PipelineConfig(camera="t", fps=12.5))
    store = SnapshotStore(tmp_path, retention_days=1)
    checked = 0
    for t, frame in src.frames():
        r = pipe.process(t, frame)
        people = [d.box for d in r.detections if d.cls.value == "person"]
        if not people:
            continue
        saved = store.save("t", pipe.wall_time(t), "test", blurred_snapshot(frame, r.blur_boxes()))
        snap = cv2.imread(str(saved.path))
        assert snap is not None
        for b in people:
            x1, y1, x2, y2 = int(b.x1), int(b.y1), int(b.x2), int(b.y2)
            orig = frame[y1:y2, x1:x2].astype(np.int16)
            got = snap[y1:y2, x1:x2].astype(np.int16)
            kept = np.mean(np.all(np.abs(orig - got) <= 6, axis=2))
            assert kept < 0.25, f"{kept:.0%} of a person's pixels kept at t={t:.2f}"
            # Detail is gone: the Laplacian energy (edges: faces, text) drops by > 80 %.
            assert laplacian_energy(got) < 0.2 * laplacian_energy(orig)
            checked += 1
    assert checked >= 10, "too few person detections to test blurring"


def test_snapshots_past_retention_are_deleted(tmp_path: Path) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    store = SnapshotStore(tmp_path, retention_days=1)
    s = store.save("cam", datetime(2026, 6, 1, tzinfo=UTC), "x", b"\xff\xd8jpeg")
    import os  # noqa: PLC0415

    old = s.path.stat().st_mtime - 2 * 86400
    os.utime(s.path, (old, old))
    assert store.purge() == 1 and not s.path.exists()


def test_no_identifying_model_is_used_shipped_or_loaded() -> None:
    for path in (REPO / "vigil").rglob("*.py"):
        text = path.read_text("utf-8").lower()
        for api in FORBIDDEN_CV2_APIS:
            assert api not in text, f"{path} uses {api}"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    shipped = [
        f for f in tracked if Path(f).suffix.lower() in MODEL_EXT and not f.startswith("vigil/web/")
    ]
    assert shipped == [], f"model files in the repository: {shipped}"
    # What the worker really loads: run a pipeline in a fresh interpreter, list its modules.
    code = (
        "import sys, numpy as np\n"
        "from vigil.video.pipeline import CameraPipeline, PipelineConfig\n"
        "p = CameraPipeline(PipelineConfig(camera='x'))\n"
        "for i in range(5): p.process(i / 5, np.zeros((120, 160, 3), np.uint8))\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()

    outside = sorted(
        top
        for top in {m.split(".")[0] for m in loaded}
        if top not in sys.stdlib_module_names
        and top not in sys.builtin_module_names
        and not top.startswith("_")  # interpreter and extension internals
        and top not in ALLOWED_RUNTIME
    )
    assert outside == [], f"the worker loaded packages nobody reviewed: {outside}"
