"""File types by content and EXIF metadata for every camera sample here (the repo's subset
always; the whole sample set when ../shared/fixtures/camera is beside the checkout: a sample that
is not here is not a test), and files that are damaged, truncated or lie about what they are."""

from __future__ import annotations

import io
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from core.media.metadata import read_capture_clock, read_metadata
from core.media.sniff import sniff
from tests.helpers import REPO_CAMERA as REPO_SAMPLES
from tests.helpers import SHARED_CAMERA as SHARED_SAMPLES
from tests.helpers import camera_sample

# file: (format, kind, usable, make, model, capture wall clock, offset, ISO, f-number,
#        focal length, orientation, GPS (lat, lon) rounded to 3 places)
EXPECTED = {
    "apple_iphone4s_orient6.jpg": ("jpeg", "jpeg", True, "Apple", "iPhone 4S", "2012-08-26 15:53:03", None, 64, 2.4, 4.28, 6, None),
    "apple_iphone5_orient3_gps.jpg": ("jpeg", "jpeg", True, "Apple", "iPhone 5", "2012-09-29 16:11:25", None, 50, 2.4, 4.13, 3, (47.627, -122.337)),
    "bad_corrupt_exif_max_uint32.jpg": ("jpeg", "jpeg", True, "HTC", "ADR6400L", None, None, None, None, 4.57, None, (38.883, -104.871)),
    "bad_corrupt_makernote_olympus.jpg": ("jpeg", "jpeg", True, "OLYMPUS IMAGING CORP.", "u1020,S1020", "2015-09-08 11:02:17", None, 80, 3.5, 6.6, 1, None),
    "bad_html_named.JPG": ("html", "other", False, None, None, None, None, None, None, None, None, None),
    "bad_sony_a7iii_header_only.ARW": ("tiff-raw", "raw", True, "SONY", "ILCE-7M3", "2024-09-14 13:54:44", "+02:00", 6400, None, None, 1, None),
    "bad_truncated_scan_nikon_d90.jpg": ("jpeg", "jpeg", True, "NIKON CORPORATION", "NIKON D90", "2011-04-25 01:55:30", None, 250, 3.2, 24.0, 1, None),
    "bad_zero_bytes.CR2": ("empty", "other", False, None, None, None, None, None, None, None, None, None),
    "canon_eos1000d_orient6.jpg": ("jpeg", "jpeg", True, "Canon", "Canon EOS 1000D", "2008-07-01 17:27:03", None, 100, 5.6, 34.0, 6, None),
    "canon_eos_d30.CRW": ("crw", "raw", True, None, None, None, None, None, None, None, None, None),
    "canon_eos_m50_stripped.CR3": ("cr3", "raw", True, "Canon", "Canon EOS M50", "2018-02-21 12:08:56", "+00:00", 12800, 3.5, 15.0, 1, None),
    "fujifilm_finepix_f40fd.jpg": ("jpeg", "jpeg", True, "FUJIFILM", "FinePix F40fd", "2011-08-14 18:43:01", None, 200, 2.8, 8.0, 1, None),
    "fujifilm_s5pro_stripped.RAF": ("raf", "raw", True, "FUJIFILM", "FinePix S5Pro", "2007-05-22 13:58:30", None, 100, 8.0, 70.0, 1, None),
    "gopro_hero4_lightroom.jpg": ("jpeg", "jpeg", True, "GoPro", "HERO4 Silver", "2016-10-11 16:59:50", None, 113, 2.8, 3.0, 1, None),
    "gopro_hero7_GOPR9231.GPR": ("tiff-raw", "raw", True, "GoPro", "HERO7 Black", "2018-09-26 08:25:27", None, 252, 2.8, 3.0, 2, (33.127, -117.327)),
    "kodak_dc240_1999.jpg": ("jpeg", "jpeg", True, "EASTMAN KODAK COMPANY", "KODAK DC240 ZOOM DIGITAL CAMERA", "1999-05-25 21:00:09", None, None, 4.0, 14.0, 1, None),
    "lge_nexus4_gps_noorient.jpg": ("jpeg", "jpeg", True, "LGE", "Nexus 4", "2013-01-20 18:54:08", None, 1200, None, 4.6, None, (51.562, -0.077)),
    "minolta_dimage_a1.jpg": ("jpeg", "jpeg", True, "Minolta Co., Ltd.", "DiMAGE A1", "2003-09-13 16:10:42", None, 100, 3.5, 12.48, 1, None),
    "nikon_coolpix_p6000_gps_DSCN0010.jpg": ("jpeg", "jpeg", True, "NIKON", "COOLPIX P6000", "2008-10-22 16:28:39", None, 64, 5.9, 24.0, 1, (43.467, 11.885)),
    "nikon_d70s_jpeg_named.NEF": ("jpeg", "jpeg", True, "NIKON CORPORATION", "NIKON D70s", "2010-03-01 21:50:21", None, None, 2.8, 50.0, 1, None),
    "nikon_d7100_truncated.NEF": ("tiff-raw", "raw", True, "NIKON CORPORATION", "NIKON D7100", "2013-09-03 09:45:16", None, 100, 8.0, 50.0, 1, None),
    "nikon_d90.jpg": ("jpeg", "jpeg", True, "NIKON CORPORATION", "NIKON D90", "2011-04-25 01:55:30", None, 250, 3.2, 24.0, 1, None),
    "nikon_z9_cropped.dng": ("tiff-raw", "raw", True, "NIKON CORPORATION", "NIKON Z 9", "2025-08-10 19:02:53", "+03:00", 65535, 1.2, 85.0, 1, None),
    "olympus_pen_e-p3.jpg": ("jpeg", "jpeg", True, "OLYMPUS IMAGING CORP.", "E-P3", "2013-08-27 19:45:23", None, 1600, 1.8, 17.0, 1, None),
    "orientation5_transpose.jpg": ("jpeg", "jpeg", True, None, None, None, None, None, None, None, 5, None),
    "panasonic_dmc-lx3_gps.jpg": ("jpeg", "jpeg", True, "Panasonic", "DMC-LX3", "2011-01-01 16:02:54", None, 80, 2.8, 5.1, 1, (41.895, 12.483)),
    "pentax_ist_d.jpg": ("jpeg", "jpeg", True, "PENTAX Corporation", "PENTAX *ist D", "2004-10-02 23:29:52", None, 200, 2.4, 77.0, None, None),
    "samsung_galaxy_s_orient6_gps.jpg": ("jpeg", "jpeg", True, "SAMSUNG", "GT-I9000", "2011-04-02 18:30:10", None, 100, 2.64, 3.79, 6, None),
    "sony_dsc-hx5v_gps.jpg": ("jpeg", "jpeg", True, "SONY", "DSC-HX5V", "2010-05-15 17:12:05", None, 125, 3.5, 4.25, 1, (51.779, 8.366)),
    "sony_slt-a58_small.jpg": ("jpeg", "jpeg", True, "SONY", "SLT-A58", "2023-10-28 21:42:29", None, 100, 5.6, 300.0, 1, None),
    "xiaomi_mi9t_orient6.jpg": ("jpeg", "jpeg", True, "Xiaomi", "Mi 9T", "2022-07-16 16:27:30", None, 1522, 1.75, 4.77, 6, None),
}  # fmt: skip


HERE = sorted(name for name in EXPECTED if camera_sample(name) is not None)
# Cut at 64 KB with its EXIF claiming 4 billion tags: Pillow cannot read its frame header either,
# so there is nothing to compare with.
NO_FRAME_HEADER = {"bad_corrupt_exif_max_uint32.jpg"}
JPEGS_HERE = [n for n in HERE if EXPECTED[n][0] == "jpeg" and n not in NO_FRAME_HEADER]


def _sample(name: str) -> Path:
    path = camera_sample(name)
    assert path is not None, f"{name} is neither in tests/fixtures/camera nor beside the checkout"
    return path


def test_every_repo_sample_has_an_expectation():
    names = {path.name for path in REPO_SAMPLES.iterdir() if path.name != "MANIFEST.md"}
    assert names <= set(EXPECTED)
    if SHARED_SAMPLES.is_dir():
        shared = {path.name for path in SHARED_SAMPLES.iterdir() if path.name != "MANIFEST.md"}
        assert shared == set(EXPECTED)


@pytest.mark.parametrize("name", HERE)
def test_type_and_metadata_of_each_sample(name):
    path = _sample(name)
    (file_format, kind, usable, make, model, wall_clock, offset, iso, aperture, focal,
     orientation, gps) = EXPECTED[name]  # fmt: skip
    sniffed = sniff(path)
    assert (sniffed.format, sniffed.kind, sniffed.usable) == (file_format, kind, usable)
    metadata = read_metadata(path, sniffed)
    if not usable:
        assert metadata.error == sniffed.reason and sniffed.reason
        return
    assert (metadata.camera_make, metadata.camera_model) == (make, model)
    if wall_clock is None:
        assert metadata.capture_time is None
    else:
        local = datetime.fromtimestamp(metadata.capture_time, UTC)
        if offset is not None:
            sign = 1 if offset[0] == "+" else -1
            local = local.timestamp() + sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
            local = datetime.fromtimestamp(local, UTC)
        assert local.strftime("%Y-%m-%d %H:%M:%S") == wall_clock
    assert metadata.capture_offset == offset
    assert (metadata.iso, metadata.aperture, metadata.focal_length) == (iso, aperture, focal)
    assert metadata.orientation == orientation
    found_gps = (
        None
        if metadata.gps_latitude is None
        else (round(metadata.gps_latitude, 3), round(metadata.gps_longitude, 3))
    )
    assert found_gps == gps
    if make is None and file_format != "jpeg":
        assert metadata.error  # CIFF: says why there is nothing


def test_zero_gps_is_absent():
    metadata = read_metadata(_sample("samsung_galaxy_s_orient6_gps.jpg"))
    assert metadata.gps_latitude is None and metadata.gps_longitude is None


def _jpeg_with_gps(path: Path, latitude: tuple, longitude: tuple, refs=("N", "W")) -> Path:
    """A real JPEG whose GPS block holds the given (numerator, denominator) triples."""
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = refs[0], tuple(IFDRational(*part) for part in latitude)
    gps[3], gps[4] = refs[1], tuple(IFDRational(*part) for part in longitude)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "JPEG", exif=exif)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        # Phones write 0/0 for a seconds field they did not fill: it is 0, the rest stands.
        (((51, 1), (30, 1), (0, 0)), ((0, 1), (7, 1), (0, 0)), (51.5, -0.1166667)),
        (((51, 1), (0, 0), (0, 0)), ((0, 1), (7, 1), (30, 1)), (51.0, -0.125)),
        (((5130, 100), (0, 1), (0, 0)), ((7, 1), (0, 0), (0, 1)), (51.3, -7.0)),
        # A number over nothing is not a number: no position rather than a wrong one.
        (((51, 1), (30, 0), (0, 1)), ((0, 1), (7, 1), (0, 1)), (None, None)),
        # Every field 0/0: an empty block, no position.
        (((0, 0), (0, 0), (0, 0)), ((0, 0), (0, 0), (0, 0)), (None, None)),
    ],
)
def test_gps_with_an_empty_rational_keeps_the_position(tmp_path, latitude, longitude, expected):
    metadata = read_metadata(_jpeg_with_gps(tmp_path / "gps.jpg", latitude, longitude))
    assert (metadata.gps_latitude, metadata.gps_longitude) == expected


def _jpeg_with_exif(path: Path, size=(64, 48), image_tags=None, exif_tags=None) -> Path:
    """A real JPEG of ``size`` pixels with the given IFD0 and EXIF IFD tags."""
    exif = Image.Exif()
    for tag, value in (image_tags or {}).items():
        exif[tag] = value
    if exif_tags:
        ifd = exif.get_ifd(0x8769)
        for tag, value in exif_tags.items():
            ifd[tag] = value
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, "JPEG", exif=exif)
    path.write_bytes(buffer.getvalue())
    return path


DATE_TIME, DATE_TIME_ORIGINAL, DATE_TIME_DIGITIZED = 0x0132, 0x9003, 0x9004
OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9011, 0x9012


@pytest.mark.parametrize(
    ("image_tags", "exif_tags", "expected"),
    [
        # Image DateTime is when the file was last changed (an edit, a re-save): not a capture.
        ({DATE_TIME: "2024:06:01 12:00:00"}, {}, None),
        (
            {DATE_TIME: "2024:06:01 12:00:00"},
            {DATE_TIME_DIGITIZED: "2023:05:01 10:00:00", OFFSET_TIME_DIGITIZED: "+02:00"},
            ("2023-05-01 08:00:00", "+02:00"),
        ),
        (
            {DATE_TIME: "2024:06:01 12:00:00"},
            {DATE_TIME_ORIGINAL: "2022:01:02 03:04:05", DATE_TIME_DIGITIZED: "2023:05:01 10:00:00"},
            ("2022-01-02 03:04:05", None),
        ),
        (
            {},
            {DATE_TIME_ORIGINAL: "not a date", DATE_TIME_DIGITIZED: "2023:05:01 10:00:00"},
            ("2023-05-01 10:00:00", None),
        ),
    ],
)
def test_capture_time_is_original_then_digitized_never_the_file_change(
    tmp_path, image_tags, exif_tags, expected
):
    path = _jpeg_with_exif(tmp_path / "dated.jpg", image_tags=image_tags, exif_tags=exif_tags)
    metadata = read_metadata(path)
    if expected is None:
        assert metadata.capture_time is None
    else:
        utc = datetime.fromtimestamp(metadata.capture_time, UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert (utc, metadata.capture_offset) == expected
    # One rule for the catalogue and for ingest's dated folders.
    clock = read_capture_clock(path)
    assert (clock.local is None) == (metadata.capture_time is None)


@pytest.mark.parametrize("name", HERE)
def test_capture_time_agrees_with_the_date_ingest_files_by(name):
    path = _sample(name)
    metadata, clock = read_metadata(path), read_capture_clock(path)
    if clock.local is None:
        assert metadata.capture_time is None
        return
    offset = clock.offset or "+00:00"
    instant = datetime.fromisoformat(f"{clock.local.isoformat()}{offset}").timestamp()
    assert (metadata.capture_time, metadata.capture_offset) == (instant, clock.offset)


@pytest.mark.parametrize("name", JPEGS_HERE)
def test_pixel_size_of_a_jpeg_is_its_frame_header(name):
    path = _sample(name)
    with open(path, "rb") as handle:
        head = handle.read()
    expected = Image.open(io.BytesIO(head)).size  # Pillow reads the frame header (SOF)
    metadata = read_metadata(path)
    assert (metadata.width, metadata.height) == expected


def test_pixel_size_is_the_frame_header_when_exif_is_stale_or_missing(tmp_path):
    # Resized by a program that kept the camera's EXIF: the EXIF still says 4000 x 3000.
    stale = _jpeg_with_exif(
        tmp_path / "resized.jpg",
        size=(640, 480),
        image_tags={0x010F: "Canon"},
        exif_tags={0xA002: 4000, 0xA003: 3000, DATE_TIME_ORIGINAL: "2024:06:01 12:00:00"},
    )
    assert (read_metadata(stale).width, read_metadata(stale).height) == (640, 480)
    bare = tmp_path / "bare.jpg"
    Image.new("RGB", (300, 200), "green").save(bare, "JPEG")  # no EXIF at all
    metadata = read_metadata(bare)
    assert (metadata.width, metadata.height) == (300, 200)
    assert metadata.error == "no EXIF in this file"


def test_a_nef_that_is_a_jpeg_is_a_jpeg():
    sniffed = sniff(_sample("nikon_d70s_jpeg_named.NEF"))
    assert (sniffed.format, sniffed.kind) == ("jpeg", "jpeg")


def test_capture_time_with_an_offset_is_the_instant():
    metadata = read_metadata(_sample("nikon_z9_cropped.dng"))
    # 19:02:53 at +03:00 is 16:02:53 UTC
    assert datetime.fromtimestamp(int(metadata.capture_time), UTC).hour == 16
    assert metadata.capture_offset == "+03:00"


@pytest.mark.parametrize(
    "name", sorted(p.name for p in REPO_SAMPLES.iterdir() if p.name != "MANIFEST.md")
)
def test_truncated_and_damaged_copies_never_raise(tmp_path, name):
    data = _sample(name).read_bytes()
    rng = random.Random(name)
    cuts = sorted({0, 1, 2, 4, 12, 100, 1000, *(rng.randrange(len(data) + 1) for _ in range(12))})
    for cut in cuts:
        if cut > len(data):
            continue
        copy = tmp_path / f"cut{cut}{os.path.splitext(name)[1]}"
        copy.write_bytes(data[:cut])
        read_metadata(copy)  # must not raise, whatever it finds
    damaged = bytearray(data[: 256 * 1024])
    for _ in range(200):
        if damaged:
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    copy = tmp_path / f"damaged{os.path.splitext(name)[1]}"
    copy.write_bytes(bytes(damaged))
    read_metadata(copy)


def test_random_bytes_and_unreadable_files(tmp_path):
    noise = tmp_path / "noise.CR2"
    noise.write_bytes(random.Random(1).randbytes(50_000))
    assert read_metadata(noise).error
    locked = tmp_path / "missing.NEF"
    sniffed = sniff(locked)
    assert sniffed.format == "unreadable" and "cannot be read" in sniffed.reason


@pytest.mark.parametrize(
    ("name", "size"),
    [
        # IFD0 of a NEF is a 160 x 120 thumbnail; the full-size image (NewSubfileType 0) is a
        # SubIFD: the sensor's 6036 x 4020.
        ("nikon_d7100_truncated.NEF", (6036, 4020)),
        # A DNG's raw image, cropped as its DefaultCropSize says (here: not at all).
        ("nikon_z9_cropped.dng", (5392, 3592)),
        # An ARW whose EXIF gives the pixel size: that, even cut after its headers.
        ("bad_sony_a7iii_header_only.ARW", (6000, 4000)),
        ("canon_eos_m50_stripped.CR3", (6000, 4000)),
    ],
)
def test_pixel_size_of_a_raw_is_its_full_size_image_not_a_thumbnail(name, size):
    metadata = read_metadata(_sample(name))
    assert (metadata.width, metadata.height) == size


def _tiff_raw(path: Path, crop: tuple[int, int] | None) -> Path:
    """A little-endian TIFF-based RAW as a DNG lays it out: IFD0 a 160 x 120 thumbnail, its
    SubIFD the full-size 6000 x 4000 image, cropped to ``crop`` (DefaultCropSize, RATIONAL)."""
    import struct

    def ifd(entries: list[tuple[int, int, int, int]]) -> bytes:
        body = b"".join(struct.pack("<HHII", *entry) for entry in entries)
        return struct.pack("<H", len(entries)) + body + struct.pack("<I", 0)

    ifd0_size, sub_size = 2 + 4 * 12 + 4, 2 + (3 + (crop is not None)) * 12 + 4
    sub_at = 8 + ifd0_size
    ifd0 = ifd([(0xFE, 4, 1, 1), (0x100, 3, 1, 160), (0x101, 3, 1, 120), (0x14A, 4, 1, sub_at)])
    sub = [(0xFE, 4, 1, 0), (0x100, 4, 1, 6000), (0x101, 4, 1, 4000)]
    rationals = b""
    if crop is not None:
        sub.append((0xC620, 5, 2, sub_at + sub_size))
        rationals = struct.pack("<IIII", crop[0] * 2, 2, crop[1], 1)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd(sub) + rationals)
    return path


@pytest.mark.parametrize(("crop", "size"), [(None, (6000, 4000)), ((5976, 3984), (5976, 3984))])
def test_pixel_size_of_a_raw_is_its_crop_when_it_says_one(tmp_path, crop, size):
    from core.media.preview import raw_pixel_size

    path = _tiff_raw(tmp_path / "IMG.DNG", crop)
    assert raw_pixel_size(path) == size
    assert sniff(path).format == "tiff-raw"
    assert (read_metadata(path).width, read_metadata(path).height) == size
