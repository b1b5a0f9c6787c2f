"""Detectors: what is in the moving regions. A port and its adapters.

Every detector looks only at the regions motion gating returned (grown a
little), never at a whole static frame. None of them identifies anyone:

- `HogPeople`: OpenCV's HOG + linear SVM pedestrian detector (Dalal-Triggs),
  built into opencv-python 4.x, no model file. People only, upright, at least
  ~100 px tall after the crop is rescaled.
- `MotionShapes`: classifies each moving blob by its size and shape — on the
  ground plane in metres when the camera has a homography or scale, otherwise
  relative to the frame. Cheap and download-free, and honest only as far as its
  measured precision/recall (docs/video.md).
- `Hybrid` (default): HOG for people, `MotionShapes` for what HOG does not
  claim (vehicles, bicycles).
- `OnnxDetector`: a YOLO-style ONNX model file the operator supplies (v5
  ``[1, N, 5+C]`` or v8 ``[1, 4+C, N]`` outputs), run with onnxruntime on the
  crop around the moving regions. Never fetched at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from vigil.core.errors import ConfigError
from vigil.video.geometry import Ground
from vigil.video.model import Box, Detection, ObjectClass

Frame = NDArray[Any]

COCO = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic_light",
    "fire_hydrant",
    "stop_sign",
    "parking_meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports_ball",
    "kite",
    "baseball_bat",
    "baseball_glove",
    "skateboard",
    "surfboard",
    "tennis_racket",
    "bottle",
    "wine_glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot_dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted_plant",
    "bed",
    "dining_table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell_phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy_bear",
    "hair_drier",
    "toothbrush",
]
LABEL_CLASS: dict[str, ObjectClass] = {
    "person": ObjectClass.PERSON,
    "pedestrian": ObjectClass.PERSON,
    "bicycle": ObjectClass.BICYCLE,
    "car": ObjectClass.VEHICLE,
    "motorcycle": ObjectClass.VEHICLE,
    "bus": ObjectClass.VEHICLE,
    "truck": ObjectClass.VEHICLE,
    "vehicle": ObjectClass.VEHICLE,
    "backpack": ObjectClass.BAG,
    "handbag": ObjectClass.BAG,
    "suitcase": ObjectClass.BAG,
    "bag": ObjectClass.BAG,
}


class Detector(Protocol):
    """Find objects in the given regions (source-frame pixels) of a frame."""

    name: str

    def detect(self, frame: Frame, regions: Sequence[Box], blobs: Sequence[Box]) -> list[Detection]:
        """Return detections in `regions` (where to look: moving and tracked areas).

        `blobs` are the moving blobs themselves (source-frame pixels), for detectors
        that classify motion rather than pixels.
        """
        ...


def nms(dets: list[Detection], iou: float = 0.45) -> list[Detection]:
    """Greedy non-maximum suppression within each class."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.confidence):
        if all(k.cls is not d.cls or k.box.iou(d.box) < iou for k in kept):
            kept.append(d)
    return kept


def _clip(b: Box, frame: Frame) -> tuple[int, int, int, int]:
    h, w = frame.shape[:2]
    return (
        max(0, int(b.x1)),
        max(0, int(b.y1)),
        min(w, int(np.ceil(b.x2))),
        min(h, int(np.ceil(b.y2))),
    )


# Share of the HOG window between its bottom and the feet: the 1/8 of the training
# layout plus 0.035 measured on the shared worker clip (the boxes ended a median 8 px,
# ~5 % of the person's height, below the hand-labelled soles of a standing worker).
FOOT_MARGIN = 0.16


class HogPeople:
    """OpenCV's built-in HOG pedestrian detector on each moving region."""

    name = "hog"

    def __init__(self, *, min_confidence: float = 0.3, target_h: int = 192) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(
            np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32)
        )
        self._min = min_confidence
        self._target_h = target_h

    def detect(
        self, frame: Frame, regions: Sequence[Box], blobs: Sequence[Box] = ()
    ) -> list[Detection]:
        """Run HOG on each region, rescaled so a region-tall person is ~target_h pixels."""
        out: list[Detection] = []
        fh, fw = frame.shape[:2]
        for r in regions:
            g = r.grown(0.25, fw, fh)
            x1, y1, x2, y2 = _clip(g, frame)
            if x2 - x1 < 8 or y2 - y1 < 16:
                continue
            crop = frame[y1:y2, x1:x2]
            s = self._target_h / max(1, y2 - y1)
            if (x2 - x1) * (y2 - y1) >= 0.9 * fw * fh:
                # The whole frame (no gating): people in it may be any size, so search the
                # full-resolution pyramid (people >= 128 px tall), as a plain detector would.
                s = max(s, 1.0)
            s = min(max(s, 0.25), 4.0)
            cw, ch = max(72, round((x2 - x1) * s)), max(136, round((y2 - y1) * s))
            small = cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_LINEAR)
            rects, weights = self._hog.detectMultiScale(
                small, winStride=(8, 8), padding=(8, 8), scale=1.08, hitThreshold=0.0
            )
            sx, sy = (x2 - x1) / cw, (y2 - y1) / ch
            for (rx, ry, rw, rh), wgt in zip(rects, np.ravel(weights), strict=True):
                conf = float(1.0 / (1.0 + np.exp(-float(wgt))))  # SVM margin -> (0, 1)
                if conf < self._min:
                    continue
                # The detector was trained on 64x128 windows with a ~96 px person centred
                # in them: 16 px (1/8) of margin above and below, ~20 px either side. Below
                # the feet the window ends lower still: FOOT_MARGIN is calibrated on the
                # hand-labelled feet (tests/data/video/worker-zone-detection.yaml).
                px, py = rw * 0.2, rh * 0.125
                out.append(
                    Detection(
                        Box(
                            x1 + (rx + px) * sx,
                            y1 + (ry + py) * sy,
                            x1 + (rx + rw - px) * sx,
                            y1 + (ry + rh * (1.0 - FOOT_MARGIN)) * sy,
                        ),
                        ObjectClass.PERSON,
                        conf,
                    )
                )
        return nms(out, 0.3)


class MotionShapes:
    """Classify moving blobs by ground-plane size (or frame-relative size) and shape."""

    name = "motion"

    def __init__(self, ground: Ground, frame_w: int, frame_h: int) -> None:
        self._ground = ground
        self._area = float(frame_w * frame_h)

    def classify(self, b: Box) -> Detection | None:  # noqa: PLR0911 - one return per class rule
        """Return the class a blob's size and shape suggest, or None."""
        aspect = b.h / max(1.0, b.w)
        wide = self._ground.distance_m((b.x1, b.y2), (b.x2, b.y2))
        if wide is not None:
            long_m = self._ground.distance_m((b.x1, b.y1), (b.x2, b.y2)) or wide
            if long_m >= 3.0 and wide >= 1.2:
                return Detection(b, ObjectClass.VEHICLE, 0.5)
            if long_m >= 1.2:
                return Detection(b, ObjectClass.BICYCLE, 0.35)
            if wide <= 1.2:
                return Detection(b, ObjectClass.PERSON, 0.35)
            return None
        rel = (b.w * b.h) / self._area
        if rel >= 0.03:
            return Detection(b, ObjectClass.VEHICLE, 0.4)
        if aspect >= 1.6 and rel >= 0.002:
            return Detection(b, ObjectClass.PERSON, 0.3)
        if 0.6 <= aspect < 1.6 and 0.004 <= rel < 0.03:
            return Detection(b, ObjectClass.BICYCLE, 0.25)
        return None

    def detect(
        self, frame: Frame, regions: Sequence[Box], blobs: Sequence[Box] = ()
    ) -> list[Detection]:
        """Classify each moving blob by its shape (tracked-only regions are not blobs)."""
        del frame, regions
        return [d for r in blobs if (d := self.classify(r)) is not None]


class Hybrid:
    """HOG for people; blob shapes for the rest (a blob HOG claimed is a person)."""

    name = "hybrid"

    def __init__(self, hog: HogPeople, shapes: MotionShapes) -> None:
        self._hog = hog
        self._shapes = shapes

    def detect(
        self, frame: Frame, regions: Sequence[Box], blobs: Sequence[Box] = ()
    ) -> list[Detection]:
        """People from HOG, then vehicles and bicycles from unclaimed moving blobs."""
        people = [_foot_from_motion(p, blobs) for p in self._hog.detect(frame, regions)]
        out = list(people)
        for r in blobs:
            if any(_overlap(p.box, r) > 0.5 for p in people):
                continue
            d = self._shapes.classify(r)
            if d is not None and d.cls is not ObjectClass.PERSON:
                out.append(d)
        return out


def _foot_from_motion(person: Detection, blobs: Sequence[Box]) -> Detection:
    """Lower a person box to the bottom of the moving blob it stands in, if that is lower.

    HOG fits its 64x128 window to what it sees: for a person cut by the bottom of
    the picture (close to the camera) it fits the upper body, and the box ends at
    the waist, a leg's length above the feet. The moving pixels under the person go
    on down to the feet (or to the frame edge), so the foot is the lower of the two.
    Only lowered, never raised: a person standing still leaves no moving legs.
    """
    b = person.box
    below = [
        r
        for r in blobs
        if r.y1 <= b.y2
        and r.y2 > b.y2
        and min(r.x2, b.x2) - max(r.x1, b.x1) >= 0.5 * b.w
        and r.y1 <= b.y1 + 0.5 * b.h
    ]
    if not below:
        return person
    bottom = max(r.y2 for r in below)
    return Detection(Box(b.x1, b.y1, b.x2, bottom), person.cls, person.confidence)


def _overlap(a: Box, b: Box) -> float:
    """Share of the smaller box covered by the other."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    small = min(a.w * a.h, b.w * b.h)
    return ix * iy / small if small > 0 else 0.0


class OnnxDetector:
    """A YOLO-style ONNX model (operator-supplied file) on the crop around moving regions."""

    name = "onnx"

    def __init__(
        self, model: Path, *, labels: Sequence[str] = (), min_confidence: float = 0.3
    ) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - only cameras configured with onnx pay for it

        if not model.is_file():
            raise ConfigError(f"ONNX model file {model} does not exist", field="detector.model")
        try:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # one core per worker process: predictable cost
            self._session = ort.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ConfigError(f"{model}: not a loadable ONNX model: {err}") from err
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        shape = list(inp.shape)
        self._size = (
            int(shape[3]) if isinstance(shape[3], int) else 640,
            int(shape[2]) if isinstance(shape[2], int) else 640,
        )
        self._labels = list(labels)
        self._min = min_confidence

    def _label(self, idx: int, n_classes: int) -> ObjectClass | None:
        names = self._labels or (COCO if n_classes == len(COCO) else [])
        if idx >= len(names):
            return None
        return LABEL_CLASS.get(names[idx])

    def detect(
        self, frame: Frame, regions: Sequence[Box], blobs: Sequence[Box] = ()
    ) -> list[Detection]:
        """Letterbox the regions' bounding crop into the model input and decode its output."""
        if not regions:
            return []
        fh, fw = frame.shape[:2]
        union = Box(
            min(r.x1 for r in regions),
            min(r.y1 for r in regions),
            max(r.x2 for r in regions),
            max(r.y2 for r in regions),
        ).grown(0.1, fw, fh)
        x1, y1, x2, y2 = _clip(union, frame)
        crop = frame[y1:y2, x1:x2]
        iw, ih = self._size
        s = min(iw / max(1, x2 - x1), ih / max(1, y2 - y1))
        nw, nh = max(1, round((x2 - x1) * s)), max(1, round((y2 - y1) * s))
        canvas = np.full((ih, iw, 3), 114, np.uint8)
        canvas[:nh, :nw] = cv2.resize(crop, (nw, nh))
        blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        raw = np.asarray(self._session.run(None, {self._input: blob})[0], dtype=np.float32)
        rows = raw[0]
        if rows.ndim != 2:
            raise ConfigError(f"ONNX output of shape {raw.shape} is not a YOLO detection output")
        out: list[Detection] = []
        n_names = len(self._labels) or len(COCO)
        v8 = rows.shape[0] == 4 + n_names or (
            rows.shape[1] != 5 + n_names and rows.shape[0] < rows.shape[1]
        )
        if v8:  # [4 + C, N]
            rows = rows.T
            scores = rows[:, 4:]
        else:  # v5: [N, 5 + C], objectness first
            scores = rows[:, 5:] * rows[:, 4:5]
        n_classes = scores.shape[1]
        best = scores.argmax(axis=1)
        conf = scores[np.arange(len(rows)), best]
        for i in np.nonzero(conf >= self._min)[0]:
            cls = self._label(int(best[i]), n_classes)
            if cls is None:
                continue
            cx, cy, w, h = (float(v) for v in rows[i, :4])
            box = Box(
                x1 + (cx - w / 2) / s,
                y1 + (cy - h / 2) / s,
                x1 + (cx + w / 2) / s,
                y1 + (cy + h / 2) / s,
            )
            if not any(_overlap(box, r) > 0.3 for r in regions):
                continue  # only what lies in a moving region
            out.append(Detection(box, cls, float(conf[i])))
        return nms(out)


def build_detector(
    kind: str,
    *,
    ground: Ground,
    frame_w: int,
    frame_h: int,
    model: Path | None = None,
    labels: Sequence[str] = (),
    min_confidence: float = 0.3,
) -> Detector:
    """Return the configured detector."""
    shapes = MotionShapes(ground, frame_w, frame_h)
    if kind == "motion":
        return shapes
    if kind == "hog":
        return HogPeople(min_confidence=min_confidence)
    if kind == "hybrid":
        return Hybrid(HogPeople(min_confidence=min_confidence), shapes)
    if kind == "onnx":
        if model is None:
            raise ConfigError("detector.model is required for onnx", field="detector.model")
        return OnnxDetector(model, labels=labels, min_confidence=min_confidence)
    raise ConfigError(f"unknown detector kind {kind!r}", field="detector.kind")
