"""The camera's AF point from its maker notes (core.media.af_point), on the camera samples
that record one, turned upright by the EXIF orientation."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from core.media.af_point import read_af_point, upright
from core.media.preview import CR3_HEAD_BYTES, _mapped, _Tiff
from tests.helpers import REPO, camera_sample, camera_samples

# file -> (x, y, source) the camera recorded, or None; checked against the maker note's own
# numbers (e.g. the M50's one AF area in focus is 392 px right of and 327 px below the centre
# of its 6000 x 4000 picture).
EXPECTED = {
    "canon_eos_m50_stripped.CR3": (0.5653, 0.5817, "Canon AFInfo2"),
    "canon_eos1000d_orient6.jpg": (0.5, 0.5, "Canon AFInfo2"),  # the centre of 7 points
    "nikon_d90.jpg": (0.5, 0.5, "Nikon AFInfo2"),  # 11-point, "Center" used
    "bad_truncated_scan_nikon_d90.jpg": (0.5, 0.5, "Nikon AFInfo2"),
    "bad_sony_a7iii_header_only.ARW": (0.5, 0.5, "Sony FocusLocation"),
    "fujifilm_finepix_f40fd.jpg": (0.5, 0.5, "Fujifilm FocusPixel"),
    # Manual focus: the note is there, no point in it.
    "nikon_d7100_truncated.NEF": None,
    "sony_slt-a58_small.jpg": None,
    # Makers or notes not read here.
    "olympus_pen_e-p3.jpg": None,
    "panasonic_dmc-lx3_gps.jpg": None,
    "apple_iphone5_orient3_gps.jpg": None,
    "nikon_z9_cropped.dng": None,  # Adobe's converter dropped the maker notes' AF info
    # Not photos, or nothing left to read.
    "bad_zero_bytes.CR2": None,
    "bad_html_named.JPG": None,
    "canon_eos_d30.CRW": None,
}


@pytest.mark.parametrize(("path", "expected"), list(camera_samples(EXPECTED)))
def test_af_point_of_each_camera_sample(path: Path, expected: tuple | None) -> None:
    found = read_af_point(path)
    if expected is None:
        assert found is None
        return
    x, y, source = expected
    assert found is not None
    assert (found.x, found.y, found.source) == (
        pytest.approx(x, abs=1e-3),
        pytest.approx(y, abs=1e-3),
        source,
    )


def test_the_demo_photos_record_no_af_point() -> None:
    """The demo's JPEGs were written without maker notes: no point, and no error."""
    for path in sorted((REPO / "core" / "demo" / "photos").glob("*/*.JPG")):
        assert read_af_point(path) is None


def cr3_with_orientation(source: Path, target: Path, orientation: int) -> Path:
    """A copy of a real CR3 whose IFD0 (in its CMT1 box) says ``orientation``."""
    shutil.copyfile(source, target)
    with _mapped(target) as buf:
        box = buf.find(b"CMT1", 0, CR3_HEAD_BYTES)
        tiff = _Tiff.at(buf, box + 4)
        entries, _next = tiff.ifd(tiff.first_ifd)
        at, order = entries[0x0112].at, tiff.order
    with open(target, "r+b") as handle:
        handle.seek(at)
        handle.write(struct.pack(order + "H", orientation))
    return target


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (1, (0.5653, 0.5817)),
        (3, (1 - 0.5653, 1 - 0.5817)),
        (6, (1 - 0.5817, 0.5653)),  # turned a quarter clockwise: the right of the sensor is down
        (8, (0.5817, 1 - 0.5653)),
    ],
)
def test_af_point_is_given_in_the_upright_picture(
    tmp_path: Path, orientation: int, expected
) -> None:
    source = camera_sample("canon_eos_m50_stripped.CR3")
    path = cr3_with_orientation(source, tmp_path / "IMG_0001.CR3", orientation)
    found = read_af_point(path)
    assert (found.x, found.y) == (
        pytest.approx(expected[0], abs=1e-3),
        pytest.approx(expected[1], abs=1e-3),
    )


def test_upright_moves_points_as_exif_transpose_moves_pixels() -> None:
    """Each orientation's move checked on the picture's corner pixel, turned by Pillow."""
    from PIL import Image, ImageOps

    for orientation in range(1, 9):
        picture = Image.new("L", (4, 2), 0)
        picture.putpixel((3, 0), 255)  # the top-right corner of the stored picture
        exif = picture.getexif()
        exif[0x0112] = orientation
        picture.info["exif"] = exif.tobytes()
        turned = ImageOps.exif_transpose(picture)
        where = next(
            (x, y)
            for x in range(turned.width)
            for y in range(turned.height)
            if turned.getpixel((x, y))
        )
        x, y = upright(3.5 / 4, 0.5 / 2, orientation)
        assert (int(x * turned.width), int(y * turned.height)) == where, orientation


def test_a_missing_file_has_no_af_point(tmp_path: Path) -> None:
    assert read_af_point(tmp_path / "gone.NEF") is None
