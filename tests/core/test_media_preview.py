"""Previews from real camera files (embedded JPEGs of RAWs, JPEGs, orientation, damaged files)
and the preview cache on a real folder."""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageOps, ImageStat

from core.media.cache import PreviewCache
from core.media.preview import (
    DEFAULT_LONG_EDGE,
    OVERSIZE_SLACK,
    PreviewUnavailable,
    embedded_jpeg,
    orientation_of,
    placeholder,
    render_preview,
)
from core.media.sniff import sniff
from tests.helpers import REPO, REPO_CAMERA, SHARED_CAMERA, camera_sample, camera_samples

FORMATS = ("jpeg", "tiff-raw", "tiff", "crw", "raf", "cr3", "heif", "png", "unknown", "unreadable")


@dataclass(frozen=True)
class Shown:
    """A preview of this size: scaled to about 1600 px (draft scales within 10% under or over
    are kept as they are) and turned upright."""

    width: int
    height: int


@dataclass(frozen=True)
class NotShown:
    """PreviewUnavailable, with these words in its reason."""

    reason: str


# From MANIFEST.md: the stored size of each main image or largest embedded JPEG, and its EXIF
# orientation (6: turned to portrait, 3: upside down, 5: transposed).
EXPECTED = {
    "apple_iphone4s_orient6.jpg": Shown(1224, 1632),  # 3264x2448, orientation 6
    "apple_iphone5_orient3_gps.jpg": Shown(1632, 1224),  # 3264x2448, orientation 3
    # Pillow cannot read its headers (an EXIF segment longer than the file), but the 800x480
    # EXIF thumbnail inside is whole: that is what there is to show.
    "bad_corrupt_exif_max_uint32.jpg": Shown(800, 480),
    "bad_corrupt_makernote_olympus.jpg": Shown(1600, 1200),  # 3648x2736
    "bad_html_named.JPG": NotShown("an HTML page, not a photo"),
    "bad_sony_a7iii_header_only.ARW": NotShown("cut short"),  # its preview offset is past EOF
    # 4288x2848 cut in half: decoded as far as the data goes, the rest flat grey (see
    # test_a_jpeg_cut_short_shows_what_is_there).
    "bad_truncated_scan_nikon_d90.jpg": Shown(1600, 1063),
    "bad_zero_bytes.CR2": NotShown("empty"),
    "canon_eos1000d_orient6.jpg": Shown(1067, 1600),  # 3888x2592, orientation 6
    "canon_eos_d30.CRW": Shown(1440, 960),  # found by the SOI scan
    "canon_eos_m50_stripped.CR3": NotShown("no embedded preview in this CR3"),
    "fujifilm_finepix_f40fd.jpg": Shown(1648, 1236),  # 3296x2472
    "fujifilm_s5pro_stripped.RAF": Shown(160, 120),  # SOI scan; its 8x8 main JPEG is stripped
    "gopro_hero4_lightroom.jpg": Shown(1000, 563),
    "gopro_hero7_GOPR9231.GPR": NotShown("no embedded preview in this GPR"),  # VC-5 only
    "kodak_dc240_1999.jpg": Shown(640, 480),
    "lge_nexus4_gps_noorient.jpg": Shown(1224, 1632),  # stored 2448x3264, no orientation
    "minolta_dimage_a1.jpg": Shown(1600, 1200),  # 2560x1920
    "nikon_coolpix_p6000_gps_DSCN0010.jpg": Shown(640, 480),
    "nikon_d70s_jpeg_named.NEF": Shown(1000, 1504),  # 2000x3008 named .NEF: draft 1/2 is within 10%
    "nikon_d7100_truncated.NEF": Shown(1620, 1080),  # its 1620x1080 preview covers 1600
    "nikon_d90.jpg": Shown(1600, 1063),  # 4288x2848
    "nikon_z9_cropped.dng": Shown(640, 424),  # SOI scan beats IFD0's 256x171 strip
    "olympus_pen_e-p3.jpg": Shown(1280, 960),
    "orientation5_transpose.jpg": Shown(600, 450),  # stored 450x600, orientation 5
    "panasonic_dmc-lx3_gps.jpg": Shown(1600, 1068),  # 3776x2520
    "pentax_ist_d.jpg": Shown(1536, 1024),
    "samsung_galaxy_s_orient6_gps.jpg": Shown(480, 640),  # stored 640x480, orientation 6
    "sony_dsc-hx5v_gps.jpg": Shown(730, 547),
    "sony_slt-a58_small.jpg": Shown(10, 10),
    "xiaomi_mi9t_orient6.jpg": Shown(1200, 1600),  # 4000x3000, orientation 6
}


def _opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two images at 64x64 in grey, 0..255."""
    small = [image.convert("L").resize((64, 64), Image.Resampling.BOX) for image in (first, second)]
    return ImageStat.Stat(ImageChops.difference(*small)).mean[0]


def _render_to_image(path: Path, **kwargs) -> Image.Image:
    return _opened(render_preview(path, sniff(path).format, **kwargs))


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
def test_every_camera_sample_gives_a_preview_or_a_reason(path, expected):
    file_format = sniff(path).format
    if isinstance(expected, Shown):
        preview = _opened(render_preview(path, file_format))
        assert preview.format == "JPEG"
        assert preview.size == (expected.width, expected.height)
        assert max(preview.size) <= DEFAULT_LONG_EDGE * OVERSIZE_SLACK
    else:
        with pytest.raises(PreviewUnavailable) as raised:
            render_preview(path, file_format)
        assert expected.reason in raised.value.reason


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("nikon_d7100_truncated.NEF", (6000, 4000)),
        ("canon_eos_d30.CRW", (1440, 960)),
        ("fujifilm_s5pro_stripped.RAF", (160, 120)),
        ("nikon_z9_cropped.dng", (640, 424)),
    ],
)
def test_embedded_jpeg_is_the_largest_whole_jpeg_in_the_raw(name, size):
    path = REPO_CAMERA / name
    data = embedded_jpeg(path, sniff(path).format)
    assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")
    assert _opened(data).size == size


def test_embedded_jpeg_of_a_nef_is_where_its_subifd_tags_say():
    path = REPO_CAMERA / "nikon_d7100_truncated.NEF"
    # MANIFEST: JPEGInterchangeFormat 1189376, length 2287892, in SubIFD0.
    assert embedded_jpeg(path, "tiff-raw") == path.read_bytes()[1189376 : 1189376 + 2287892]


def test_embedded_jpeg_of_a_jpeg_is_the_file_itself():
    path = REPO_CAMERA / "nikon_d70s_jpeg_named.NEF"
    assert embedded_jpeg(path, sniff(path).format) == path.read_bytes()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad_sony_a7iii_header_only.ARW", "lies beyond its 8,255 bytes"),
        ("canon_eos_m50_stripped.CR3", "no embedded preview in this CR3"),
        ("bad_html_named.JPG", "an HTML page"),
        ("bad_zero_bytes.CR2", "an empty file"),
    ],
)
def test_embedded_jpeg_says_why_there_is_none(name, reason):
    path = REPO_CAMERA / name
    with pytest.raises(PreviewUnavailable) as raised:
        embedded_jpeg(path, sniff(path).format)
    assert reason in raised.value.reason


def test_a_smaller_long_edge_scales_further():
    preview = _render_to_image(REPO_CAMERA / "nikon_d7100_truncated.NEF", long_edge=400)
    assert preview.size == (405, 270)  # its 1620 x 1080 preview at 1/4: within 10% of 400
    preview = _render_to_image(REPO_CAMERA / "nikon_d7100_truncated.NEF", long_edge=300)
    assert preview.size == (300, 200)


# --- orientation ---------------------------------------------------------------------------------

# MANIFEST: "Mirrored horizontal". Only the full sample set beside the checkout has it (4 MB).
MIRRORED_GOPRO = (
    [("gopro_hero7_GOPR9231.GPR", 2)] if camera_sample("gopro_hero7_GOPR9231.GPR") else []
)


@pytest.mark.parametrize(
    ("name", "orientation"),
    [
        ("apple_iphone5_orient3_gps.jpg", 3),
        ("orientation5_transpose.jpg", 5),
        ("samsung_galaxy_s_orient6_gps.jpg", 6),
        ("nikon_d7100_truncated.NEF", 1),  # the RAW's IFD0
        ("fujifilm_s5pro_stripped.RAF", 1),  # the EXIF of the JPEG a RAF starts with
        ("canon_eos_m50_stripped.CR3", 1),  # the CMT1 box
        ("bad_corrupt_exif_max_uint32.jpg", None),  # 0 in the file: not an orientation
        ("canon_eos_d30.CRW", None),
        ("bad_html_named.JPG", None),
        ("bad_zero_bytes.CR2", None),
        *MIRRORED_GOPRO,
    ],
)
def test_orientation_of_camera_files(name, orientation):
    path = camera_sample(name)
    assert orientation_of(path, sniff(path).format) == orientation


# The eight EXIF orientations as PIL.ImageOps.exif_transpose applies them, to tell which one a
# preview shows.
UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _stored(path: Path) -> Image.Image:
    image = Image.open(path)
    image.draft("RGB", (400, 400))
    image.load()
    return image


def _orientation_shown(preview: Image.Image, stored: Image.Image) -> int:
    """Which of the eight orientations, applied to the stored image, the preview looks like."""
    turned = {
        orientation: stored if transpose is None else stored.transpose(transpose)
        for orientation, transpose in UPRIGHT.items()
    }
    return min(turned, key=lambda orientation: _difference(preview, turned[orientation]))


@pytest.mark.parametrize(
    ("name", "orientation"),
    [
        ("apple_iphone5_orient3_gps.jpg", 3),
        ("orientation5_transpose.jpg", 5),
        ("samsung_galaxy_s_orient6_gps.jpg", 6),
    ],
)
def test_camera_files_are_shown_upright(name, orientation):
    path = REPO_CAMERA / name
    preview = _render_to_image(path)
    assert _orientation_shown(preview, _stored(path)) == orientation


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A copy of a JPEG with the SHORT value of its IFD0 Orientation (0x0112) entry rewritten."""
    tiff = jpeg.index(b"Exif\x00\x00") + 6
    order = "<" if jpeg[tiff : tiff + 2] == b"II" else ">"
    ifd0 = tiff + struct.unpack_from(order + "I", jpeg, tiff + 4)[0]
    (count,) = struct.unpack_from(order + "H", jpeg, ifd0)
    for index in range(count):
        entry = ifd0 + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", jpeg, entry)
        if tag == 0x0112:
            assert kind == 3  # SHORT
            patched = bytearray(jpeg)
            struct.pack_into(order + "H", patched, entry + 8, orientation)
            return bytes(patched)
    raise AssertionError("no Orientation entry in IFD0")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_of_a_real_jpeg_is_turned_as_exif_transpose_turns_it(
    tmp_path, orientation
):
    source = (REPO_CAMERA / "orientation5_transpose.jpg").read_bytes()  # stored 450x600
    path = tmp_path / f"orientation{orientation}.jpg"
    path.write_bytes(_with_orientation(source, orientation))

    preview = _render_to_image(path)

    assert orientation_of(path, "jpeg") == orientation
    assert preview.size == ((600, 450) if orientation >= 5 else (450, 600))
    reference = ImageOps.exif_transpose(Image.open(path))
    assert reference.size == preview.size
    assert _difference(preview, reference) < 4
    assert _orientation_shown(preview, _stored(path)) == orientation


RED, GREEN, BLUE = (230, 20, 20), (20, 200, 20), (20, 20, 230)
# Where the stored top-left (red) and top-right (green) corners are once the photo is upright.
CORNERS_UPRIGHT = {
    1: ("top-left", "top-right"),
    2: ("top-right", "top-left"),
    3: ("bottom-right", "bottom-left"),
    4: ("bottom-left", "bottom-right"),
    5: ("top-left", "bottom-left"),
    6: ("top-right", "bottom-right"),
    7: ("bottom-right", "top-right"),
    8: ("bottom-left", "top-left"),
}


def _corner_colours(image: Image.Image) -> dict[str, tuple[int, ...]]:
    width, height = image.size
    inset = 15
    points = {
        "top-left": (inset, inset),
        "top-right": (width - 1 - inset, inset),
        "bottom-left": (inset, height - 1 - inset),
        "bottom-right": (width - 1 - inset, height - 1 - inset),
    }
    return {corner: image.convert("RGB").getpixel(point) for corner, point in points.items()}


def _nearest(colour: tuple[int, ...]) -> str:
    named = {"red": RED, "green": GREEN, "blue": BLUE}
    return min(
        named, key=lambda name: sum(abs(a - b) for a, b in zip(colour, named[name], strict=True))
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_marked_corners_end_up_where_exif_orientation_puts_them(tmp_path, orientation):
    stored = Image.new("RGB", (120, 80), BLUE)
    stored.paste(RED, (0, 0, 30, 30))
    stored.paste(GREEN, (90, 0, 120, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"corners{orientation}.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())

    preview = _render_to_image(path)
    reference = ImageOps.exif_transpose(Image.open(path))

    red_corner, green_corner = CORNERS_UPRIGHT[orientation]
    shown = {corner: _nearest(colour) for corner, colour in _corner_colours(preview).items()}
    assert shown[red_corner] == "red" and shown[green_corner] == "green"
    assert list(shown.values()).count("blue") == 2
    expected = {corner: _nearest(colour) for corner, colour in _corner_colours(reference).items()}
    assert shown == expected
    assert preview.size == reference.size == ((80, 120) if orientation >= 5 else (120, 80))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("given", [False, True])
def test_a_tiff_is_turned_upright_once(tmp_path, orientation, given):
    """Pillow turns a TIFF upright as it loads it: the preview must not turn it again, also
    when the caller passes the orientation the catalogue read from the file."""
    stored = Image.new("RGB", (120, 80), BLUE)
    stored.paste(RED, (0, 0, 30, 30))
    stored.paste(GREEN, (90, 0, 120, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"corners{orientation}.tif"
    stored.save(path, "TIFF", exif=exif)
    preview = Image.open(io.BytesIO(render_preview(path, "tiff", orientation if given else None)))
    red_corner, green_corner = CORNERS_UPRIGHT[orientation]
    shown = {corner: _nearest(colour) for corner, colour in _corner_colours(preview).items()}
    assert shown[red_corner] == "red" and shown[green_corner] == "green"
    assert preview.size == ((80, 120) if orientation >= 5 else (120, 80))


def test_an_orientation_given_by_the_caller_wins_over_the_files():
    path = REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg"  # stored 640x480, orientation 6
    assert _render_to_image(path, orientation=1).size == (640, 480)
    assert _render_to_image(path, orientation=None).size == (480, 640)


# --- damaged and odd files -----------------------------------------------------------------------


def test_a_jpeg_cut_short_shows_what_is_there(tmp_path):
    # A photographer triaging a card would rather see the half of the frame that survived, with
    # the lost half flat grey (which says the file is damaged better than any label), than a
    # placeholder: so a JPEG whose image data is cut short decodes as far as it goes, as Pillow's
    # LOAD_TRUNCATED_IMAGES would (without that process-wide switch).
    source = (REPO_CAMERA / "apple_iphone5_orient3_gps.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(source[: len(source) // 2])

    preview = _render_to_image(path)

    assert preview.size == (1632, 1224)
    # Orientation 3 turns the photo upside down: the lost bottom half is now at the top.
    lost, kept = preview.crop((0, 0, 1632, 400)), preview.crop((0, 824, 1632, 1224))
    assert max(ImageStat.Stat(lost).stddev) < 1
    assert min(ImageStat.Stat(kept).stddev) > 20


def test_a_jpeg_cut_inside_its_headers_says_so(tmp_path):
    source = (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes()
    path = tmp_path / "headers.jpg"
    path.write_bytes(source[:300])  # inside the EXIF segment, before its thumbnail
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, "jpeg")
    assert raised.value.reason == "the image data is cut short"


@pytest.mark.parametrize("file_format", FORMATS)
def test_random_bytes_never_raise_anything_but_preview_unavailable(tmp_path, file_format):
    path = tmp_path / "noise.bin"
    path.write_bytes(random.Random(7).randbytes(300_000))
    _only_previews_or_reasons(path, file_format)


@pytest.mark.parametrize(
    "head",
    [
        b"\xff\xd8\xff",
        b"\xff\xd8\xff\xe1\xff\xff",
        b"\xff\xd8\xff\xc0\x00\x11",
        b"\xff\xd8\xff\xdb",
    ],
)
def test_a_jpeg_with_garbage_after_its_start_marker_gives_a_reason(tmp_path, head):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(head + random.Random(11).randbytes(50_000))
    assert sniff(path).format == "jpeg"
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, "jpeg")
    assert raised.value.reason


def test_a_jpeg_claiming_billions_of_pixels_is_refused_not_decoded(tmp_path):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), RED).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 60_000, 60_000)  # height, width
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, "jpeg")
    assert "too many to preview safely" in raised.value.reason


def test_a_png_claiming_billions_of_pixels_is_refused_not_decoded(tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)  # 8-bit RGB
    image_data = zlib.compress(bytes(1000))
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", image_data))
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, sniff(path).format)
    assert "too large to preview safely" in raised.value.reason


def test_the_pixel_limit_follows_pillows_setting(monkeypatch):
    path = REPO_CAMERA / "orientation5_transpose.jpg"  # 450x600, no EXIF thumbnail to fall back on
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, "jpeg")
    assert raised.value.reason == "the image claims 450 x 600 pixels, too many to preview safely"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert _render_to_image(path).size == (600, 450)


def test_a_raw_whose_ifds_loop_gives_a_reason(tmp_path):
    # IFD0 at 8 pointing to a JPEG past the end of the file, and whose next IFD is itself.
    jpeg_offset = struct.pack("<HHII", 0x0201, 4, 1, 10**6)
    jpeg_length = struct.pack("<HHII", 0x0202, 4, 1, 5000)
    ifd = struct.pack("<H", 2) + jpeg_offset + jpeg_length + struct.pack("<I", 8)
    path = tmp_path / "loop.NEF"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(64))
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, sniff(path).format)
    assert "cut short" in raised.value.reason


def test_files_that_cannot_be_read_give_a_reason(tmp_path):
    for path in (tmp_path / "missing.NEF", tmp_path):
        with pytest.raises(PreviewUnavailable) as raised:
            render_preview(path, "tiff-raw")
        assert raised.value.reason.startswith("the file cannot be read")
        assert orientation_of(path, "tiff-raw") is None


def _only_previews_or_reasons(path: Path, file_format: str) -> None:
    try:
        preview = _opened(render_preview(path, file_format))
        assert max(preview.size) <= DEFAULT_LONG_EDGE * OVERSIZE_SLACK
    except PreviewUnavailable as unavailable:
        assert unavailable.reason
    try:
        embedded_jpeg(path, file_format)
    except PreviewUnavailable as unavailable:
        assert unavailable.reason
    assert orientation_of(path, file_format) in (None, *range(1, 9))


# How each kind of file starts, so that the fuzzed bytes reach the parsers behind the magic.
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from(FUZZED_FILE_STARTS),
    body=st.binary(max_size=2048),
    file_format=st.sampled_from(FORMATS),
)
def test_any_bytes_give_a_preview_or_a_reason(head, body, file_format):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed"
        path.write_bytes(head + body)
        _only_previews_or_reasons(path, file_format)


# --- other formats Pillow opens ------------------------------------------------------------------


def test_png_tiff_and_avif_are_opened_with_pillow(tmp_path):
    photo = Image.new("RGB", (2400, 1200), BLUE)
    photo.paste(RED, (0, 0, 600, 600))
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.convert("RGBA").save(tmp_path / "a.png", exif=exif.tobytes())
    photo.save(tmp_path / "a.tif")
    photo.save(tmp_path / "a.avif", quality=90)
    Image.new("I;16", (300, 200), 40_000).save(tmp_path / "deep.png")

    assert _render_to_image(tmp_path / "a.png").size == (800, 1600)  # orientation 6 in eXIf
    assert _render_to_image(tmp_path / "a.tif").size == (1600, 800)
    assert sniff(tmp_path / "a.avif").format == "heif"
    avif = _render_to_image(tmp_path / "a.avif")
    assert avif.size == (1600, 800) and _nearest(avif.getpixel((10, 10))) == "red"
    deep = _render_to_image(tmp_path / "deep.png")
    assert deep.mode == "L" and abs(deep.getpixel((5, 5)) - 40_000 // 256) <= 2


def test_heic_without_a_decoder_says_what_is_missing(tmp_path):
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pillow-heif is installed here")
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(1000))
    assert sniff(path).format == "heif"
    with pytest.raises(PreviewUnavailable) as raised:
        render_preview(path, "heif")
    assert raised.value.reason == "HEIF previews need pillow-heif, which is not installed"


def test_placeholder_is_a_jpeg_with_the_reason_drawn_on_it():
    image = _opened(placeholder("no embedded preview in this CR3"))
    assert image.format == "JPEG" and image.size == (480, 320)
    darkest, lightest = image.convert("L").getextrema()
    assert lightest - darkest > 100  # text on grey
    long_reason = "the file is cut short: its embedded preview lies beyond its 8,255 bytes " * 5
    assert _opened(placeholder(long_reason, long_edge=960)).size == (960, 640)
    assert _opened(placeholder("")).format == "JPEG"


# --- the preview cache ---------------------------------------------------------------------------


def _key(text: str) -> str:
    return blake3.blake3(text.encode()).hexdigest()


def _files_in(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_cache_round_trip(tmp_path):
    cache = PreviewCache(tmp_path / "previews", max_bytes=10_000)
    key = _key("IMG_0001.NEF")
    data = render_preview(REPO_CAMERA / "kodak_dc240_1999.jpg", "jpeg", long_edge=100)

    assert cache.get(key) is None
    path = cache.put(key, data)

    assert path == cache.path_for(key) == tmp_path / "previews" / key[:2] / f"{key}.jpg"
    assert cache.get(key) == path and path.read_bytes() == data
    assert cache.read(key) == data
    assert cache.total_bytes() == len(data)
    assert stat.S_IMODE((tmp_path / "previews").stat().st_mode) == 0o700
    assert _files_in(tmp_path / "previews") == [path]  # no temporary file left


def test_cache_evicts_the_least_recently_used(tmp_path):
    cache = PreviewCache(tmp_path, max_bytes=250)
    first, second, third = _key("first"), _key("second"), _key("third")
    cache.put(first, b"1" * 100)
    cache.put(second, b"2" * 100)
    assert cache.get(first) is not None  # now the second is the least recently used

    cache.put(third, b"3" * 100)

    assert cache.get(second) is None
    assert cache.read(first) == b"1" * 100 and cache.read(third) == b"3" * 100
    assert cache.total_bytes() == 200
    assert sum(path.stat().st_size for path in _files_in(tmp_path)) == 200


def test_cache_keeps_the_preview_just_written_even_when_it_alone_is_too_large(tmp_path):
    cache = PreviewCache(tmp_path, max_bytes=50)
    cache.put(_key("a"), b"a" * 100)
    assert cache.read(_key("a")) == b"a" * 100
    cache.put(_key("b"), b"b" * 100)
    assert cache.get(_key("a")) is None and cache.read(_key("b")) == b"b" * 100


def test_cache_tolerates_files_deleted_behind_its_back(tmp_path):
    root = tmp_path / "previews"
    cache = PreviewCache(root, max_bytes=250)
    cache.put(_key("a"), b"a" * 100)
    cache.path_for(_key("a")).unlink()
    assert cache.get(_key("a")) is None and cache.read(_key("a")) is None

    for folder in root.iterdir():
        folder.rmdir()
    root.rmdir()
    cache.put(_key("b"), b"b" * 100)
    cache.put(_key("c"), b"c" * 100)
    cache.put(_key("d"), b"d" * 100)  # over the limit: the scan finds what is really there

    assert cache.read(_key("d")) == b"d" * 100
    assert cache.get(_key("b")) is None  # the least recently used of those on disk
    assert cache.total_bytes() == 200


def test_a_preview_written_empty_by_a_crash_is_a_miss(tmp_path):
    cache = PreviewCache(tmp_path, max_bytes=1000)
    path = cache.put(_key("a"), b"a" * 10)
    path.write_bytes(b"")
    assert cache.get(_key("a")) is None and not path.exists()


def test_keys_must_be_blake3_hex_digests(tmp_path):
    cache = PreviewCache(tmp_path, max_bytes=1000)
    for key in ("../../etc/passwd", "", "ABCDEF0123456789", "ab"):
        with pytest.raises(ValueError):
            cache.path_for(key)


def test_two_caches_on_one_folder_see_and_evict_each_others_previews(tmp_path):
    app, worker = PreviewCache(tmp_path, max_bytes=250), PreviewCache(tmp_path, max_bytes=250)
    app.put(_key("a"), b"a" * 100)
    assert worker.read(_key("a")) == b"a" * 100
    worker.put(_key("b"), b"b" * 100)
    app.put(_key("c"), b"c" * 100)  # 300 bytes on disk; the app has counted only its own 200
    app.put(_key("d"), b"d" * 100)  # its eviction counts the folder: a and b go

    assert [app.get(_key(name)) is None for name in "abcd"] == [True, True, False, False]
    assert sum(path.stat().st_size for path in _files_in(tmp_path)) == 200


def test_two_writers_of_one_key_leave_one_whole_preview(tmp_path):
    key = _key("same photo")
    ours, theirs = b"o" * 300_000, b"t" * 200_000
    writer = (
        "import sys\n"
        "from pathlib import Path\n"
        "from core.media.cache import PreviewCache\n"
        "cache = PreviewCache(Path(sys.argv[1]), max_bytes=10**9)\n"
        "for _ in range(200):\n"
        f"    cache.put({key!r}, b't' * 200_000)\n"
    )
    other_process = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path)], cwd=REPO)
    caches = [PreviewCache(tmp_path, max_bytes=10**9) for _ in range(2)]
    threads = [
        threading.Thread(target=lambda c=cache: [c.put(key, ours) for _ in range(100)])
        for cache in caches
    ]
    for thread in threads:
        thread.start()
    while other_process.poll() is None:
        assert caches[0].read(key) in (None, ours, theirs)
    for thread in threads:
        thread.join()
    assert other_process.returncode == 0
    assert caches[0].read(key) in (ours, theirs)
    assert _files_in(tmp_path) == [caches[0].path_for(key)]


# An app on another machine reading the engine's cache through a read-only mount: permission
# bits apply to this process even as root (CAP_DAC_OVERRIDE dropped, as
# tests.helpers.run_cli_without_file_permissions_bypass does).
READ_ONLY_CACHE_LOOKS = """
import sys
from pathlib import Path
from core.media.cache import PreviewCache

shared, present, empty, absent = Path(sys.argv[1]), *sys.argv[2:]
cache = PreviewCache(shared / "1600", 1 << 30)
print(cache.get(present) is not None, cache.get(empty) is None, cache.get(absent) is None)
other_size = PreviewCache(shared / "2048", 1 << 30)  # a size the engine has made no folder for
print(other_size.get(present) is None)
"""


def test_a_cache_shared_read_only_gives_its_previews_and_misses_the_rest(tmp_path):
    shared = tmp_path / "engine-previews"
    cache = PreviewCache(shared / "1600", 1 << 30)
    present, empty, absent = (blake3.blake3(bytes([n])).hexdigest() for n in range(3))
    cache.put(present, b"\xff\xd8 a preview")
    cache.path_for(empty).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for(empty).write_bytes(b"")  # a writer died before its data reached the disk
    for path in [shared, *shared.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    command = [sys.executable, "-c", READ_ONLY_CACHE_LOOKS, str(shared), present, empty, absent]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        looked = subprocess.run(
            command, capture_output=True, text=True, cwd=REPO, timeout=120
        )  # fmt: skip
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.split() == ["True"] * 4
    assert cache.path_for(empty).exists()  # left where it is: the process may only read
