"""The images made from a photo: the thumb (400 px) and web (2048 px) JPEGs, upright and in sRGB,
written atomically, and the blurhash of a thumb. A photo that cannot be made into one raises
``StageFailed`` with a reason for a person.

Finding and decoding the photo is ``core.media.preview``'s work, reused here: the largest JPEG
embedded in a RAW (or a JPEG itself) decoded in Pillow's draft mode, PNG, TIFF and HEIF opened by
Pillow, the EXIF orientation and how it turns a picture upright, and what a damaged file is
called. What differs from a triage preview: the size is exact (no slack either way), a photo cut
short fails instead of showing its grey band, colours are converted to sRGB, and the file lands
on disk whole or not at all.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, ImageCms, JpegImagePlugin, UnidentifiedImageError

from core.files import open_to_read, write_atomically
from core.media.preview import (
    NOT_A_PHOTO,
    OPENED_BY_PILLOW,
    ORIENTATION_TAG,
    UPRIGHT,
    PreviewUnavailable,
    _displayable,
    _fitted,
    _open_with_pillow,
    _reading,
    _too_many_pixels,
    _valid_orientation,
    embedded_jpeg,
    orientation_of,
)

THUMB_LONG_EDGE = 400
THUMB_QUALITY = 85
WEB_LONG_EDGE = 2048
WEB_QUALITY = 88
# After a draft-mode decode the factor left is under 2, where Pillow rates BOX (each pixel the
# average of the source pixels it covers) as good as BILINEAR for downscaling. From a 24 MP JPEG's
# 3000 x 2000 draft to 2048 px it costs 60-75 ms, against 85-105 (BILINEAR), 135-150 (BICUBIC) and
# 170-230 (LANCZOS), in a budget of 250 ms per photo. A thumb is small enough for LANCZOS.
WEB_RESAMPLING = Image.Resampling.BOX
THUMB_RESAMPLING = Image.Resampling.LANCZOS
# Sources decoded at full size (PNG, TIFF, HEIF) are first reduced by whole factors (fast), then
# resampled over the last factor of 2 or less.
REDUCING_GAP = 2.0

# What the EXIF of a web JPEG keeps from the photo's first IFD: what the photo is, who made it and
# with what, and when. The rest of a RAW's first IFD describes the raw data (strips, sub-IFDs,
# DNG's private data: 300 KB in a DNG) and means nothing beside a JPEG.
KEPT_IFD0_TAGS = (
    ExifTags.Base.ImageDescription,
    ExifTags.Base.Make,
    ExifTags.Base.Model,
    ExifTags.Base.XResolution,
    ExifTags.Base.YResolution,
    ExifTags.Base.ResolutionUnit,
    ExifTags.Base.Software,
    ExifTags.Base.DateTime,
    ExifTags.Base.Artist,
    ExifTags.Base.HostComputer,
    ExifTags.Base.Rating,
    ExifTags.Base.RatingPercent,
    ExifTags.Base.Copyright,
)
# Maker notes point into the original file with offsets a copy breaks, and are most of the EXIF's
# size (122 KB in a D7100's); the interoperability IFD is rewritten by no one who reads it.
DROPPED_EXIF_IFD_TAGS = frozenset(
    (ExifTags.Base.MakerNote, ExifTags.Base.ExifInteroperabilityOffset, 0xEA1C)  # 0xEA1C: padding
)
# A JPEG's APP1 segment holds at most 65,535 bytes, its length and "Exif\0\0" included.
MAX_EXIF_BYTES = 65533

# sRGB profiles go by many names ("sRGB IEC61966-2.1", "Nikon sRGB 4.0.0.3001", "sRGB built-in"):
# one is taken for sRGB when its name says so and its primaries are sRGB's.
SRGB_COLORANT_TOLERANCE = 0.002

BLURHASH_SAMPLE_EDGE = 32  # a blurhash holds at most 9 cosines each way: 32 pixels sample them
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

# The orientation whose transpose undoes another's: the two quarter turns undo each other, the
# flips and half turn undo themselves.
UNDONE_BY = {6: 8, 8: 6}


@dataclass(frozen=True)
class Made:
    width: int
    height: int
    blurhash: str | None = None


class StageFailed(Exception):
    """The photo could not be made into this artifact; the message says why, for a person.
    ``lasting``: the photo's file itself is the cause (no preview inside, damaged data, not a
    photo), so trying again cannot help; otherwise the job is tried again later."""

    def __init__(self, reason: str, lasting: bool = False) -> None:
        super().__init__(reason)
        self.lasting = lasting


def make_thumb(
    src: Path,
    file_format: str,
    orientation: int | None,
    out: Path,
    long_edge: int = THUMB_LONG_EDGE,
    quality: int = THUMB_QUALITY,
) -> Made:
    """A JPEG of the photo ``long_edge`` pixels on its long side (a smaller photo keeps its size),
    upright, in sRGB, with no metadata and no colour profile (unlabelled JPEGs are sRGB).

    ``orientation`` None: read it from the file. Raises StageFailed with a reason.
    """
    picture = _prepared(src, file_format, orientation, long_edge, THUMB_RESAMPLING, False)
    return _written(picture.image, Path(out), dict(quality=quality))


def make_web(
    src: Path,
    file_format: str,
    orientation: int | None,
    out: Path,
    long_edge: int = WEB_LONG_EDGE,
    quality: int = WEB_QUALITY,
    keep_metadata: bool = False,
) -> Made:
    """A baseline JPEG of the photo ``long_edge`` pixels on its long side (never upscaled),
    upright and in sRGB: a photo with another colour profile is converted and carries the sRGB
    profile, one with an sRGB profile keeps it.

    ``keep_metadata``: the photo's EXIF (for a TIFF-based RAW, the RAW's own) with Orientation 1,
    as the pixels are upright; left out are the maker notes, the EXIF thumbnail and tags that
    describe the raw data. EXIF that cannot be read, or that a JPEG cannot hold, is left out
    rather than failing the photo. Without it, the file holds no EXIF, XMP or comment at all.
    Raises StageFailed with a reason.
    """
    picture = _prepared(src, file_format, orientation, long_edge, WEB_RESAMPLING, keep_metadata)
    # Baseline, not progressive: libjpeg writes a 2048 px progressive JPEG in about 120 ms and
    # a baseline one in about 20, the difference between meeting 8 photos/s and not.
    options: dict = dict(quality=quality, progressive=False, optimize=False)
    if picture.icc_profile:
        options["icc_profile"] = picture.icc_profile
    if picture.exif:
        options["exif"] = picture.exif
    return _written(picture.image, Path(out), options)


def blurhash_of(path: Path, x_components: int = 4, y_components: int = 3) -> str:
    """The blurhash of an image file (a thumb). Raises StageFailed when it cannot be read."""
    _check_components(x_components, y_components)
    path = Path(path)
    try:
        with _reading(), open_to_read(path) as handle:
            try:
                opened = Image.open(handle)
            except UnidentifiedImageError as error:
                raise PreviewUnavailable(f"{path.name} is not an image Pillow can read") from error
            with opened as image:
                image.draft("RGB", (BLURHASH_SAMPLE_EDGE, BLURHASH_SAMPLE_EDGE))
                image.load()
                sample = _blurhash_sample(image)
    except PreviewUnavailable as failure:
        raise StageFailed(failure.reason, failure.lasting) from failure
    return blurhash_encode(sample, x_components, y_components)


def blurhash_encode(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash of an image: the average colour and ``x_components`` x ``y_components`` - 1
    cosine components (1 to 9 each way) of its linear-light colours, quantised and written in
    base 83; 4 + 2 x y characters. Computed on a copy at most 32 pixels on its long side."""
    _check_components(x_components, y_components)
    sample = _blurhash_sample(image)
    width, height = sample.size
    pixels = sample.tobytes()
    cos_x = [
        [math.cos(math.pi * i * column / width) for column in range(width)]
        for i in range(x_components)
    ]
    cos_y = [
        [math.cos(math.pi * j * row / height) for row in range(height)] for j in range(y_components)
    ]
    # The 2-D cosine sums are separable: along each row first, then down the columns.
    sums = [[0.0, 0.0, 0.0] for _ in range(x_components * y_components)]
    stride = width * 3
    for row in range(height):
        line = pixels[row * stride : (row + 1) * stride]
        channels = [[SRGB_TO_LINEAR[value] for value in line[c::3]] for c in range(3)]
        for i in range(x_components):
            weights = cos_x[i]
            along = [
                sum(w * v for w, v in zip(weights, channel, strict=True)) for channel in channels
            ]
            for j in range(y_components):
                down = cos_y[j][row]
                total = sums[j * x_components + i]
                for c in range(3):
                    total[c] += down * along[c]
    factors = [
        [value * (1 if index == 0 else 2) / (width * height) for value in total]
        for index, total in enumerate(sums)
    ]
    dc, ac = factors[0], factors[1:]
    if ac:
        actual_maximum = max(abs(value) for factor in ac for value in factor)
        quantised_maximum = max(0, min(82, math.floor(actual_maximum * 166 - 0.5)))
        maximum = (quantised_maximum + 1) / 166
    else:
        quantised_maximum, maximum = 0, 1.0
    encoded = [
        _base83((x_components - 1) + (y_components - 1) * 9, 1),
        _base83(quantised_maximum, 1),
        _base83(
            (_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]),
            4,
        ),
    ]
    for factor in ac:
        r, g, b = (_quantised_ac(value / maximum) for value in factor)
        encoded.append(_base83(r * 19 * 19 + g * 19 + b, 2))
    return "".join(encoded)


# --- decoding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """A photo ready to be written: upright, sized, sRGB, with what its JPEG should carry."""

    image: Image.Image
    icc_profile: bytes | None
    exif: bytes | None


@dataclass(frozen=True)
class _Decoded:
    """A photo at its final size, a new image independent of the file."""

    image: Image.Image
    icc_profile: bytes | None
    exif: bytes | None  # the EXIF to keep, when asked for
    turned: int | None = None  # the orientation the decoder applied itself (Pillow, to TIFFs)


def _prepared(
    src: Path,
    file_format: str,
    orientation: int | None,
    long_edge: int,
    resampling: Image.Resampling,
    keep_exif: bool,
) -> _Prepared:
    if long_edge < 1:
        raise ValueError(f"an image needs a long edge of at least 1 pixel, not {long_edge}")
    if file_format in NOT_A_PHOTO:
        raise StageFailed(NOT_A_PHOTO[file_format], lasting=True)
    src = Path(src)
    try:
        decoded = _decoded(src, file_format, long_edge, resampling, keep_exif)
    except PreviewUnavailable as failure:
        raise StageFailed(failure.reason, failure.lasting) from failure
    if orientation is None:
        orientation = orientation_of(src, file_format)
    image = decoded.image
    if image.mode not in ("RGB", "L", "CMYK"):
        image = _displayable(image)
    image, icc_profile = _in_srgb(image, decoded.icc_profile)
    image = _upright(_displayable(image), orientation, decoded.turned)
    image.info = {}  # nothing of the source rides along unasked (Pillow keeps JPEG comments)
    return _Prepared(image, icc_profile, decoded.exif)


def _upright(image: Image.Image, orientation: int | None, turned: int | None) -> Image.Image:
    """The image turned by ``orientation``, from the stored pixels; ``turned``: the orientation
    the decoder already applied (then only a different orientation asked for turns it)."""
    if turned is not None:
        if orientation in (None, turned):
            return image
        image = image.transpose(UPRIGHT[UNDONE_BY.get(turned, turned)])
    if orientation in UPRIGHT:
        image = image.transpose(UPRIGHT[orientation])
    return image


def _decoded(
    src: Path, file_format: str, long_edge: int, resampling: Image.Resampling, keep_exif: bool
) -> _Decoded:
    """The photo at ``long_edge``, as the preview module finds it. Raises PreviewUnavailable."""
    if file_format in OPENED_BY_PILLOW:
        try:
            return _decoded_by_pillow(src, file_format, long_edge, resampling, keep_exif)
        except PreviewUnavailable as failure:
            if file_format != "tiff":
                raise
            # A TIFF Pillow cannot decode is often a RAW under another name: try its JPEGs.
            try:
                return _decoded_embedded(src, file_format, long_edge, resampling, keep_exif)
            except PreviewUnavailable:
                raise failure from None
    return _decoded_embedded(src, file_format, long_edge, resampling, keep_exif)


def _decoded_embedded(
    src: Path, file_format: str, long_edge: int, resampling: Image.Resampling, keep_exif: bool
) -> _Decoded:
    """A JPEG file, or the largest JPEG embedded in a RAW, decoded in draft mode."""
    data = embedded_jpeg(src, file_format)
    with _reading():
        # JpegImageFile rather than Image.open, as for previews: the first image of an MPO only,
        # and Pillow's hard pixel limit instead of its warning for 100 MP medium-format JPEGs.
        image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        width, height = image.size
        if _too_many_pixels(width, height):
            raise PreviewUnavailable(
                f"the image claims {width:,} x {height:,} pixels, too many to decode safely"
            )
        size = _fitted(image.size, long_edge)  # from the stored size: draft sizes round up
        image.draft("RGB", size)
        image.load()
    exif = None
    if keep_exif:
        if file_format == "tiff-raw":
            exif = _raw_exif(src)
        if exif is None:
            exif = _kept_exif(image)
    return _Decoded(_resized(image, size, resampling), image.info.get("icc_profile"), exif)


def _decoded_by_pillow(
    src: Path, file_format: str, long_edge: int, resampling: Image.Resampling, keep_exif: bool
) -> _Decoded:
    with _reading():
        try:
            opened = _open_with_pillow(src, file_format)
        except UnidentifiedImageError as error:
            label = src.suffix.lstrip(".").upper() or "file"
            raise PreviewUnavailable(
                f"not an image Pillow can read (a damaged {label}?)"
            ) from error
        with opened as image:
            stored_orientation = _valid_orientation(image.getexif().get(ORIENTATION_TAG))
            size = _fitted(image.size, long_edge)
            image.draft("RGB", size)
            image.load()
            # Pillow turns a TIFF upright as it loads it, and drops its Orientation tag.
            dropped = ORIENTATION_TAG not in image.getexif()
            turned = stored_orientation if stored_orientation in UPRIGHT and dropped else None
            # Inside the file's context: a TIFF's EXIF sub-IFDs are read from the open file.
            exif = _kept_exif(image) if keep_exif else None
            resized = _resized(image, size, resampling)
            return _Decoded(resized, image.info.get("icc_profile"), exif, turned)


def _resized(
    image: Image.Image, size: tuple[int, int], resampling: Image.Resampling
) -> Image.Image:
    if size == image.size:
        return image.copy()
    return image.resize(size, resampling, reducing_gap=REDUCING_GAP)


# --- metadata -----------------------------------------------------------------------------------


def _raw_exif(src: Path) -> bytes | None:
    """The EXIF of a TIFF-based RAW, from its own first IFD: the JPEGs inside carry little."""
    try:
        with open_to_read(src) as handle, Image.open(handle, formats=["TIFF"]) as raw:
            return _kept_exif(raw)
    except Exception:  # Pillow fails in many ways on RAW headers: the embedded JPEG's will do
        return None


def _kept_exif(image: Image.Image) -> bytes | None:
    """The EXIF to write beside upright pixels, None when the image has none to keep (or it is
    damaged, or too large for a JPEG even without its maker notes)."""
    try:
        source = image.getexif()
        if not source:
            return None
        kept = Image.Exif()
        for tag in KEPT_IFD0_TAGS:
            if tag in source:
                kept[tag] = source[tag]
        kept[ExifTags.Base.Orientation] = 1
        exif_ifd = {
            tag: value
            for tag, value in source.get_ifd(ExifTags.IFD.Exif).items()
            if tag not in DROPPED_EXIF_IFD_TAGS
        }
        if exif_ifd:
            kept[ExifTags.IFD.Exif] = exif_ifd
        gps = source.get_ifd(ExifTags.IFD.GPSInfo)
        if gps:
            kept[ExifTags.IFD.GPSInfo] = dict(gps)
        data = kept.tobytes()
    except Exception:  # damaged EXIF fails Pillow in many ways: the pixels are still the photo
        return None
    return data if len(data) <= MAX_EXIF_BYTES else None


# --- colour -------------------------------------------------------------------------------------


def _in_srgb(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
    """The image in sRGB, and the profile its JPEG should carry: its own when that is sRGB, the
    sRGB profile when it was converted, none when it had none (unlabelled pixels are sRGB)."""
    if not icc_profile:
        return image, None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if _is_srgb(profile):
            return image, icc_profile if image.mode == "RGB" else None
        converted = ImageCms.profileToProfile(
            image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        # A profile that cannot be read, or that does not fit the pixels (an RGB profile on a
        # grey JPEG): ignored, as browsers ignore it, and the pixels are taken for sRGB.
        return image, None
    if converted is None:  # only in place conversions return nothing
        return image, None
    return converted, _srgb_profile()


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    described = ImageCms.getProfileDescription(profile)
    if "srgb" not in described.lower():
        return False
    reference = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).profile
    for name in ("red_colorant", "green_colorant", "blue_colorant"):
        colorant, expected = getattr(profile.profile, name), getattr(reference, name)
        if colorant is None or any(
            abs(value - wanted) > SRGB_COLORANT_TOLERANCE
            for value, wanted in zip(colorant[0], expected[0], strict=True)
        ):
            return False
    return True


@functools.cache
def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- writing ------------------------------------------------------------------------------------


def _written(image: Image.Image, out: Path, options: dict) -> Made:
    """Save the JPEG over ``out`` atomically: a reader sees the old file or the new one, never
    half of one, and a failure leaves no trace."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out, lambda handle: image.save(handle, "JPEG", **options))
    except OSError as error:
        raise StageFailed(
            f"{out.name} cannot be written in {out.parent}: {error.strerror or error}"
        ) from error
    return Made(*image.size)


# --- blurhash -----------------------------------------------------------------------------------


def _srgb_component_to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


SRGB_TO_LINEAR = [_srgb_component_to_linear(value) for value in range(256)]


def _linear_to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _quantised_ac(value: float) -> int:
    """An AC value (already divided by the maximum) on 0..18, through a square root so that
    small values keep more of their precision."""
    root = math.copysign(math.sqrt(abs(value)), value)
    return max(0, min(18, math.floor(root * 9 + 9.5)))


def _base83(value: int, length: int) -> str:
    return "".join(BASE83[(value // 83 ** (length - 1 - place)) % 83] for place in range(length))


def _check_components(x_components: int, y_components: int) -> None:
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError(
            f"a blurhash has 1 to 9 components each way, not {x_components} x {y_components}"
        )


def _blurhash_sample(image: Image.Image) -> Image.Image:
    """An RGB copy of the image at most BLURHASH_SAMPLE_EDGE pixels on its long side."""
    if image.mode != "RGB":
        image = _displayable(image).convert("RGB")
    size = _fitted(image.size, BLURHASH_SAMPLE_EDGE)
    return image.resize(size, Image.Resampling.BOX) if size != image.size else image.copy()
