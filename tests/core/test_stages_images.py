"""Thumbs, web JPEGs and blurhashes made from real camera files: sizes, orientation, sRGB,
metadata, damaged files, atomic writes, and blurhash strings checked against hand-worked values
and a decoder written here from the algorithm's description."""

from __future__ import annotations

import io
import math
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageOps, ImageStat

from core.media.preview import embedded_jpeg, orientation_of
from core.media.sniff import sniff
from core.stages.images import (
    Made,
    StageFailed,
    blurhash_encode,
    blurhash_of,
    make_thumb,
    make_web,
)
from tests.helpers import REPO, REPO_CAMERA, SHARED_CAMERA, camera_samples


@dataclass(frozen=True)
class Sizes:
    """Both images are made, at these (width, height): the thumb 400 px and the web JPEG
    2048 px on the long side, neither larger than the photo, both upright."""

    thumb: tuple[int, int]
    web: tuple[int, int]


@dataclass(frozen=True)
class Fails:
    """StageFailed, with these words in its reason."""

    reason: str


# From MANIFEST.md: the stored size of each main image (or largest embedded JPEG) and its EXIF
# orientation; 5 to 8 swap width and height.
EXPECTED = {
    "apple_iphone4s_orient6.jpg": Sizes((300, 400), (1536, 2048)),  # 3264x2448, orientation 6
    "apple_iphone5_orient3_gps.jpg": Sizes((400, 300), (2048, 1536)),  # 3264x2448, orientation 3
    # Its headers are cut at 64 KB. A triage preview shows its EXIF thumbnail; an export of a
    # thumbnail in place of the photo would be a lie.
    "bad_corrupt_exif_max_uint32.jpg": Fails("cut short"),
    # Only its maker note is damaged: the photo itself is whole, and made.
    "bad_corrupt_makernote_olympus.jpg": Sizes((400, 300), (2048, 1536)),  # 3648x2736
    "bad_html_named.JPG": Fails("an HTML page, not a photo"),
    "bad_sony_a7iii_header_only.ARW": Fails("cut short"),  # its preview offset is past its end
    # Half its scan data is missing: a preview shows the half that is there, an export fails.
    "bad_truncated_scan_nikon_d90.jpg": Fails("cut short"),
    "bad_zero_bytes.CR2": Fails("an empty file"),
    "canon_eos1000d_orient6.jpg": Sizes((267, 400), (1365, 2048)),  # 3888x2592, orientation 6
    "canon_eos_d30.CRW": Sizes((400, 267), (1440, 960)),  # its 1440x960 JPEG, never upscaled
    "canon_eos_m50_stripped.CR3": Fails("no embedded preview in this CR3"),
    "fujifilm_finepix_f40fd.jpg": Sizes((400, 300), (2048, 1536)),  # 3296x2472
    "fujifilm_s5pro_stripped.RAF": Sizes((160, 120), (160, 120)),  # only a 160x120 JPEG inside
    "gopro_hero4_lightroom.jpg": Sizes((400, 225), (1000, 563)),
    "gopro_hero7_GOPR9231.GPR": Fails("no embedded preview in this GPR"),  # VC-5 only
    "kodak_dc240_1999.jpg": Sizes((400, 300), (640, 480)),
    "lge_nexus4_gps_noorient.jpg": Sizes((300, 400), (1536, 2048)),  # stored 2448x3264
    "minolta_dimage_a1.jpg": Sizes((400, 300), (2048, 1536)),  # 2560x1920
    "nikon_coolpix_p6000_gps_DSCN0010.jpg": Sizes((400, 300), (640, 480)),
    "nikon_d70s_jpeg_named.NEF": Sizes((266, 400), (1362, 2048)),  # a 2000x3008 JPEG
    "nikon_d7100_truncated.NEF": Sizes((400, 267), (2048, 1365)),  # its 6000x4000 JpgFromRaw
    "nikon_d90.jpg": Sizes((400, 266), (2048, 1360)),  # 4288x2848
    "nikon_z9_cropped.dng": Sizes((400, 265), (640, 424)),  # its 640x424 JPEG
    "olympus_pen_e-p3.jpg": Sizes((400, 300), (1280, 960)),
    "orientation5_transpose.jpg": Sizes((400, 300), (600, 450)),  # stored 450x600, orientation 5
    "panasonic_dmc-lx3_gps.jpg": Sizes((400, 267), (2048, 1367)),  # 3776x2520
    "pentax_ist_d.jpg": Sizes((400, 267), (1536, 1024)),
    "samsung_galaxy_s_orient6_gps.jpg": Sizes((300, 400), (480, 640)),  # 640x480, orientation 6
    "sony_dsc-hx5v_gps.jpg": Sizes((400, 300), (730, 547)),
    "sony_slt-a58_small.jpg": Sizes((10, 10), (10, 10)),
    "xiaomi_mi9t_orient6.jpg": Sizes((300, 400), (1536, 2048)),  # 4000x3000, orientation 6
}


def _opened(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def _difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two images at 64x64 in grey, 0..255."""
    small = [image.convert("L").resize((64, 64), Image.Resampling.BOX) for image in (first, second)]
    return ImageStat.Stat(ImageChops.difference(*small)).mean[0]


def _upright_source(path: Path) -> Image.Image:
    """The photo as it should look, at about 512 px: a JPEG turned by PIL.ImageOps.exif_transpose,
    a RAW's largest embedded JPEG as stored (the RAWs here are all orientation 1 or none); in sRGB
    when it has a colour profile."""
    file_format = sniff(path).format
    if file_format == "jpeg":
        image = Image.open(path)
        image.draft("RGB", (512, 512))
        image = ImageOps.exif_transpose(image)
    else:
        assert orientation_of(path, file_format) in (None, 1)
        image = _opened_bytes(embedded_jpeg(path, file_format))
    return _in_srgb(image)


def _in_srgb(image: Image.Image) -> Image.Image:
    if not image.info.get("icc_profile"):
        return image
    profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
    return ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"))


def _opened_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _files_in(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.exists() else []


# --- every camera sample -------------------------------------------------------------------------


def test_every_camera_sample_has_an_expected_outcome():
    names = {
        path.name
        for folder in (REPO_CAMERA, SHARED_CAMERA)
        if folder.is_dir()
        for path in folder.iterdir()
        if path.name != "MANIFEST.md"
    }
    assert names - EXPECTED.keys() == set()


@pytest.mark.parametrize(("path", "expected"), list(camera_samples(EXPECTED)))
def test_every_camera_sample_makes_a_thumb_and_a_web_jpeg_or_says_why(tmp_path, path, expected):
    file_format = sniff(path).format
    thumb_out, web_out = tmp_path / "thumb" / "1.jpg", tmp_path / "web" / "1.jpg"
    if isinstance(expected, Fails):
        for make, out in ((make_thumb, thumb_out), (make_web, web_out)):
            with pytest.raises(StageFailed) as raised:
                make(path, file_format, None, out)
            assert expected.reason in str(raised.value)
        assert _files_in(tmp_path / "thumb") == _files_in(tmp_path / "web") == []
        return

    thumb = make_thumb(path, file_format, None, thumb_out)
    web = make_web(path, file_format, None, web_out)

    assert (thumb.width, thumb.height) == expected.thumb
    assert (web.width, web.height) == expected.web
    assert _files_in(tmp_path / "thumb") == _files_in(tmp_path / "web") == ["1.jpg"]
    upright = _upright_source(path)
    for made, out, long_edge in ((thumb, thumb_out, 400), (web, web_out, 2048)):
        image = _opened(out)
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.size == (made.width, made.height)
        assert max(image.size) <= long_edge
        assert abs(image.width / image.height - upright.width / upright.height) < 0.01
        assert _difference(image, upright) < 6  # the same picture, the same way up
        assert "exif" not in image.info and "xmp" not in image.info and "comment" not in image.info
    assert "progressive" not in _opened(web_out).info  # baseline: 5x faster to write


def test_the_upright_check_would_see_a_photo_left_on_its_side(tmp_path):
    path = REPO_CAMERA / "apple_iphone5_orient3_gps.jpg"  # orientation 3: upside down as stored
    make_web(path, "jpeg", None, tmp_path / "turned.jpg")
    make_web(path, "jpeg", 1, tmp_path / "as_stored.jpg")
    upright = _upright_source(path)
    assert _difference(_opened(tmp_path / "turned.jpg"), upright) < 6
    assert _difference(_opened(tmp_path / "as_stored.jpg"), upright) > 15


def test_an_orientation_given_by_the_caller_wins_over_the_files(tmp_path):
    path = REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg"  # stored 640x480, orientation 6
    assert make_web(path, "jpeg", 1, tmp_path / "a.jpg") == Made(640, 480)
    assert make_web(path, "jpeg", 8, tmp_path / "b.jpg") == Made(480, 640)
    assert make_thumb(path, "jpeg", None, tmp_path / "c.jpg") == Made(300, 400)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_turns_as_exif_transpose_turns_it(tmp_path, orientation):
    stored = Image.new("RGB", (120, 80), (20, 20, 230))
    stored.paste((230, 20, 20), (0, 0, 30, 30))  # a red top-left corner
    stored.paste((20, 200, 20), (90, 0, 120, 30))  # a green top-right corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    path = tmp_path / "corners.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())

    made = make_web(path, "jpeg", None, tmp_path / "web.jpg")

    reference = ImageOps.exif_transpose(Image.open(path))
    assert (made.width, made.height) == reference.size
    assert _difference(_opened(tmp_path / "web.jpg"), reference) < 3


# --- sizes ---------------------------------------------------------------------------------------


def _photo_like(size: tuple[int, int]) -> Image.Image:
    """A gradient with some texture, so that scaling and turning show."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.effect_noise(size, 40).point(lambda value: value // 2 + 64)
    image = Image.merge("RGB", (red, green, blue))
    image.paste((250, 250, 250), (0, 0, width // 4, height // 4))
    return image


@pytest.mark.parametrize(
    ("size", "thumb", "web"),
    [
        ((300, 200), (300, 200), (300, 200)),  # smaller than both: kept as it is
        ((1000, 700), (400, 280), (1000, 700)),
        ((2048, 1000), (400, 195), (2048, 1000)),  # exactly the long edge
        ((2100, 1400), (400, 267), (2048, 1365)),  # just over: scaled, not kept within a slack
        ((4000, 6000), (267, 400), (1365, 2048)),  # portrait, draft-decoded at 1/2 and 1/8
        ((6000, 4000), (400, 267), (2048, 1365)),
    ],
)
def test_images_are_scaled_down_to_their_long_edge_and_never_up(tmp_path, size, thumb, web):
    path = tmp_path / "source.jpg"
    _photo_like(size).save(path, "JPEG", quality=90)

    assert make_thumb(path, "jpeg", None, tmp_path / "thumb.jpg") == Made(*thumb)
    assert make_web(path, "jpeg", None, tmp_path / "web.jpg") == Made(*web)

    assert _opened(tmp_path / "web.jpg").size == web
    assert _difference(_opened(tmp_path / "web.jpg"), _opened(path)) < 4


def test_long_edge_and_quality_are_the_callers(tmp_path):
    path = REPO_CAMERA / "nikon_d7100_truncated.NEF"
    assert make_thumb(path, "tiff-raw", None, tmp_path / "a.jpg", long_edge=256) == Made(256, 171)
    low = make_web(path, "tiff-raw", None, tmp_path / "low.jpg", long_edge=1000, quality=40)
    high = make_web(path, "tiff-raw", None, tmp_path / "high.jpg", long_edge=1000, quality=95)
    assert low == high == Made(1000, 667)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size / 2
    with pytest.raises(ValueError):
        make_thumb(path, "tiff-raw", None, tmp_path / "b.jpg", long_edge=0)


def test_png_and_tiff_are_opened_with_pillow(tmp_path):
    rgba = Image.new("RGBA", (3000, 1000), (200, 40, 40, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 1500, 1000))  # the transparent half shows grey
    rgba.save(tmp_path / "wide.png")
    tiff = _photo_like((1000, 1500))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    tiff.save(tmp_path / "tall.tif", exif=exif)

    assert make_web(tmp_path / "wide.png", "png", None, tmp_path / "png.jpg") == Made(2048, 683)
    assert make_thumb(tmp_path / "tall.tif", "tiff", None, tmp_path / "tif.jpg") == Made(400, 267)
    # Pillow turns a TIFF as it loads it: an orientation asked for is still from the stored pixels.
    assert make_thumb(tmp_path / "tall.tif", "tiff", 1, tmp_path / "as_stored.jpg") == Made(
        267, 400
    )
    assert make_thumb(tmp_path / "tall.tif", "tiff", 8, tmp_path / "left.jpg") == Made(400, 267)

    png = _opened(tmp_path / "png.jpg").convert("RGB")
    assert _close(png.getpixel((200, 300)), (128, 128, 128), 11)
    assert _close(png.getpixel((1800, 300)), (200, 40, 40), 11)
    assert (
        _difference(_opened(tmp_path / "tif.jpg"), tiff.transpose(Image.Transpose.ROTATE_270)) < 4
    )
    assert _difference(_opened(tmp_path / "as_stored.jpg"), tiff) < 4
    assert (
        _difference(_opened(tmp_path / "left.jpg"), tiff.transpose(Image.Transpose.ROTATE_90)) < 4
    )


# --- metadata ------------------------------------------------------------------------------------


def test_kept_metadata_is_the_photos_exif_with_orientation_1(tmp_path):
    path = REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg"  # orientation 6, GPS
    made = make_web(path, "jpeg", None, tmp_path / "kept.jpg", keep_metadata=True)

    image = _opened(tmp_path / "kept.jpg")
    exif = image.getexif()
    assert exif[ExifTags.Base.Make].strip() == "SAMSUNG"  # padded with spaces in the file
    assert exif[ExifTags.Base.Model] == "GT-I9000"
    assert exif[ExifTags.Base.Orientation] == 1
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    assert exif_ifd[ExifTags.Base.DateTimeOriginal] == "2011:04:02 18:30:10"
    assert ExifTags.Base.MakerNote not in exif_ifd
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)  # present (its values are zero in this file)
    # Upright pixels and Orientation 1: a viewer turns nothing.
    assert (made.width, made.height) == image.size == (480, 640)
    assert ImageOps.exif_transpose(image).size == (480, 640)


def test_kept_metadata_of_a_raw_is_the_raws_own(tmp_path):
    # The D7100's JpgFromRaw carries no EXIF of its own: the NEF's first IFD and EXIF IFD do.
    path = REPO_CAMERA / "nikon_d7100_truncated.NEF"
    make_web(path, "tiff-raw", None, tmp_path / "kept.jpg", keep_metadata=True)

    exif = _opened(tmp_path / "kept.jpg").getexif()
    assert exif[ExifTags.Base.Model] == "NIKON D7100"
    assert exif[ExifTags.Base.Orientation] == 1
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    assert exif_ifd[ExifTags.Base.DateTimeOriginal] == "2013:09:03 09:45:16"
    assert exif_ifd[ExifTags.Base.ISOSpeedRatings] == 100
    assert ExifTags.Base.MakerNote not in exif_ifd  # 122 KB, and its offsets would be wrong
    # Nothing of the raw data's description (strips, sub-IFDs) comes along.
    assert ExifTags.Base.StripOffsets not in exif and ExifTags.Base.SubIFDs not in exif


@pytest.mark.parametrize(
    "name",
    [
        "samsung_galaxy_s_orient6_gps.jpg",
        "nikon_coolpix_p6000_gps_DSCN0010.jpg",
        "kodak_dc240_1999.jpg",
    ],
)
def test_without_kept_metadata_there_is_no_exif_xmp_or_comment_at_all(tmp_path, name):
    path = REPO_CAMERA / name  # the Coolpix also carries XMP
    make_web(path, "jpeg", None, tmp_path / "web.jpg", keep_metadata=False)
    make_thumb(path, "jpeg", None, tmp_path / "thumb.jpg")

    for out in (tmp_path / "web.jpg", tmp_path / "thumb.jpg"):
        data = out.read_bytes()
        assert b"Exif\x00\x00" not in data
        assert b"http://ns.adobe.com/xap/1.0/" not in data
        image = _opened(out)
        assert not image.getexif()
        assert not {"exif", "xmp", "comment"} & image.info.keys()


def test_comments_are_never_carried_over(tmp_path):
    path = tmp_path / "commented.jpg"
    _photo_like((800, 600)).save(path, "JPEG", comment=b"shot on a sunny day")
    assert _opened(path).info["comment"] == b"shot on a sunny day"
    for keep in (False, True):
        make_web(path, "jpeg", None, tmp_path / f"web{keep}.jpg", keep_metadata=keep)
        assert b"sunny" not in (tmp_path / f"web{keep}.jpg").read_bytes()
    make_thumb(path, "jpeg", None, tmp_path / "thumb.jpg")
    assert b"sunny" not in (tmp_path / "thumb.jpg").read_bytes()


def test_kept_metadata_of_a_photo_without_exif_is_none(tmp_path):
    path = tmp_path / "plain.jpg"
    _photo_like((800, 600)).save(path, "JPEG")
    make_web(path, "jpeg", None, tmp_path / "web.jpg", keep_metadata=True)
    assert not _opened(tmp_path / "web.jpg").getexif()


# --- colour --------------------------------------------------------------------------------------


def _s15_fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _matrix_rgb_profile(description: str, colorants, gamma: float) -> bytes:
    """An ICC v2 RGB display profile: three colorants (XYZ, adapted to D50) and one gamma."""
    xyz = [b"XYZ \x00\x00\x00\x00" + b"".join(_s15_fixed16(v) for v in c) for c in colorants]
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    ascii_description = description.encode("ascii") + b"\x00"
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(ascii_description))
        + ascii_description
        + b"\x00" * (4 + 4 + 2 + 1 + 67)  # no Unicode or ScriptCode description
    )
    white = b"XYZ \x00\x00\x00\x00" + b"".join(_s15_fixed16(v) for v in (0.9642, 1.0, 0.8249))
    copyright_ = b"text\x00\x00\x00\x00No copyright, made for a test\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", white),
        (b"rXYZ", xyz[0]),
        (b"gXYZ", xyz[1]),
        (b"bXYZ", xyz[2]),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", copyright_),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\x00" * (-len(body) % 4)
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\x00" * 4  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + b"\x00" * 12  # date
        + b"acsp"
        + b"\x00" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual
        + b"".join(_s15_fixed16(v) for v in (0.9642, 1.0, 0.8249))  # D50
        + b"\x00" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


# Adobe RGB (1998): its colorants adapted to D50 as Adobe's own profile gives them, gamma 563/256.
ADOBE_RGB_GAMMA = 563 / 256
ADOBE_RGB_PROFILE = _matrix_rgb_profile(
    "Wide gamut RGB for a test",
    [(0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457)],
    ADOBE_RGB_GAMMA,
)
# The published D65 matrices: Adobe RGB (1998) to XYZ, and XYZ to linear sRGB.
ADOBE_RGB_TO_XYZ = [
    (0.5767309, 0.1855540, 0.1881852),
    (0.2973769, 0.6273491, 0.0752741),
    (0.0270343, 0.0706872, 0.9911085),
]
XYZ_TO_SRGB = [
    (3.2404542, -1.5371385, -0.4985314),
    (-0.9692660, 1.8760108, 0.0415560),
    (0.0556434, -0.2040259, 1.0572252),
]


def _adobe_rgb_in_srgb(colour: tuple[int, int, int]) -> tuple[int, ...]:
    linear = [(value / 255) ** ADOBE_RGB_GAMMA for value in colour]
    xyz = [sum(m * v for m, v in zip(row, linear, strict=True)) for row in ADOBE_RGB_TO_XYZ]
    srgb_linear = [sum(m * v for m, v in zip(row, xyz, strict=True)) for row in XYZ_TO_SRGB]
    return tuple(round(_linear_to_srgb_float(value) * 255) for value in srgb_linear)


def _linear_to_srgb_float(value: float) -> float:
    value = max(0.0, min(1.0, value))
    return value * 12.92 if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055


PATCHES = [(120, 160, 90), (200, 80, 60), (60, 90, 180), (128, 128, 128)]


def _patches(profile: bytes | None, path: Path) -> None:
    image = Image.new("RGB", (128 * len(PATCHES), 128))
    for index, colour in enumerate(PATCHES):
        image.paste(colour, (128 * index, 0, 128 * (index + 1), 128))
    options = {"icc_profile": profile} if profile else {}
    image.save(path, "JPEG", quality=95, subsampling=0, **options)


def _patch_colours(path: Path) -> list[tuple[int, ...]]:
    image = _opened(path).convert("RGB")
    step = image.width // len(PATCHES)
    return [image.getpixel((step * index + step // 2, image.height // 2)) for index in range(4)]


def _close(first, second, tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(first, second, strict=True))


def test_a_wide_gamut_photo_is_converted_to_srgb_and_says_so(tmp_path):
    path = tmp_path / "adobe.jpg"
    _patches(ADOBE_RGB_PROFILE, path)
    expected = [_adobe_rgb_in_srgb(colour) for colour in PATCHES]
    assert not _close(expected[0], PATCHES[0], 10)  # (120, 160, 90) is about (98, 161, 85)

    make_web(path, "jpeg", None, tmp_path / "web.jpg")
    make_thumb(path, "jpeg", None, tmp_path / "thumb.jpg")

    web = _opened(tmp_path / "web.jpg")
    profile = ImageCms.ImageCmsProfile(io.BytesIO(web.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    for out in (tmp_path / "web.jpg", tmp_path / "thumb.jpg"):
        for shown, wanted in zip(_patch_colours(out), expected, strict=True):
            assert _close(shown, wanted, 4), (out.name, shown, wanted)
    assert "icc_profile" not in _opened(tmp_path / "thumb.jpg").info  # a thumb carries nothing


def test_a_real_photo_with_a_generic_rgb_profile_is_converted(tmp_path):
    path = REPO_CAMERA / "orientation5_transpose.jpg"  # Apple's "Generic RGB Profile", gamma 1.8
    make_web(path, "jpeg", None, tmp_path / "web.jpg")

    web = _opened(tmp_path / "web.jpg")
    profile = ImageCms.ImageCmsProfile(io.BytesIO(web.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    source = ImageOps.exif_transpose(_opened(path))
    converted = ImageCms.profileToProfile(
        source,
        ImageCms.ImageCmsProfile(io.BytesIO(source.info["icc_profile"])),
        ImageCms.createProfile("sRGB"),
    )
    mean = ImageStat.Stat(web).mean
    assert _close(mean, ImageStat.Stat(converted).mean, 2)
    assert not _close(mean, ImageStat.Stat(source).mean, 3)


def test_an_srgb_photo_keeps_its_profile_and_its_colours(tmp_path):
    path = REPO_CAMERA / "nikon_d70s_jpeg_named.NEF"  # a JPEG with "Nikon sRGB 4.0.0.3001"
    make_web(path, "jpeg", None, tmp_path / "web.jpg")

    web, source = _opened(tmp_path / "web.jpg"), _opened(path)
    assert web.info["icc_profile"] == source.info["icc_profile"]
    assert _close(ImageStat.Stat(web).mean, ImageStat.Stat(source).mean, 1)


def test_a_photo_without_a_profile_gets_none_and_keeps_its_colours(tmp_path):
    path = tmp_path / "plain.jpg"
    _patches(None, path)
    make_web(path, "jpeg", None, tmp_path / "web.jpg")
    assert "icc_profile" not in _opened(tmp_path / "web.jpg").info
    for shown, wanted in zip(_patch_colours(tmp_path / "web.jpg"), PATCHES, strict=True):
        assert _close(shown, wanted, 3)


def test_a_broken_profile_is_ignored_as_browsers_ignore_it(tmp_path):
    path = tmp_path / "broken.jpg"
    _patches(b"\x00\x00\x01\x00not an ICC profile at all" * 4, path)
    make_web(path, "jpeg", None, tmp_path / "web.jpg")
    assert "icc_profile" not in _opened(tmp_path / "web.jpg").info
    for shown, wanted in zip(_patch_colours(tmp_path / "web.jpg"), PATCHES, strict=True):
        assert _close(shown, wanted, 3)


# --- damaged files -------------------------------------------------------------------------------


def test_a_jpeg_cut_short_fails_instead_of_being_made_half_grey(tmp_path):
    source = (REPO_CAMERA / "apple_iphone5_orient3_gps.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(source[: len(source) // 2])
    for make in (make_thumb, make_web):
        with pytest.raises(StageFailed, match="cut short"):
            make(path, "jpeg", None, tmp_path / "out" / "1.jpg")
    assert _files_in(tmp_path / "out") == []


def test_files_that_cannot_be_read_give_a_reason(tmp_path):
    for path, reason in ((tmp_path / "missing.jpg", "No such file"), (tmp_path, "Is a directory")):
        with pytest.raises(StageFailed) as raised:
            make_web(path, "jpeg", None, tmp_path / "out" / "1.jpg")
        assert str(raised.value).startswith("the file cannot be read")
        assert reason in str(raised.value)
    assert _files_in(tmp_path / "out") == []


def test_a_file_without_read_permission_gives_a_reason(tmp_path):
    # Root reads any file: as root the check runs with that capability dropped (setpriv).
    path = tmp_path / "locked.jpg"
    path.write_bytes((REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    path.chmod(0)
    code = (
        "import sys; from pathlib import Path\n"
        "from core.stages.images import StageFailed, make_web\n"
        "try:\n"
        "    make_web(Path(sys.argv[1]), 'jpeg', None, Path(sys.argv[2]))\n"
        "except StageFailed as failure:\n"
        "    print(failure)\n"
    )
    command = [sys.executable, "-c", code, str(path), str(tmp_path / "out" / "1.jpg")]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the file cannot be read: Permission denied"
    assert _files_in(tmp_path / "out") == []


def test_text_claimed_to_be_a_jpeg_gives_a_reason(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n" * 20)
    with pytest.raises(StageFailed, match="damaged"):
        make_web(path, "jpeg", None, tmp_path / "1.jpg")


@pytest.mark.parametrize("name", ["kodak_dc240_1999.jpg", "nikon_d7100_truncated.NEF"])
@pytest.mark.parametrize("kept", [0.0005, 0.01, 0.2, 0.4, 0.6, 0.8, 0.95, 0.9999])
def test_a_camera_file_cut_anywhere_is_made_or_gives_a_reason(tmp_path, name, kept):
    data = (REPO_CAMERA / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: max(1, int(len(data) * kept))])
    out = tmp_path / "web" / "1.jpg"
    try:
        made = make_web(path, sniff(path).format, None, out)
    except StageFailed as failure:
        assert str(failure)
        assert _files_in(out.parent) == []
    else:
        assert _opened(out).size == (made.width, made.height)
        assert _files_in(out.parent) == ["1.jpg"]


FUZZED_FILE_STARTS = [
    b"",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00II*\x00",
    b"II*\x00",
    b"MM\x00*",
    b"FUJIFILMCCD-RAW ",
    b"\x00\x00\x00\x18ftypcrx ",
    b"\x89PNG\r\n\x1a\n",
]
FORMATS = ("jpeg", "tiff-raw", "tiff", "crw", "raf", "cr3", "heif", "png", "unknown", "html")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from(FUZZED_FILE_STARTS),
    body=st.binary(max_size=2048),
    file_format=st.sampled_from(FORMATS),
)
def test_any_bytes_are_made_or_give_a_reason(head, body, file_format):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo"
        path.write_bytes(head + body)
        out = Path(folder) / "out" / "1.jpg"
        try:
            make_thumb(path, file_format, None, out)
        except StageFailed as failure:
            assert str(failure)
            assert not out.parent.exists() or _files_in(out.parent) == []


# --- writing -------------------------------------------------------------------------------------


def test_the_output_folder_is_made_and_an_old_file_is_replaced(tmp_path):
    out = tmp_path / "stages" / "web" / "7.jpg"
    made = make_web(REPO_CAMERA / "kodak_dc240_1999.jpg", "jpeg", None, out)
    assert made == Made(640, 480) and _opened(out).size == (640, 480)

    make_web(REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg", "jpeg", None, out)
    assert _opened(out).size == (480, 640)
    assert _files_in(out.parent) == ["7.jpg"]


def test_a_failure_leaves_the_previous_file_as_it_was(tmp_path):
    out = tmp_path / "web" / "7.jpg"
    make_web(REPO_CAMERA / "kodak_dc240_1999.jpg", "jpeg", None, out)
    before = out.read_bytes()
    for name in ("bad_corrupt_exif_max_uint32.jpg", "bad_html_named.JPG", "bad_zero_bytes.CR2"):
        path = REPO_CAMERA / name
        with pytest.raises(StageFailed):
            make_web(path, sniff(path).format, None, out)
        assert out.read_bytes() == before
        assert _files_in(out.parent) == ["7.jpg"]


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path):
    source = REPO_CAMERA / "kodak_dc240_1999.jpg"
    (tmp_path / "web" / "7.jpg").mkdir(parents=True)  # a folder where the file should go
    with pytest.raises(StageFailed, match=r"7\.jpg cannot be written"):
        make_web(source, "jpeg", None, tmp_path / "web" / "7.jpg")
    assert _files_in(tmp_path / "web") == ["7.jpg"]
    assert _files_in(tmp_path / "web" / "7.jpg") == []

    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(StageFailed, match="cannot be written"):
        make_thumb(source, "jpeg", None, tmp_path / "a_file" / "thumb" / "7.jpg")


def test_a_written_file_has_the_permissions_the_umask_gives(tmp_path):
    previous = os.umask(0o022)
    try:
        make_thumb(REPO_CAMERA / "kodak_dc240_1999.jpg", "jpeg", None, tmp_path / "7.jpg")
    finally:
        os.umask(previous)
    assert (tmp_path / "7.jpg").stat().st_mode & 0o777 == 0o644


# --- blurhash ------------------------------------------------------------------------------------

BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _number(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 83 + BASE83.index(digit)
    return value


def _to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _components(blurhash: str) -> tuple[int, int, list[tuple[float, float, float]]]:
    """(x, y, colours) of a blurhash, as the algorithm's description decodes them."""
    size_flag = _number(blurhash[0])
    x, y = size_flag % 9 + 1, size_flag // 9 + 1
    assert len(blurhash) == 4 + 2 * x * y
    maximum = (_number(blurhash[1]) + 1) / 166
    dc = _number(blurhash[2:6])
    colours = [(_to_linear(dc >> 16), _to_linear((dc >> 8) & 255), _to_linear(dc & 255))]
    for index in range(1, x * y):
        value = _number(blurhash[4 + 2 * index : 6 + 2 * index])
        quantised = (value // (19 * 19), (value // 19) % 19, value % 19)
        colours.append(tuple(math.copysign(((q - 9) / 9) ** 2, q - 9) * maximum for q in quantised))
    return x, y, colours


def _decoded(blurhash: str, width: int, height: int) -> Image.Image:
    x, y, colours = _components(blurhash)
    pixels = []
    for row in range(height):
        for column in range(width):
            total = [0.0, 0.0, 0.0]
            for j in range(y):
                for i in range(x):
                    basis = math.cos(math.pi * column * i / width) * math.cos(
                        math.pi * row * j / height
                    )
                    for channel in range(3):
                        total[channel] += colours[j * x + i][channel] * basis
            pixels.append(tuple(round(_linear_to_srgb_float(v) * 255) for v in total))
    image = Image.new("RGB", (width, height))
    image.putdata(pixels)
    return image


# Worked by hand from the algorithm's description. The size flag is (x - 1) + (y - 1) * 9
# (4x3: 21, "L"); then the quantised maximum AC value; the average colour as 0xRRGGBB in four
# base-83 digits; each AC component as 19 * 19 * r + 19 * g + b, where 9 is zero, in two.
# Note that the cosines are sampled at whole pixels from 0, so that on a flat image of any colour
# but black the odd components are not zero: the sum of cos(pi * i * x / w) over x = 0..w-1 is 1
# for odd i. Black has only zeros: 9 * 361 + 9 * 19 + 9 = 3429 = "fQ" for each AC.
HAND_WORKED = [
    # Black, 4x3: all AC zero, the maximum "0", the average 0x000000 "0000".
    (Image.new("RGB", (20, 10), (0, 0, 0)), 4, 3, "L00000" + "fQ" * 11),
    # Grey 128, 1x1: no AC at all; 0x808080 = 8421504 = 14 * 83^3 + 60 * 83^2 + 37 * 83 + 75.
    (Image.new("RGB", (20, 10), (128, 128, 128)), 1, 1, "00Eyb["),
    # Red 20x10, 4x3: the average 0xFF0000 = 16711680 = "TI:j". In linear light red is 1, so the
    # components (i, j) = (1, 0) and (3, 0) are 2 / 20 = 0.1, (0, 1) is 2 / 10 = 0.2, (1, 1) and
    # (3, 1) are 2 / 200 = 0.01, the others 0. The maximum 0.2 is quantised to
    # floor(0.2 * 166 - 0.5) = 32 ("W") and read back as 33 / 166; 0.1 becomes
    # floor(sqrt(0.1 * 166 / 33) * 9 + 9.5) = 15 in red: 15 * 361 + 180 = 5595 = ",Y";
    # 0.2 becomes 18: 6678 = "|c"; 0.01 becomes 11: 4151 = "o1".
    (Image.new("RGB", (20, 10), (255, 0, 0)), 4, 3, "LWTI:j,YfQ,Y|co1fQo1fQfQfQfQ"),
    # White, black, black (3x1), 2x1: the average is 1/3 in linear light, 156 in sRGB
    # (0x9C9C9C = 10263708 = "H_=B"); the one AC is 2/3 * (1 * 1) = 0.667, whose maximum is
    # clamped to 82 ("~", read as 0.5), and 0.667 / 0.5 is clamped to 18: 6858 = "~q".
    (Image.frombytes("RGB", (3, 1), bytes([255, 255, 255, 0, 0, 0, 0, 0, 0])), 2, 1, "1~H_=B~q"),
]


@pytest.mark.parametrize(("image", "x", "y", "expected"), HAND_WORKED)
def test_blurhash_matches_values_worked_by_hand(image, x, y, expected):
    assert blurhash_encode(image, x, y) == expected


def test_blurhash_of_a_flat_colour_decodes_to_that_colour():
    for colour in ((0, 0, 0), (255, 0, 0), (30, 144, 255), (250, 250, 250)):
        blurhash = blurhash_encode(Image.new("RGB", (32, 24), colour))
        decoded = _decoded(blurhash, 32, 24)
        colours = _components(blurhash)[2]
        assert tuple(round(_linear_to_srgb_float(v) * 255) for v in colours[0]) == colour
        # The odd components (see above) are quantised on a coarse scale: a few levels off.
        assert _close(ImageStat.Stat(decoded).mean, colour, 6)


@pytest.mark.parametrize(("x", "y"), [(1, 1), (4, 3), (3, 4), (9, 9), (1, 9), (9, 1), (5, 2)])
def test_blurhash_length_and_size_flag_follow_the_components(x, y):
    blurhash = blurhash_encode(_photo_like((300, 200)), x, y)
    assert len(blurhash) == 4 + 2 * x * y
    assert _components(blurhash)[:2] == (x, y)
    assert set(blurhash) <= set(BASE83)


def test_blurhash_decodes_to_the_image_it_was_made_from():
    # Dark blue on the left to orange on the right, darker at the bottom.
    width, height = 96, 64
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (
                20 + 220 * column // width,
                40 + 100 * column // width - 30 * row // height,
                160 - 140 * column // width,
            )
            for row in range(height)
            for column in range(width)
        ]
    )
    blurhash = blurhash_encode(image, 4, 3)

    decoded = _decoded(blurhash, 32, 24)
    small = image.resize((32, 24), Image.Resampling.BOX)
    assert _close(ImageStat.Stat(decoded).mean, ImageStat.Stat(small).mean, 6)
    assert _difference(decoded, small) < 8
    # The average colour is the average in linear light, back in sRGB.
    linear_mean = [
        sum(_to_linear(value) for value in band.tobytes()) / (width * height)
        for band in image.split()
    ]
    dc = _components(blurhash)[2][0]
    assert _close(dc, linear_mean, 0.01)
    left, right = decoded.crop((0, 0, 8, 24)), decoded.crop((24, 0, 32, 24))
    assert ImageStat.Stat(left).mean[0] < 100 < ImageStat.Stat(right).mean[0]
    assert ImageStat.Stat(left).mean[2] > 100 > ImageStat.Stat(right).mean[2]


def test_blurhash_of_a_thumb_made_from_a_camera_file(tmp_path):
    thumb = tmp_path / "thumb.jpg"
    make_thumb(REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg", "jpeg", None, thumb)

    blurhash = blurhash_of(thumb)

    assert len(blurhash) == 28 and blurhash == blurhash_of(thumb, 4, 3)
    assert len(blurhash_of(thumb, 9, 9)) == 4 + 2 * 81
    image = _opened(thumb)
    # The average colour is the thumb's, averaged in linear light.
    linear_mean = [
        sum(_to_linear(value) for value in band.tobytes()) / (image.width * image.height)
        for band in image.split()
    ]
    assert _close(_components(blurhash)[2][0], linear_mean, 0.01)
    # A 4x3 blurhash is a few blobs of colour: where the thumb is light or dark, so is its decoding
    # (and not the thumb turned over or mirrored).
    decoded = _decoded(blurhash, 30, 40)
    near = _coarse_difference(decoded, image)
    assert near < 25
    for turned in (Image.Transpose.ROTATE_180, Image.Transpose.FLIP_LEFT_RIGHT):
        assert near < _coarse_difference(decoded, image.transpose(turned)) - 10


def _coarse_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two images at 3x4 in grey, 0..255."""
    small = [image.convert("L").resize((3, 4), Image.Resampling.BOX) for image in (first, second)]
    return ImageStat.Stat(ImageChops.difference(*small)).mean[0]


def test_blurhash_of_a_file_that_is_no_image_gives_a_reason(tmp_path):
    (tmp_path / "page.jpg").write_text("<html><body>Not found</body></html>")
    for path in (
        tmp_path / "page.jpg",
        tmp_path / "missing.jpg",
        REPO_CAMERA / "bad_zero_bytes.CR2",
    ):
        with pytest.raises(StageFailed):
            blurhash_of(path)


@pytest.mark.parametrize(("x", "y"), [(0, 3), (10, 3), (4, 0), (4, 10), (-1, -1)])
def test_blurhash_components_must_be_1_to_9(tmp_path, x, y):
    with pytest.raises(ValueError, match="1 to 9"):
        blurhash_encode(Image.new("RGB", (8, 8)), x, y)
    with pytest.raises(ValueError, match="1 to 9"):
        blurhash_of(tmp_path / "never_opened.jpg", x, y)
