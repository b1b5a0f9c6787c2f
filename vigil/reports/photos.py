"""Photos attached to citizen reports: checked, re-encoded, stripped of every metadata block.

A photo is accepted only if Pillow identifies it as JPEG, PNG or WebP, within
the byte limit and a pixel limit (a decompression bomb is refused before it is
decoded). It is then decoded, turned upright by its EXIF orientation, and
re-encoded as a fresh JPEG with no EXIF, XMP, ICC or comment blocks: location
(GPS) and device metadata never reach the store.

Before it is encoded, `PhotoBlur` mosaics every person and vehicle found in it
with the camera worker's own blur (`vigil.video.privacy.blur_regions`) and its
detector: by default OpenCV's HOG people detector over the whole photo (people
at least ~1/8 of the photo's height once it is scaled to 1024 px), or the
cameras' ONNX model when the operator configured one (people and vehicles).
A person is found as a body, never as a face: nothing here detects faces.
Known gap with the default detector: a still photo has no motion, so vehicles
(and their plates) are not found unless an ONNX model is configured.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.core.errors import ValidationError
from vigil.video.detect import Detector, HogPeople
from vigil.video.model import BLURRED, Box
from vigil.video.privacy import blur_regions

Pixels = NDArray[Any]  # H x W x 3, RGB
DETECT_SIDE = 1024

ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048


class PhotoBlur:
    """Mosaic every person and vehicle the detector finds in a photo."""

    def __init__(self, detector: Detector | None = None) -> None:
        self._detector: Detector = detector if detector is not None else HogPeople()

    def boxes(self, rgb: Pixels) -> list[Box]:
        """Return the person/vehicle boxes of a photo (its own pixels)."""
        h, w = rgb.shape[:2]
        s = DETECT_SIDE / max(h, w)
        small = cv2.resize(
            np.ascontiguousarray(rgb[:, :, ::-1]),
            (max(1, round(w * s)), max(1, round(h * s))),
            interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
        )
        sh, sw = small.shape[:2]
        whole = Box(0.0, 0.0, float(sw), float(sh))
        found = self._detector.detect(small, [whole], [])
        return [d.box.scaled(1.0 / s) for d in found if d.cls in BLURRED]

    def __call__(self, rgb: Pixels) -> Pixels:
        """Return a copy with every person/vehicle region mosaicked and blurred."""
        return blur_regions(rgb, self.boxes(rgb))


def clean_photo(
    data: bytes, *, max_bytes: int, blur: Callable[[Pixels], Pixels] | None = None
) -> bytes:
    """Return a metadata-free JPEG re-encoding of a photo, or refuse it naming why."""
    if len(data) > max_bytes:
        raise ValidationError(
            f"photo is {len(data)} bytes; the limit is {max_bytes}", field="photo"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in ALLOWED:
                    raise ValidationError(
                        f"photo type {kind or 'unknown'} is not accepted (JPEG, PNG or WebP)",
                        field="photo",
                    )
                if width * height > MAX_PIXELS:
                    raise ValidationError(
                        f"photo is {width}x{height} pixels; the limit is {MAX_PIXELS}",
                        field="photo",
                    )
                probe.load()
                upright = ImageOps.exif_transpose(probe)
                rgb = upright.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, SyntaxError) as err:
        raise ValidationError(f"photo is not a readable image: {err}", field="photo") from err
    rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    pixels: Pixels = np.asarray(rgb, dtype=np.uint8)
    if blur is not None:
        pixels = blur(pixels)
    # A new image with pixels only: no exif=, icc_profile= or comment= is passed on.
    clean = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    clean.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()
