"""How a photo looks (core.media.looks): hash, focus score and where, clipping, histogram, and
clipping on RAW data; on real photos (the demo's and the camera samples), made into bursts with
known blur where a test needs to know the right answer."""

from __future__ import annotations

import io
import random
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from core.media.looks import (
    ANALYSIS_LONG_EDGE,
    HIGHLIGHT_AT,
    SHADOW_AT,
    RawUnreadable,
    clipping_masks,
    histogram,
    measure,
    open_preview,
    raw_exposure,
    sharpness_fraction,
)
from tests.helpers import REPO, REPO_CAMERA, SHARED_CAMERA, camera_sample

DEMO = REPO / "core" / "demo" / "photos"
CITY = DEMO / "2024-11-16_city-night"
BURST = [CITY / f"DSC_010{n}.JPG" for n in range(1, 6)]
PREVIEW_LONG_EDGE = 1600


def real_photos(min_long_edge: int = 400) -> list[Path]:
    """The demo's photos and the camera samples' JPEGs that decode and are big enough."""
    found = sorted(DEMO.glob("*/*.JPG"))
    names: set[str] = set()
    for folder in (REPO_CAMERA, SHARED_CAMERA):
        for path in sorted(folder.glob("*.jpg")):
            if path.name in names or path.name.startswith("bad_"):
                continue
            names.add(path.name)
            found.append(path)
    usable = []
    for path in found:
        with Image.open(path) as image:
            if max(image.size) >= min_long_edge:
                usable.append(path)
    return usable


def upright(path: Path, long_edge: int = PREVIEW_LONG_EDGE) -> Image.Image:
    """The photo as a preview shows it: upright, at most ``long_edge``."""
    with Image.open(path) as image:
        picture = ImageOps.exif_transpose(image).convert("RGB")
    picture.thumbnail((long_edge, long_edge))
    return picture


def as_preview_file(picture: Image.Image) -> io.BytesIO:
    """The picture through a preview's JPEG encoding (quality 85, as core.media.preview)."""
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=85)
    data.seek(0)
    return data


# --- the perceptual hash ---------------------------------------------------------------------


def test_hash_is_sixteen_hex_digits_and_reads_back() -> None:
    looks = measure(open_preview(BURST[0]))
    assert len(looks.phash) == 16
    assert imagehash.hex_to_hash(looks.phash).hash.shape == (8, 8)


def test_hash_puts_a_real_burst_together_and_other_shots_apart() -> None:
    burst = [imagehash.hex_to_hash(measure(open_preview(path)).phash) for path in BURST]
    others = [
        imagehash.hex_to_hash(measure(open_preview(path)).phash)
        for path in sorted(DEMO.glob("*/*.JPG"))
        if path not in BURST
    ]
    within = [a - b for a in burst for b in burst]
    between = [a - b for a in burst for b in others]
    print(f"hamming distances: within the burst <= {max(within)}, to others >= {min(between)}")
    assert max(within) <= 6
    assert min(between) >= 14


# --- focus -----------------------------------------------------------------------------------

BLUR_RADII = (0.5, 1.0, 1.5, 2.5, 4.0)  # Gaussian radii, in pixels of a 1600-pixel preview
MAX_SHIFT = 8  # pixels a frame of a made burst is moved by, at most (a hand-held burst)
BURSTS_PER_PHOTO = 3


def made_burst(picture: Image.Image, rng: random.Random) -> list[io.BytesIO]:
    """A burst from one real photo: the sharp frame first, then one per blur radius, each
    shifted by a few pixels and saved as a preview is."""
    frames = []
    for radius in (0.0, *BLUR_RADII):
        dx, dy = rng.randint(0, MAX_SHIFT), rng.randint(0, MAX_SHIFT)
        frame = picture.crop(
            (dx, dy, picture.width - MAX_SHIFT + dx, picture.height - MAX_SHIFT + dy)
        )
        if radius:
            frame = frame.filter(ImageFilter.GaussianBlur(radius))
        frames.append(as_preview_file(frame))
    return frames


def test_the_sharpest_frame_of_a_blurred_burst_ranks_first() -> None:
    """On bursts made from real photos with known blur and small shifts, the unblurred frame
    ranks first at least 95% of the time, and the blurred ones rank in order of their blur."""
    rng = random.Random(18)
    photos = real_photos()
    assert len(photos) >= 20  # the demo alone has 22
    firsts = in_order = total = 0
    for path in photos:
        picture = upright(path)
        for _ in range(BURSTS_PER_PHOTO):
            scores = [measure(open_preview(frame)).sharpness for frame in made_burst(picture, rng)]
            total += 1
            firsts += scores.index(max(scores)) == 0
            in_order += scores == sorted(scores, reverse=True)
            if scores.index(max(scores)) != 0:
                print(f"missed: {path.name}: {[round(score) for score in scores]}")
    print(
        f"sharpest ranked first in {firsts}/{total} bursts ({firsts / total:.1%}); "
        f"whole burst in blur order in {in_order}/{total} ({in_order / total:.1%}); "
        f"radii {BLUR_RADII} px, shifts <= {MAX_SHIFT} px"
    )
    assert firsts / total >= 0.95
    assert in_order / total >= 0.9


def with_sharp_patch(
    picture: Image.Image, box: tuple[int, int, int, int], radius: float
) -> Image.Image:
    """The picture blurred by ``radius`` everywhere but ``box``, a sharp subject."""
    blurred = picture.filter(ImageFilter.GaussianBlur(radius))
    blurred.paste(picture.crop(box), box[:2])
    return blurred


@pytest.mark.parametrize("name", ["IMG_0003.JPG", "DSCF1207.JPG", "DSC_0106.JPG"])
def test_a_sharp_subject_on_a_soft_background_scores_as_sharp(name: str) -> None:
    """A small sharp subject (a tenth of the frame) on a very soft background beats the same
    frame a little soft all over: the score is the best tiles', not the frame's average; and
    the sharpest region is found on the subject."""
    picture = upright(next(DEMO.glob(f"*/{name}")))
    width, height = picture.size
    for fx, fy in ((0.2, 0.25), (0.65, 0.6)):  # the subject off centre, two places
        box = (int(width * fx), int(height * fy), int(width * (fx + 0.3)), int(height * (fy + 0.3)))
        subject = measure(open_preview(as_preview_file(with_sharp_patch(picture, box, 4.0))))
        soft_all_over = measure(
            open_preview(as_preview_file(picture.filter(ImageFilter.GaussianBlur(1.5))))
        )
        print(
            f"{name} subject at {fx},{fy}: {subject.sharpness:.0f} vs {soft_all_over.sharpness:.0f}"
        )
        assert subject.sharpness > soft_all_over.sharpness
        assert box[0] / width <= subject.sharp_x <= box[2] / width
        assert box[1] / height <= subject.sharp_y <= box[3] / height


def test_focus_score_does_not_depend_on_the_preview_size() -> None:
    """The score is taken at ANALYSIS_LONG_EDGE: a 1600- and a 2048-pixel preview of one photo
    score within a few percent of each other (both are scaled to the same picture)."""
    path = CITY / "DSC_0106.JPG"
    with Image.open(path) as image:
        source = image.convert("RGB")
    scores = []
    for long_edge in (1600, 2048):
        picture = source.resize(
            (long_edge, round(source.height * long_edge / source.width)), Image.Resampling.LANCZOS
        )
        scores.append(measure(open_preview(as_preview_file(picture))).sharpness)
    print(f"1600 px: {scores[0]:.0f}, 2048 px: {scores[1]:.0f}")
    assert scores[1] == pytest.approx(scores[0], rel=0.25)


def test_a_preview_is_decoded_at_the_analysis_size() -> None:
    preview = open_preview(
        as_preview_file(upright(CITY / "DSC_0106.JPG", 1600).resize((1600, 900)))
    )
    assert max(preview.size) == ANALYSIS_LONG_EDGE
    assert preview.mode == "RGB"


def test_sharpness_bar_grows_with_the_score() -> None:
    fractions = [sharpness_fraction(score) for score in (0, 5, 50, 500, 5000, 50000)]
    assert fractions[0] == 0.0
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_pictures_of_any_mode_are_measured(mode: str) -> None:
    picture = upright(CITY / "DSC_0106.JPG").convert(mode)
    looks = measure(picture)
    assert looks.sharpness > 0
    assert 0 <= looks.sharp_x <= 1 and 0 <= looks.sharp_y <= 1


def test_a_tiny_or_flat_picture_is_measured_without_error() -> None:
    for picture in (Image.new("RGB", (2, 2), "white"), Image.new("RGB", (300, 200), (40, 40, 40))):
        looks = measure(picture)
        assert looks.sharpness == 0.0
        assert 0 <= looks.sharp_x <= 1 and 0 <= looks.sharp_y <= 1
        assert looks.clipped_highlights == (1.0 if picture.getpixel((0, 0)) == (255,) * 3 else 0)


# --- clipping and histogram ------------------------------------------------------------------


def test_clipping_counts_the_pixels_made_white_and_black() -> None:
    """A real photo with a white and a black rectangle of known size painted on: at least
    those pixels are clipped, and the masks cover the rectangles."""
    picture = upright(CITY / "DSC_0106.JPG", ANALYSIS_LONG_EDGE)
    before = measure(picture)
    painted = picture.copy()
    draw = ImageDraw.Draw(painted)
    white, black = (10, 10, 110, 60), (200, 100, 260, 200)
    draw.rectangle(white, fill=(255, 255, 255))
    draw.rectangle(black, fill=(0, 0, 0))
    after = measure(painted)
    total = painted.width * painted.height
    white_pixels, black_pixels = 101 * 51, 61 * 101
    assert after.clipped_highlights >= white_pixels / total
    assert after.clipped_shadows >= black_pixels / total
    assert after.clipped_highlights == pytest.approx(
        before.clipped_highlights + white_pixels / total, abs=white_pixels / total * 0.05
    )
    masks = clipping_masks(painted)
    assert masks.highlights.shape == (painted.height, painted.width)
    assert masks.highlights[10:61, 10:111].all()
    assert masks.shadows[100:201, 200:261].all()
    assert np.count_nonzero(masks.highlights) / total == pytest.approx(after.clipped_highlights)


def test_a_channel_alone_at_its_limit_is_clipped() -> None:
    """Any channel counts: a saturated red flower is clipped in red though its luma is not."""
    picture = Image.new("RGB", (100, 100), (128, 128, 128))
    ImageDraw.Draw(picture).rectangle((0, 0, 49, 99), fill=(HIGHLIGHT_AT, 90, 60))
    ImageDraw.Draw(picture).rectangle((50, 0, 99, 9), fill=(60, 90, SHADOW_AT))
    looks = measure(picture)
    assert looks.clipped_highlights == pytest.approx(0.5)
    assert looks.clipped_shadows == pytest.approx(0.05)


def test_overexposing_a_real_photo_raises_its_clipped_highlights() -> None:
    picture = upright(DEMO / "2024-10-05_mountains" / "IMG_0003.JPG")
    figures = [
        measure(ImageEnhance.Brightness(picture).enhance(factor)).clipped_highlights
        for factor in (1.0, 1.5, 2.5)
    ]
    print(f"clipped highlights at x1, x1.5, x2.5: {figures}")
    assert figures[0] < figures[1] < figures[2]
    assert figures[2] > 0.3


@pytest.mark.parametrize("bins", [256, 64, 16])
def test_histogram_counts_every_pixel_in_each_channel(bins: int) -> None:
    picture = upright(CITY / "DSC_0106.JPG", ANALYSIS_LONG_EDGE)
    found = histogram(picture, bins)
    pixels = picture.width * picture.height
    for counts in (found.luma, found.red, found.green, found.blue):
        assert len(counts) == bins
        assert sum(counts) == pixels
    red = np.asarray(picture)[..., 0]
    assert found.red[-1] == np.count_nonzero(red >= 256 - 256 // bins)


def test_histogram_refuses_bins_that_do_not_divide_256() -> None:
    with pytest.raises(ValueError, match="divide 256"):
        histogram(Image.new("RGB", (4, 4)), 100)


# --- clipping on RAW data --------------------------------------------------------------------


def test_raw_clipping_is_measured_on_the_sensor_data() -> None:
    """A Canon D30 frame of a lit Christmas tree: its bulbs are clipped on the sensor. The D30
    saturates near 3,800 though LibRaw says 4,095: clipping is found at the data's pile-up."""
    path = camera_sample("canon_eos_d30.CRW")
    exposure = raw_exposure(path)
    print(
        f"{path.name}: highlights {exposure.clipped_highlights:.3%} "
        f"{exposure.highlights_by_channel}, shadows {exposure.clipped_shadows:.4%}, "
        f"white {exposure.white_level} (nominal {exposure.nominal_white_level}), "
        f"black {exposure.black_levels}"
    )
    assert exposure.nominal_white_level == 4095  # the D30's 12 bits
    assert 3700 < exposure.white_level < 3868  # under its brightest photosite
    assert set(exposure.highlights_by_channel) == {"R", "G", "B"}
    assert 0.005 < exposure.clipped_highlights < 0.05  # the bulbs and their reflections
    assert exposure.clipped_shadows < 0.001  # a normally exposed frame: nothing at black
    masks = exposure.masks
    # Half the sensor's size, landscape as the camera was held.
    assert masks.highlights.shape == masks.shadows.shape == (724, 1088)
    assert masks.highlights[0:60, 500:580].mean() > 0.3  # the bulb at the top
    assert masks.highlights[400:600, 200:800].mean() < 0.01  # the tinsel is not blown
    blocks = np.count_nonzero(masks.highlights) / masks.highlights.size
    assert exposure.clipped_highlights <= blocks <= 4 * exposure.clipped_highlights


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("kodak_dc240_1999.jpg", "not a RAW file (its content is jpeg)"),
        ("bad_zero_bytes.CR2", "an empty file"),
        ("bad_html_named.JPG", "an HTML page"),
        ("nikon_d7100_truncated.NEF", "cannot read its sensor data"),
        ("bad_sony_a7iii_header_only.ARW", "cannot read its sensor data"),
    ],
)
def test_a_file_libraw_cannot_read_gets_one_sentence(name: str, reason: str) -> None:
    with pytest.raises(RawUnreadable) as raised:
        raw_exposure(camera_sample(name))
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    assert reason in message
    assert message.endswith(".") and "\n" not in message


def test_a_missing_raw_gets_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(RawUnreadable, match="cannot be read"):
        raw_exposure(tmp_path / "gone.NEF")
