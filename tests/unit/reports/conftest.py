"""Photos with real EXIF metadata (GPS included) made with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    """Return a JPEG carrying EXIF: camera make, a GPS position and an orientation."""
    img = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (60.0, 10.0, 12.5)
    gps[3] = "E"
    gps[4] = (24.0, 56.0, 1.0)
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()
