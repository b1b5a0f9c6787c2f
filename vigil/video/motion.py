"""Motion gating and still-object finding, on a small grey copy of each frame.

`MotionGate` is OpenCV's MOG2 background subtractor: it says which regions
moved, so the detector runs only there (and not at all on a static frame).
During its first second it is still learning the background, so frame-to-frame
differences are added: a stream that starts with people already moving in view
is not blind for its first frames.
A sudden global change (auto-exposure, a cloud) lights up most of the frame at
once; such frames are reported as `lighting` and give no regions.

`StaticObjects` is a dual-background detector for objects that were put down:
a long-term background (slow running average, frozen where anything is in the
foreground) against the current frame. Pixels that differ from the long-term
background but are not moving now are "new and still"; a blob of them that
stays put for `still_s` becomes a `StaticObject`, and it ends when the pixels
return to the background (the object was taken away).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vigil.video.behaviours import StaticObject
from vigil.video.model import Box

Gray = NDArray[Any]


@dataclass(frozen=True, slots=True)
class Motion:
    """The moving regions of one frame, in motion-image pixels."""

    regions: tuple[Box, ...]
    fraction: float  # share of pixels in the foreground
    lighting: bool  # a global change: regions suppressed
    mask: Gray


def _blobs(mask: Gray, min_area: float) -> list[Box]:
    n, _labels, stats, _c = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out: list[Box] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            out.append(Box(float(x), float(y), float(x + w), float(y + h)))
    return out


def join_stacked(boxes: list[Box], *, max_gap: float = 0.3) -> list[Box]:
    """Join blobs stacked one above the other: the torso and legs of one walking person.

    Trousers the colour of the floor break a person's motion mask into an upper and a
    lower blob; left apart, the upper one's bottom is taken for the feet (about a
    leg's length too high). Two blobs are joined when the narrower one lies at least
    half within the other's columns and the vertical gap between them is at most
    `max_gap` of their joint height. Side-by-side objects (two cars in two lanes) are
    not joined.
    """
    out = sorted(boxes, key=lambda b: b.y1)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                cols = min(a.x2, b.x2) - max(a.x1, b.x1)
                gap = max(a.y1, b.y1) - min(a.y2, b.y2)
                joint = max(a.y2, b.y2) - min(a.y1, b.y1)
                if cols >= 0.5 * min(a.w, b.w) and gap <= max_gap * joint:
                    out[i] = Box(min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2), max(a.y2, b.y2))
                    del out[j]
                    changed = True
                    break
            if changed:
                break
    return out


class MotionGate:
    """Which parts of the frame moved (MOG2 with shadow removal and morphology)."""

    def __init__(
        self,
        *,
        fps: float,
        history_s: float = 20.0,
        min_area_frac: float = 0.0008,
        warmup_s: float = 1.0,
        diff_threshold: int = 30,
    ):
        self._mog = cv2.createBackgroundSubtractorMOG2(
            history=max(10, round(history_s * fps)), varThreshold=25.0, detectShadows=True
        )
        # While MOG2 is still learning its background (on the shared clips it reported
        # nothing for the first 4-5 frames of a stream), what moved is also found by
        # differencing each frame with the previous one (temporal differencing, the
        # classic complement of background subtraction at start-up), for `warmup_s`.
        # The threshold is StaticObjects' grey-level one; neither was tuned on labels.
        self._warmup = max(2, round(warmup_s * fps))
        self._diff_threshold = diff_threshold
        self._prev: Gray | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._dilate = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        # Closing joins the fragments a low-contrast object breaks into (a grey car on asphalt).
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
        self._min_area_frac = min_area_frac
        self.frames = 0

    def apply(self, image: Gray) -> Motion:
        """Update the background with a small BGR `image` and return what moved.

        Colour matters: on a grey image MOG2's shadow test calls every darker
        object a shadow (a dark coat on a light floor would vanish).
        """
        self.frames += 1
        fg = self._mog.apply(image)
        mask: Gray = np.where(fg == 255, 255, 0).astype(np.uint8)  # 127 = shadow: not an object
        if self.frames <= 2:
            mask[:] = 0  # MOG2's first frames are noise
        if self._prev is not None:  # still warming up: what changed since the last frame
            diff = cv2.absdiff(image, self._prev)
            if diff.ndim == 3:
                diff = diff.max(axis=2)  # colour, as for MOG2
            moved = np.where(diff > self._diff_threshold, 255, 0).astype(np.uint8)
            mask = cv2.bitwise_or(mask, moved)
        self._prev = image if self.frames < self._warmup else None
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.dilate(mask, self._dilate)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        fraction = float(np.count_nonzero(mask)) / mask.size
        if self.frames <= 1 or fraction > 0.6:
            return Motion((), fraction, self.frames > 2, mask)
        min_area = self._min_area_frac * mask.size
        # A blob over 40 % of the picture is a lighting change or a shaken camera, not an object.
        blobs = tuple(
            b for b in join_stacked(_blobs(mask, min_area)) if b.w * b.h <= 0.4 * mask.size
        )
        return Motion(blobs, fraction, False, mask)


@dataclass(slots=True)
class _Candidate:
    id: int
    box: Box
    first: float
    last: float


class StaticObjects:
    """Objects that appeared and stay still (see the module docstring)."""

    def __init__(
        self,
        *,
        fps: float,
        still_s: float = 3.0,
        absorb_s: float = 900.0,
        threshold: int = 30,
        min_area_frac: float = 0.0004,
        max_area_frac: float = 0.05,
    ) -> None:
        self._alpha = 1.0 / max(1.0, fps * 30.0)  # learning rate where nothing is happening
        self._bg: NDArray[np.float32] | None = None
        self._still_s = still_s
        self._absorb_s = absorb_s
        self._threshold = threshold
        self._min_frac = min_area_frac
        self._max_frac = max_area_frac
        self._cands: list[_Candidate] = []
        self._next = 1

    def apply(self, image: Gray, motion: Motion, t: float, people: list[Box]) -> list[StaticObject]:
        """Return the objects still for `still_s` at stream time `t` (motion-image pixels)."""
        frame = image.astype(np.float32)
        if self._bg is None or motion.lighting:
            self._bg = frame
            self._cands.clear()
            return []
        raw = np.asarray(cv2.absdiff(frame, self._bg), dtype=np.float32)
        if raw.ndim == 3:
            raw = raw.max(axis=2)  # colour: a green bag on a grey floor of equal brightness
        diff = raw - float(np.median(raw))  # a small global drift is not an object
        changed = np.where(diff > self._threshold, 255, 0).astype(np.uint8)
        still = cv2.bitwise_and(changed, cv2.bitwise_not(motion.mask))
        still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        size = still.size
        sh, sw = still.shape[:2]
        blobs = [
            b
            for b in _blobs(still, self._min_frac * size)
            if b.w * b.h <= self._max_frac * size
            and not any(b.iou(p) > 0.2 for p in people)
            # A left object is wholly in view; "new" pixels against the frame's edge are the
            # picture shifting (measured: a road marking at the car clip's corner after the
            # exposure change, tests/unit/video/test_real_clips.py).
            and b.x1 > 0
            and b.y1 > 0
            and b.x2 < sw
            and b.y2 < sh
        ]
        matched: list[_Candidate] = []
        for b in blobs:
            best = max(self._cands, key=lambda c: c.box.iou(b), default=None)
            if best is not None and best.box.iou(b) > 0.3 and best not in matched:
                best.last = t
                best.box = b
                matched.append(best)
            else:
                c = _Candidate(self._next, b, t, t)
                self._next += 1
                matched.append(c)
        # A still object's pixels are kept out of the background until it is absorbed.
        self._cands = [c for c in matched if t - c.first < self._absorb_s]
        keep = np.zeros_like(still)
        for c in self._cands:
            x1, y1, x2, y2 = (int(v) for v in (c.box.x1, c.box.y1, c.box.x2, c.box.y2))
            keep[y1:y2, x1:x2] = 255
        update = cv2.bitwise_not(cv2.bitwise_or(keep, motion.mask))
        cv2.accumulateWeighted(frame, self._bg, self._alpha, mask=update)
        return [
            StaticObject(c.id, c.box, c.first) for c in self._cands if t - c.first >= self._still_s
        ]
