"""Report photos: EXIF (GPS, device) is gone, orientation applied, bad files refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.unit.reports.conftest import jpeg_with_gps
from vigil.core.errors import ValidationError
from vigil.reports.photos import clean_photo


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
