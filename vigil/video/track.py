"""Multi-object tracking: ByteTrack from Roboflow's `trackers` package (motion + IoU only).

ByteTrack associates boxes by their predicted motion and overlap; it uses no
appearance model, so it cannot recognise anyone, and ids mean nothing outside
this camera. The pipeline restarts the tracker every hour so ids never span
longer than that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from vigil.video.model import Box, Detection, ObjectClass, TrackedObject

_CLASSES = tuple(ObjectClass)


class Tracker:
    """ByteTrack over one camera's detections."""

    def __init__(self, *, fps: float, lost_s: float = 2.0) -> None:
        self._fps = fps
        self._lost_s = lost_s
        self._tracker = self._new()

    def _new(self) -> ByteTrackTracker:
        return ByteTrackTracker(
            frame_rate=self._fps,
            lost_track_buffer=max(2, round(self._lost_s * self._fps)),
            track_activation_threshold=0.2,
            high_conf_det_threshold=0.25,  # blob-shape bicycles (0.25) may start a track
            minimum_consecutive_frames=2,
            minimum_iou_threshold=0.1,
        )

    def reset(self) -> None:
        """Forget every track; ids start again (the hourly reset)."""
        self._tracker = self._new()

    def update(self, detections: Sequence[Detection]) -> list[TrackedObject]:
        """Feed one frame's detections; return the confirmed tracks in it."""
        if detections:
            xyxy = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in detections])
            conf = np.array([d.confidence for d in detections], dtype=np.float64)
            cls = np.array([_CLASSES.index(d.cls) for d in detections], dtype=np.int64)
        else:
            xyxy = np.empty((0, 4))
            conf = np.empty((0,))
            cls = np.empty((0,), dtype=np.int64)
        tracked = self._tracker.update(sv.Detections(xyxy=xyxy, confidence=conf, class_id=cls))
        out: list[TrackedObject] = []
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.empty((0,))
        confs = tracked.confidence if tracked.confidence is not None else np.ones(len(ids))
        classes = tracked.class_id if tracked.class_id is not None else np.zeros(len(ids))
        for i in range(len(ids)):
            tid = int(ids[i])
            if tid < 0:
                continue  # not confirmed yet
            x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[i])
            out.append(
                TrackedObject(
                    track=tid + 1,
                    box=Box(x1, y1, x2, y2),
                    cls=_CLASSES[int(classes[i])],
                    confidence=float(confs[i]),
                )
            )
        return out
