"""Full-size pixels for the loupe, on real camera files: which source each zoom gets (the JPEG
itself, the embedded JPEG, the RAW through LibRaw), what decoding it gives, and the cache that
keeps them."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from core.media.pixels import PixelCache, Pixels, PixelSource, choose_source, decode_pixels
from core.media.preview import PreviewUnavailable, embedded_jpeg
from core.media.sniff import sniff
from tests.helpers import camera_samples


def _source(path, zoom):
    return choose_source(path, sniff(path).format, None, zoom).source


def _alike(one: Image.Image, other: Image.Image) -> float:
    """How alike two pictures of one scene are: the correlation of their grey pixels at a
    common small size (different developing gives different colours, not another picture)."""
    size = (64, 48) if one.width >= one.height else (48, 64)
    a = np.asarray(one.convert("L").resize(size, Image.Resampling.BOX), dtype=float).ravel()
    b = np.asarray(other.convert("L").resize(size, Image.Resampling.BOX), dtype=float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


# file -> (zoom -> source kind), the full size, and the size the embedded JPEG has
SOURCES = {
    # A JPEG original is its own source at every zoom, upright (stored 3888 x 2592, turned).
    "canon_eos1000d_orient6.jpg": ({0.5: "jpeg", 1.0: "jpeg", 2.0: "jpeg"}, (2592, 3888)),
    "samsung_galaxy_s_orient6_gps.jpg": ({0.5: "jpeg", 1.0: "jpeg", 2.0: "jpeg"}, (480, 640)),
    # A D7100 embeds a 6000 x 4000 JPEG for its 6036 x 4020 sensor: it covers even 200 %.
    "nikon_d7100_truncated.NEF": (
        {0.5: "embedded", 1.0: "embedded", 2.0: "embedded"},
        (6036, 4020),
    ),
    # The EOS D30's CRW embeds 1440 x 960 for 2176 x 1448 pixels: enough for 50 %, not 100 %.
    "canon_eos_d30.CRW": ({0.5: "embedded", 1.0: "raw", 2.0: "raw"}, (2176, 1448)),
    # This Z 9 DNG embeds 640 x 424 for 5392 x 3592: the RAW is wanted at every zoom.
    "nikon_z9_cropped.dng": ({0.5: "raw", 1.0: "raw", 2.0: "raw"}, (5392, 3592)),
}


@pytest.mark.parametrize(("path", "expected"), camera_samples(SOURCES))
def test_each_zoom_gets_the_smallest_source_that_covers_it(path, expected):
    kinds, full_size = expected
    for zoom, kind in kinds.items():
        source = _source(path, zoom)
        assert (zoom, source.kind) == (zoom, kind)
        assert source.full_size == full_size


UPRIGHT_JPEGS = dict.fromkeys(
    ["canon_eos1000d_orient6.jpg", "samsung_galaxy_s_orient6_gps.jpg",
     "apple_iphone5_orient3_gps.jpg", "orientation5_transpose.jpg"]
)  # fmt: skip


@pytest.mark.parametrize(("path", "expected"), camera_samples(UPRIGHT_JPEGS))
def test_a_jpeg_is_decoded_itself_and_turned_upright(path, expected):
    pixels = decode_pixels(path, "jpeg", None, 1.0)
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    assert pixels.picture.size == upright.size == pixels.source.full_size
    assert pixels.picture.tobytes() == upright.tobytes()
    half = decode_pixels(path, "jpeg", None, 0.5)
    assert half.picture.size == (upright.width // 2, upright.height // 2)
    assert half.scale == pytest.approx(0.5, abs=0.01)
    assert _alike(half.picture, upright) > 0.98


@pytest.mark.parametrize(("path", "expected"), camera_samples({"canon_eos_d30.CRW": None}))
def test_a_raw_whose_embedded_jpeg_is_small_is_developed_by_libraw(path, expected):
    pixels = decode_pixels(path, "crw", None, 1.0)
    assert pixels.source.kind == "raw" and pixels.source.why is None
    assert pixels.picture.size == (2176, 1448) and pixels.scale == 1.0
    with Image.open(io.BytesIO(embedded_jpeg(path, "crw"))) as embedded:
        embedded = embedded.convert("RGB")
    # the same picture as the camera's own JPEG, at one and a half times its pixels
    assert _alike(pixels.picture, embedded) > 0.9
    half = decode_pixels(path, "crw", None, 0.5)  # the embedded JPEG covers 50 %
    assert half.source.kind == "embedded" and half.picture.size == (1440, 960)


@pytest.mark.parametrize(("path", "expected"), camera_samples({"nikon_d7100_truncated.NEF": None}))
def test_a_raw_with_a_full_size_embedded_jpeg_needs_no_developing(path, expected):
    pixels = decode_pixels(path, "tiff-raw", None, 1.0)
    assert pixels.source.kind == "embedded" and pixels.source.why is None
    assert pixels.picture.size == (6000, 4000)
    assert pixels.scale == pytest.approx(6000 / 6036)
    half = decode_pixels(path, "tiff-raw", None, 0.5)  # decoded at half scale by libjpeg
    assert half.picture.size == (3000, 2000)


@pytest.mark.parametrize(("path", "expected"), camera_samples({"nikon_z9_cropped.dng": None}))
def test_a_raw_libraw_cannot_develop_shows_its_embedded_jpeg_enlarged_and_says_why(path, expected):
    pixels = decode_pixels(path, "tiff-raw", None, 1.0)
    assert pixels.source.kind == "embedded"
    assert pixels.source.why and "LibRaw cannot develop" in pixels.source.why
    assert pixels.picture.size == (640, 424) and pixels.source.full_size == (5392, 3592)


NO_PHOTOS = {
    "bad_html_named.JPG": "an HTML page, not a photo",
    "bad_zero_bytes.CR2": "an empty file",
}


@pytest.mark.parametrize(("path", "reason"), camera_samples(NO_PHOTOS))
def test_files_that_are_no_photo_say_so(path, reason):
    with pytest.raises(PreviewUnavailable, match=reason):
        decode_pixels(path, sniff(path).format, None, 1.0)


def _pixels(width: int, height: int) -> Pixels:
    size = (width, height)
    return Pixels(Image.new("RGB", size), PixelSource("jpeg", size, size))


def test_the_cache_decodes_a_picture_once_for_two_threads():
    cache = PixelCache()
    calls = []
    started = threading.Event()

    def decode() -> Pixels:
        calls.append(1)
        started.set()
        time.sleep(0.2)  # the second thread asks while this one decodes
        return _pixels(10, 10)

    results = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_decode("a", decode)))
    first.start()
    started.wait()
    second = threading.Thread(target=lambda: results.append(cache.get_or_decode("a", decode)))
    second.start()
    first.join()
    second.join()
    assert len(calls) == 1 and results[0] is results[1]


def test_a_failed_decode_is_tried_again_by_whoever_asks_next():
    cache = PixelCache()

    def fail() -> Pixels:
        raise PreviewUnavailable("unreadable")

    with pytest.raises(PreviewUnavailable):
        cache.get_or_decode("a", fail)
    assert cache.get_or_decode("a", lambda: _pixels(4, 4)).picture.size == (4, 4)


def test_the_cache_keeps_the_newest_within_its_budget():
    cache = PixelCache(keep_bytes=3 * 100 * 100 * 3)  # three 100 x 100 pictures
    for key in "abcd":
        cache.get_or_decode(key, lambda: _pixels(100, 100))
    assert cache.get("a") is None and all(cache.get(key) for key in "bcd")
    cache.get("b")  # used: kept before c
    cache.get_or_decode("e", lambda: _pixels(100, 100))
    assert cache.get("c") is None and cache.get("b") is not None
    big = PixelCache(keep_bytes=10)
    big.get_or_decode("huge", lambda: _pixels(100, 100))
    assert big.get("huge") is not None  # the one on screen stays, even over the budget
