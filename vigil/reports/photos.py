"""Photos attached to citizen reports: checked, re-encoded, stripped of every metadata block.

A photo is accepted only if Pillow identifies it as JPEG, PNG or WebP, within
the byte limit and a pixel limit (a decompression bomb is refused before it is
decoded). It is then decoded, turned upright by its EXIF orientation, and
re-encoded as a fresh JPEG with no EXIF, XMP, ICC or comment blocks: location
(GPS) and device metadata never reach the store.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.core.errors import ValidationError

ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048


def clean_photo(data: bytes, *, max_bytes: int) -> bytes:
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
    # A new image with pixels only: no exif=, icc_profile= or comment= is passed on.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    clean.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()
