"""One camera's pipeline: low-res motion -> detector on moving regions -> tracks -> behaviours.

`CameraPipeline.process(t, frame)` does one analysed frame. The detector runs
only on the regions that moved, plus the boxes of objects already being tracked
(so a person who stops is still seen); a frame with neither costs one resize
and one background update. With `gating=False` the detector sees the whole
frame every time (the benchmark's baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import cv2
from numpy.typing import NDArray

from vigil.video.behaviours import (
    Behaviours,
    Gathering,
    Line,
    Schedule,
    StaticObject,
    StepOut,
    Zone,
)
from vigil.video.detect import Detector, build_detector
from vigil.video.geometry import Ground, Polygon
from vigil.video.model import BLURRED, Box, Detection, ObjectClass, TrackedObject
from vigil.video.motion import MotionGate, StaticObjects
from vigil.video.track import Tracker

if TYPE_CHECKING:
    from vigil.video.config import DetectorIn, LineIn, ScheduleIn, ZoneIn

Frame = NDArray[Any]
FRAME_ZONE = "frame"


def _schedule(s: ScheduleIn) -> Schedule:
    return Schedule(s.start, s.end, frozenset(s.days))


def zone_of(z: ZoneIn) -> Zone:
    """Turn a configured zone into the domain zone."""
    return Zone(
        name=z.name,
        polygon=Polygon(tuple((float(x), float(y)) for x, y in z.polygon)),
        place=z.place,
        area_m2=z.area_m2,
        restricted=tuple(_schedule(s) for s in z.restricted),
        intrusion_classes=frozenset(ObjectClass(c) for c in z.intrusion_classes),
        loitering_s=z.loitering_s,
        gathering=None
        if z.gathering is None
        else Gathering(z.gathering.min_people, z.gathering.for_s, _schedule(z.gathering.hours)),
        abandoned_s=z.abandoned_s,
    )


def line_of(ln: LineIn) -> Line:
    """Turn a configured line into the domain line."""
    return Line(ln.name, (float(ln.a[0]), float(ln.a[1])), (float(ln.b[0]), float(ln.b[1])))


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    """Everything one camera's pipeline needs."""

    camera: str
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    ground: Ground = field(default_factory=Ground)
    detector: str = "hybrid"
    model: str | None = None
    labels: tuple[str, ...] = ()
    min_confidence: float = 0.3
    fps: float = 5.0
    width: int = 320
    interval_s: float = 60.0
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    utc_offset_h: float = 0.0
    gating: bool = True

    @classmethod
    def of(
        cls,
        camera: str,
        *,
        zones: Sequence[ZoneIn],
        lines: Sequence[LineIn],
        homography: list[list[float]] | None,
        metres_per_pixel: float | None,
        detector: DetectorIn,
        **more: object,
    ) -> PipelineConfig:
        """Build from the configuration models."""
        return cls(
            camera=camera,
            zones=tuple(zone_of(z) for z in zones),
            lines=tuple(line_of(ln) for ln in lines),
            ground=Ground.of(homography, metres_per_pixel),
            detector=detector.kind,
            model=None if detector.model is None else str(detector.model),
            labels=tuple(detector.labels),
            min_confidence=detector.min_confidence,
            **more,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What one analysed frame produced."""

    t: float
    detector_ran: bool
    regions: tuple[Box, ...]
    detections: tuple[Detection, ...]
    objects: tuple[TrackedObject, ...]
    statics: tuple[StaticObject, ...]
    out: StepOut
    classes: dict[int, ObjectClass]  # track -> its class this frame

    def blur_boxes(self) -> list[Box]:
        """Every region a snapshot of this frame must blur: people, vehicles, anything moving."""
        boxes = [d.box for d in self.detections if d.cls in BLURRED]
        boxes += [o.box for o in self.objects if o.cls in BLURRED]
        boxes += list(self.regions)
        return boxes


def merge_boxes(boxes: Sequence[Box]) -> list[Box]:
    """Merge overlapping boxes into their unions (so a crop is searched once)."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        merged: list[Box] = []
        for b in out:
            for i, m in enumerate(merged):
                if b.x1 <= m.x2 and m.x1 <= b.x2 and b.y1 <= m.y2 and m.y1 <= b.y2:
                    merged[i] = Box(
                        min(b.x1, m.x1), min(b.y1, m.y1), max(b.x2, m.x2), max(b.y2, m.y2)
                    )
                    changed = True
                    break
            else:
                merged.append(b)
        out = merged
    return out


class CameraPipeline:
    """The analysis of one camera's frames (state lives here; decisions in Behaviours)."""

    def __init__(self, config: PipelineConfig, *, detector: Detector | None = None) -> None:
        self.config = config
        self._detector = detector
        self._gate = MotionGate(fps=config.fps)
        self._static = (
            StaticObjects(fps=config.fps)
            if any(z.abandoned_s is not None for z in config.zones)
            else None
        )
        self._tracker = Tracker(fps=config.fps)
        self._behaviours: Behaviours | None = None
        self._hour: int | None = None
        self._last_objects: tuple[TrackedObject, ...] = ()
        self.size: tuple[int, int] | None = None  # source (w, h)
        self.frames = 0
        self.detector_runs = 0

    @property
    def behaviours(self) -> Behaviours:
        """The behaviour state (after the first frame)."""
        assert self._behaviours is not None
        return self._behaviours

    def _init(self, w: int, h: int) -> None:
        c = self.config
        self.size = (w, h)
        zones = c.zones or (
            Zone(
                name=FRAME_ZONE,
                polygon=Polygon(
                    ((-1.0, -1.0), (w + 1.0, -1.0), (w + 1.0, h + 1.0), (-1.0, h + 1.0))
                ),
            ),
        )
        self._behaviours = Behaviours(
            c.camera, zones, c.lines, ground=c.ground, interval_s=c.interval_s, frame_height=h
        )
        if self._detector is None:
            from pathlib import Path  # noqa: PLC0415 - only for the model path

            self._detector = build_detector(
                c.detector,
                ground=c.ground,
                frame_w=w,
                frame_h=h,
                model=None if c.model is None else Path(c.model),
                labels=c.labels,
                min_confidence=c.min_confidence,
            )

    def wall_time(self, t: float) -> datetime:
        """Return the UTC time of stream time `t`."""
        return self.config.start + timedelta(seconds=t)

    def process(self, t: float, frame: Frame) -> FrameResult:
        """Analyse one frame at stream time `t`."""
        h, w = frame.shape[:2]
        if self.size is None:
            self._init(w, h)
        assert self._detector is not None
        self.frames += 1
        c = self.config
        hour = int((c.start.timestamp() + t) // 3600)
        if self._hour is not None and hour != self._hour:
            self._tracker.reset()  # track ids live at most an hour
            self.behaviours.reset_tracks()
            self._last_objects = ()
        self._hour = hour
        scale = c.width / w
        small = cv2.resize(frame, (c.width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        motion = self._gate.apply(small)  # colour: MOG2 tells shadows from dark objects by chroma
        moving = [r.scaled(1.0 / scale) for r in motion.regions]
        if c.gating:
            keep = [o.box.grown(0.2, w, h) for o in self._last_objects]
            regions = tuple(merge_boxes(moving + keep))
        else:
            regions = (Box(0.0, 0.0, float(w), float(h)),)
        detections: list[Detection] = []
        ran = bool(regions)
        if ran:
            detections = self._detector.detect(frame, regions, moving if c.gating else regions)
            self.detector_runs += 1
        objects = tuple(self._tracker.update(detections))
        self._last_objects = objects
        statics: tuple[StaticObject, ...] = ()
        if self._static is not None:
            people = [o.box.scaled(scale) for o in objects if o.cls is ObjectClass.PERSON]
            found = self._static.apply(small, motion, t, people)
            statics = tuple(StaticObject(s.id, s.box.scaled(1.0 / scale), s.since) for s in found)
        local = self.wall_time(t) + timedelta(hours=c.utc_offset_h)
        out = self.behaviours.step(t, local.replace(tzinfo=None), objects, statics)
        classes = {o.track: o.cls for o in objects}
        return FrameResult(
            t,
            ran,
            tuple(moving),
            tuple(detections),
            objects,
            statics,
            out,
            classes,
        )

    def finish(self, t: float) -> StepOut:
        """Close every open episode and the last interval."""
        if self._behaviours is None:
            return StepOut()
        return self._behaviours.finish(t)
