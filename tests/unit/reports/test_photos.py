"""Report photos: EXIF (GPS, device) is gone, people blurred, orientation applied, bad refused."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_file
from tests.unit.reports.conftest import jpeg_with_gps
from vigil.core.errors import ValidationError
from vigil.reports.photos import PhotoBlur, clean_photo


def test_exif_and_gps_are_stripped_and_orientation_applied() -> None:
    raw = jpeg_with_gps()
    with Image.open(io.BytesIO(raw)) as before:
        assert before.getexif().get_ifd(0x8825)  # the input really has GPS
    cleaned = clean_photo(raw, max_bytes=1_000_000)
    with Image.open(io.BytesIO(cleaned)) as after:
        assert after.format == "JPEG"
        assert dict(after.getexif()) == {}
        assert "exif" not in after.info and "icc_profile" not in after.info
        assert after.size == (480, 640)  # turned upright by the orientation tag
    assert b"Exif" not in cleaned and b"TestCam" not in cleaned


def test_png_accepted_and_re_encoded() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (0, 0, 255, 128)).save(out, format="PNG")
    with Image.open(io.BytesIO(clean_photo(out.getvalue(), max_bytes=100_000))) as img:
        assert img.format == "JPEG" and img.size == (50, 40)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GIF89a" + b"\x00" * 100, "not a readable image"),
        (b"%PDF-1.4 hello", "not a readable image"),
        (b"\xff\xd8\xff" + b"\x00" * 50, "not a readable image"),
    ],
)
def test_bad_files_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        clean_photo(data, max_bytes=1_000_000)
    assert reason in err.value.message and err.value.field == "photo"


def test_gif_type_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    with pytest.raises(ValidationError) as err:
        clean_photo(out.getvalue(), max_bytes=1_000_000)
    assert "GIF is not accepted" in err.value.message


def test_oversized_refused_before_decoding() -> None:
    with pytest.raises(ValidationError) as err:
        clean_photo(jpeg_with_gps(), max_bytes=100)
    assert "limit is 100" in err.value.message


def test_pixel_bomb_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, format="PNG")  # tiny file, 100 Mpx
    with pytest.raises(ValidationError) as err:
        clean_photo(out.getvalue(), max_bytes=10_000_000)
    assert "pixels" in err.value.message or "not a readable image" in err.value.message


def _worker_photo_with_gps() -> tuple[bytes, np.ndarray]:
    """A real frame with a person in it (the shared worker clip), saved as a JPEG with GPS."""
    cap = cv2.VideoCapture(str(shared_file("video/worker-zone-detection.gif")))
    frame = None
    for _ in range(51):
        ok, frame = cap.read()
        assert ok
    cap.release()
    assert frame is not None
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (60.0, 10.0, 12.5), "E", (24.0, 56.0, 1.0)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=95, exif=exif.tobytes())
    with Image.open(io.BytesIO(out.getvalue())) as src:
        decoded = np.asarray(src.convert("RGB"), dtype=np.int16)
    return out.getvalue(), decoded


def test_people_in_a_report_photo_are_blurred_before_it_is_stored() -> None:
    raw, before = _worker_photo_with_gps()
    blur = PhotoBlur()
    boxes = blur.boxes(before.astype(np.uint8))
    assert boxes, "the camera worker's detector finds the worker in the photo"
    cleaned = clean_photo(raw, max_bytes=1_000_000, blur=blur)
    with Image.open(io.BytesIO(cleaned)) as after_img:
        assert dict(after_img.getexif()) == {}
        after = np.asarray(after_img.convert("RGB"), dtype=np.int16)
    assert b"Exif" not in cleaned
    for b in boxes:
        x1, y1, x2, y2 = int(b.x1), int(b.y1), int(b.x2), int(b.y2)
        src, out = before[y1:y2, x1:x2], after[y1:y2, x1:x2]
        kept = float(np.mean(np.abs(src - out).max(axis=2) <= 8))
        assert kept < 0.25, kept  # the person's own pixels are gone (JPEG noise aside)
        edges = [float(np.abs(np.diff(a.mean(axis=2), axis=1)).mean()) for a in (src, out)]
        assert edges[1] < 0.3 * edges[0], edges
    # Away from the person the photo is the photo.
    assert float(np.abs(before[:40, 300:] - after[:40, 300:]).mean()) < 4


def test_a_photo_with_nobody_is_unchanged_apart_from_encoding() -> None:
    raw = jpeg_with_gps((320, 240))
    plain = clean_photo(raw, max_bytes=1_000_000)
    blurred = clean_photo(raw, max_bytes=1_000_000, blur=PhotoBlur())
    assert plain == blurred
