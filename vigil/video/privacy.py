"""Privacy by construction: blurred snapshots, kept for a limited time.

A snapshot is made only through `blurred_snapshot`, which mosaics (coarse
blocks, then a blur) every detected person, vehicle and bicycle box *and*
every moving region — a person the detector missed is still moving — before
the image is encoded. Raw frames are never written or sent: this module is the
only place that encodes an image, and it encodes only the blurred copy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vigil.video.model import Box

Frame = NDArray[Any]
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def blur_regions(frame: Frame, boxes: Iterable[Box], *, grow: float = 0.15) -> Frame:
    """Return a copy of `frame` with each box (grown by `grow`) mosaicked and blurred."""
    out = frame.copy()
    fh, fw = frame.shape[:2]
    for b in boxes:
        g = b.grown(grow, fw, fh)
        x1, y1 = max(0, int(g.x1)), max(0, int(g.y1))
        x2, y2 = min(fw, int(np.ceil(g.x2))), min(fh, int(np.ceil(g.y2)))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        # Blocks of ~1/6 of the region (at least 6 px): no face or plate survives that.
        bw = max(1, (x2 - x1) // max(6, (x2 - x1) // 6 or 1))
        bh = max(1, (y2 - y1) // max(6, (y2 - y1) // 6 or 1))
        tiny = cv2.resize(region, (bw, bh), interpolation=cv2.INTER_AREA)
        mosaic = cv2.resize(tiny, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(x2 - x1, y2 - y1) // 4) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(mosaic, (k, k), 0)
    return out


def blurred_snapshot(frame: Frame, boxes: Iterable[Box], *, quality: int = 80) -> bytes:
    """Return a JPEG of the frame with every given region blurred (the only encoder)."""
    ok, buf = cv2.imencode(".jpg", blur_regions(frame, boxes), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


@dataclass(frozen=True, slots=True)
class SavedSnapshot:
    """A blurred snapshot on disk."""

    path: Path
    camera: str
    at: datetime


class SnapshotStore:
    """Blurred snapshots under ``dir/<camera>/``; older than the retention are deleted."""

    def __init__(self, root: Path, *, retention_days: float) -> None:
        self.root = root
        self.retention_s = retention_days * 86400.0

    def save(self, camera: str, at: datetime, kind: str, jpeg: bytes) -> SavedSnapshot:
        """Write a blurred JPEG (atomically) and return where it is."""
        folder = self.root / _SAFE.sub("_", camera)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{at:%Y%m%dT%H%M%S%f}-{_SAFE.sub('_', kind)}.jpg"
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(jpeg)
        path = folder / name
        tmp.replace(path)
        return SavedSnapshot(path, camera, at)

    def purge(self, now: float | None = None) -> int:
        """Delete snapshots older than the retention period; return how many."""
        limit = (time.time() if now is None else now) - self.retention_s
        removed = 0
        if not self.root.is_dir():
            return 0
        for p in self.root.glob("*/*.jpg"):
            if p.stat().st_mtime < limit:
                p.unlink(missing_ok=True)
                removed += 1
        return removed
