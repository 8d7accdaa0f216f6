"""How a photo looks, measured on its preview: a perceptual hash (for bursts), a focus score and
where the sharpest region is, how much of it is clipped, its histogram and clipping masks; and
the same clipping measured on the RAW data itself, against the sensor's white level.

Pure functions over a PIL image (an upright preview) or a RAW file's path: no catalogue, no UI.

The focus score (``sharpness``) is the variance of the Laplacian of the grey picture, scaled to
ANALYSIS_LONG_EDGE pixels on its long edge, taken tile by tile (TILE pixels square); the score
is the mean of the best BEST_TILES_FRACTION of the tiles, so a sharp subject on a soft
background scores as sharp. Its unit is grey levels (0-255) squared per pixel; it only means
something next to another photo's score measured the same way (a burst), and grows with
contrast and noise as much as with focus. As a rough guide on camera JPEGs: below SOFT_BELOW
(``core.media.focus_scale``) a photo is soft at this scale; crisp frames score in the
thousands (a Gaussian blur of 1.5 pixels of a 1600-pixel preview takes a crisp frame's
2,000-15,000 down to 100-1,000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

# numpy (and imagehash, which imports it) are imported by the functions that use them: the app
# draws its first photo without them, 70-150 ms sooner.
if TYPE_CHECKING:
    import numpy as np

from core.media.sniff import sniff

ANALYSIS_LONG_EDGE = 800  # pixels: a 1600-pixel preview decodes at exactly this in draft mode
ANALYSIS_TOLERANCE = 1.1  # a picture up to this much larger is measured as it is
TILE = 32  # pixels of the analysis picture, square
BEST_TILES_FRACTION = 0.05  # the share of tiles whose mean is the score
MIN_BEST_TILES = 4
SHARP_AT = 5000.0  # a score that fills a sharpness bar (a crisp, detailed frame)

# Clipping, in 8-bit values of the preview: a channel at or beyond these is clipped. JPEG
# compression leaves blown areas a level or two under 255, hence not 255 exactly.
HIGHLIGHT_AT = 254
SHADOW_AT = 1
# On RAW data, a photosite within this fraction of the range under the white level is clipped:
# some cameras write a white level a few counts above the values they ever record.
RAW_WHITE_MARGIN = 0.002
# A sensor that saturates short of its nominal white level shows as a pile-up of photosites
# at the top of its data: this share of them within this fraction of the range under the top.
SATURATION_BAND = 0.02
SATURATION_PILE_UP = 0.0002

HASH_SIZE = 8  # imagehash's phash of 8x8 bits: 16 hex digits


@dataclass(frozen=True)
class Looks:
    phash: str  # 16 hex digits (imagehash.phash); ImageHash's hex_to_hash reads it back
    sharpness: float  # the focus score (see the module's docstring for its scale)
    sharp_x: float  # the centre of the sharpest region, fractions 0-1 of the upright picture
    sharp_y: float
    clipped_highlights: float  # fraction of pixels with a channel at or above HIGHLIGHT_AT
    clipped_shadows: float  # fraction of pixels with a channel at or below SHADOW_AT


@dataclass(frozen=True)
class Histogram:
    """Counts of pixels per bin (``bins`` equal slices of 0-255), luma and each channel."""

    bins: int
    luma: list[int]
    red: list[int]
    green: list[int]
    blue: list[int]


@dataclass(frozen=True)
class ClippingMasks:
    """Boolean arrays the size of the picture (rows, columns): True where it is clipped."""

    highlights: np.ndarray
    shadows: np.ndarray


@dataclass(frozen=True)
class RawExposure:
    """Clipping measured on the RAW data, against the sensor's own white and black levels.

    The masks are the upright picture at half the sensor's resolution (a 2x2 block of
    photosites is clipped where any of them is); the fractions count photosites."""

    clipped_highlights: float
    clipped_shadows: float
    highlights_by_channel: dict[str, float]  # "R", "G", "B" -> fraction of that colour's sites
    shadows_by_channel: dict[str, float]
    white_level: int  # the level clipping was measured at (see _saturation)
    nominal_white_level: int  # the one LibRaw reports
    black_levels: tuple[int, ...]
    masks: ClippingMasks


class RawUnreadable(Exception):
    """A RAW whose data LibRaw cannot read; the message says why, in one sentence."""


def open_preview(path: Path | str) -> Image.Image:
    """A preview file decoded for measuring: JPEG draft mode straight to about
    ANALYSIS_LONG_EDGE (a quarter of the pixels of a full decode of a 1600-pixel preview)."""
    with Image.open(path) as image:
        # draft() keeps both edges at least as long as asked: ask for the picture's own shape.
        scale = min(1.0, ANALYSIS_LONG_EDGE / max(image.size))
        image.draft("RGB", (int(image.width * scale), int(image.height * scale)))
        return _rgb(image)


def measure(image: Image.Image) -> Looks:
    """The looks of an upright picture (any size; it is scaled to ANALYSIS_LONG_EDGE)."""
    import numpy as np

    image = _analysis_size(_rgb(image))
    grey = image.convert("L")
    sharpness, sharp_x, sharp_y = _focus(np.asarray(grey, dtype=np.float32))
    pixels = np.asarray(image)
    highlights, shadows = _clipped(pixels)
    total = highlights.size
    return Looks(
        phash=_phash(grey),
        sharpness=sharpness,
        sharp_x=sharp_x,
        sharp_y=sharp_y,
        clipped_highlights=float(np.count_nonzero(highlights)) / total,
        clipped_shadows=float(np.count_nonzero(shadows)) / total,
    )


def sharpness_fraction(sharpness: float) -> float:
    """A focus score as the filled share (0-1) of a bar: logarithmic, since scores span
    orders of magnitude, full at SHARP_AT."""
    if sharpness <= 0:
        return 0.0
    return min(1.0, math.log1p(sharpness) / math.log1p(SHARP_AT))


def histogram(image: Image.Image, bins: int = 256) -> Histogram:
    """The picture's luma and R, G, B histograms in ``bins`` bins (a divisor of 256)."""
    import numpy as np

    if bins < 1 or 256 % bins:
        raise ValueError(f"bins must divide 256, not {bins}")
    image = _rgb(image)
    counts = np.asarray(image.histogram(), dtype=np.int64).reshape(3, 256)
    luma = np.asarray(image.convert("L").histogram(), dtype=np.int64)
    per_bin = 256 // bins

    def binned(values: np.ndarray) -> list[int]:
        return values.reshape(bins, per_bin).sum(axis=1).tolist()

    return Histogram(bins, binned(luma), *(binned(channel) for channel in counts))


def clipping_masks(image: Image.Image) -> ClippingMasks:
    """Where the picture is clipped: highlights (any channel at or above HIGHLIGHT_AT) and
    shadows (any channel at or below SHADOW_AT), each a boolean array the picture's size."""
    import numpy as np

    return ClippingMasks(*_clipped(np.asarray(_rgb(image))))


def raw_exposure(path: Path | str) -> RawExposure:
    """Clipping on the RAW data through LibRaw: a photosite is clipped in the highlights at its
    channel's white level, in the shadows at or under its channel's black level. Raises
    RawUnreadable with one sentence when LibRaw cannot read the file's sensor data."""
    import numpy as np
    import rawpy  # only here: most callers never read RAW data

    name = Path(path).name
    sniffed = sniff(path)
    if sniffed.reason is not None:
        raise RawUnreadable(f"{name}: {sniffed.reason}.")
    if sniffed.kind != "raw":
        # LibRaw takes some JPEGs for RAWs of old cameras (a Kodak DC240's, say).
        raise RawUnreadable(f"{name}: not a RAW file (its content is {sniffed.format}).")
    try:
        raw = rawpy.imread(str(path))
    except (rawpy.LibRawError, OSError, ValueError) as error:
        raise RawUnreadable(_raw_reason(path, error)) from error
    with raw:
        try:
            # Copies: LibRaw frees its buffers when the file is closed.
            data = np.array(raw.raw_image_visible)
            colours = np.array(raw.raw_colors_visible)
        except rawpy.LibRawError as error:
            raise RawUnreadable(_raw_reason(path, error)) from error
        if data.ndim != 2 or data.size == 0:
            raise RawUnreadable(f"{name}: LibRaw found no sensor data in this RAW.")
        nominal = [int(raw.white_level)] * 4
        if raw.camera_white_level_per_channel and all(raw.camera_white_level_per_channel):
            nominal = [int(level) for level in raw.camera_white_level_per_channel]
        blacks = tuple(int(level) for level in raw.black_level_per_channel)
        names = raw.color_desc.decode("ascii", "replace")  # e.g. "RGBG": colour index -> name
        flip = raw.sizes.flip
    index = colours.astype(np.intp) & 3
    black = np.asarray(blacks, dtype=np.int64)
    whites = np.minimum(np.asarray(nominal, dtype=np.int64), _saturation(data, black, nominal))
    margins = np.where(whites < nominal, 0, (whites - black) * RAW_WHITE_MARGIN).astype(np.int64)
    high = data >= (whites - margins)[index]
    low = data <= black[index]
    highlights_by, shadows_by = {}, {}
    for letter in sorted(set(names)):
        sites = np.isin(index, [i for i, found in enumerate(names) if found == letter])
        count = int(np.count_nonzero(sites))
        if count:
            highlights_by[letter] = float(np.count_nonzero(high & sites)) / count
            shadows_by[letter] = float(np.count_nonzero(low & sites)) / count
    return RawExposure(
        clipped_highlights=float(np.count_nonzero(high)) / high.size,
        clipped_shadows=float(np.count_nonzero(low)) / low.size,
        highlights_by_channel=highlights_by,
        shadows_by_channel=shadows_by,
        white_level=int(whites.max()),
        nominal_white_level=max(nominal),
        black_levels=blacks,
        masks=ClippingMasks(_upright(_blocks(high), flip), _upright(_blocks(low), flip)),
    )


# --- inside ---------------------------------------------------------------------------------


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        image.load()
        return image
    if image.mode in ("RGBA", "LA", "P", "PA"):
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def _analysis_size(image: Image.Image) -> Image.Image:
    """The picture with its long edge at ANALYSIS_LONG_EDGE (a smaller one is left as it is:
    enlarging adds no detail; one a little larger too: scaling 816 pixels to 800 costs more
    than measuring them)."""
    long_edge = max(image.size)
    if long_edge <= ANALYSIS_LONG_EDGE * ANALYSIS_TOLERANCE:
        return image
    factor = long_edge // ANALYSIS_LONG_EDGE
    if factor > 1 and long_edge % ANALYSIS_LONG_EDGE == 0:
        return image.reduce(factor)  # an exact box reduction: cheaper than a resize
    scale = ANALYSIS_LONG_EDGE / long_edge
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _focus(grey: np.ndarray) -> tuple[float, float, float]:
    """(score, x, y): the mean Laplacian variance of the best tiles, and the centre of the
    sharpest neighbourhood of tiles as fractions of the picture."""
    import numpy as np

    height, width = grey.shape
    if height < 3 or width < 3:
        return 0.0, 0.5, 0.5
    # The 4-neighbour Laplacian of the inner pixels, in place (each temporary costs a pass).
    laplacian = grey[1:-1, 1:-1] * 4
    laplacian -= grey[:-2, 1:-1]
    laplacian -= grey[2:, 1:-1]
    laplacian -= grey[1:-1, :-2]
    laplacian -= grey[1:-1, 2:]
    tile = min(TILE, laplacian.shape[0], laplacian.shape[1])
    rows, columns = laplacian.shape[0] // tile, laplacian.shape[1] // tile
    # Tiles centred in the picture: the margins left over are split between both sides.
    top = (laplacian.shape[0] - rows * tile) // 2
    left = (laplacian.shape[1] - columns * tile) // 2
    inside = laplacian[top : top + rows * tile, left : left + columns * tile]
    # Variance as E[x^2] - E[x]^2 from per-tile sums: three times faster than .var() over
    # the tiles' axes, which copies them.
    count = tile * tile
    sums = inside.reshape(rows, tile, columns, tile).sum(axis=3).sum(axis=1) / count
    inside *= inside
    squares = inside.reshape(rows, tile, columns, tile).sum(axis=3).sum(axis=1) / count
    variances = np.maximum(squares.astype(np.float64) - sums.astype(np.float64) ** 2, 0.0)
    flat = np.sort(variances, axis=None)
    best = max(MIN_BEST_TILES, math.ceil(flat.size * BEST_TILES_FRACTION))
    score = float(flat[-best:].mean())
    # Where: the tile whose 3x3 neighbourhood is sharpest (one tile alone may be a highlight's
    # edge or noise).
    padded = np.pad(variances, 1)
    around = sum(padded[dy : dy + rows, dx : dx + columns] for dy in range(3) for dx in range(3))
    row, column = np.unravel_index(int(np.argmax(around)), around.shape)
    x = (1 + left + (column + 0.5) * tile) / width
    y = (1 + top + (row + 0.5) * tile) / height
    return score, float(x), float(y)


def _phash(grey: Image.Image) -> str:
    """imagehash's phash, given the 32x32 picture it starts from: scaled here by averaging
    boxes, as cheap as a tenth of the Lanczos scaling phash does itself from 800 pixels."""
    import imagehash

    side = HASH_SIZE * 4  # phash's own highfreq_factor
    return str(imagehash.phash(grey.resize((side, side), Image.Resampling.BOX), HASH_SIZE))


def _clipped(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(highlights, shadows): where any channel is clipped. The brightest and darkest channel
    of each pixel first (``.any(axis=2)`` over channels is ten times slower)."""
    import numpy as np

    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    brightest = np.maximum(np.maximum(red, green), blue)
    darkest = np.minimum(np.minimum(red, green), blue)
    return brightest >= HIGHLIGHT_AT, darkest <= SHADOW_AT


def _saturation(data: np.ndarray, black: np.ndarray, nominal: list[int]) -> int:
    """Where the sensor really saturates: its nominal white level, or, when the data stop
    short of it with a pile-up at their top, the foot of that pile-up (a Canon D30 saturates
    between ~3,800 and 3,868 of the 4,095 LibRaw reports). A pile-up is SATURATION_PILE_UP of
    the photosites within SATURATION_BAND of the range under the brightest one; a picture
    with nothing clipped has its brightest sites trail off one by one instead (a bright
    surface just under saturation would have the top of its noise counted as clipped)."""
    import numpy as np

    brightest = int(data.max())
    if brightest >= min(nominal) * (1 - RAW_WHITE_MARGIN):
        return max(nominal)
    foot = brightest - int((brightest - int(black.min())) * SATURATION_BAND)
    piled = np.count_nonzero(data >= foot)
    return foot if piled >= data.size * SATURATION_PILE_UP else max(nominal)


def _blocks(mask: np.ndarray) -> np.ndarray:
    """A photosite mask at half resolution: a 2x2 block is set where any of its sites is."""
    rows, columns = mask.shape[0] // 2 * 2, mask.shape[1] // 2 * 2
    return mask[:rows, :columns].reshape(rows // 2, 2, columns // 2, 2).any(axis=(1, 3))


def _upright(mask: np.ndarray, flip: int) -> np.ndarray:
    """The mask turned as LibRaw's ``flip`` says the picture is (3: 180, 5: 90 counter-clockwise
    to upright, 6: 90 clockwise)."""
    import numpy as np

    if flip == 3:
        return np.rot90(mask, 2)
    if flip == 5:
        return np.rot90(mask, 1)
    if flip == 6:
        return np.rot90(mask, -1)
    return mask


def _raw_reason(path: Path | str, error: BaseException) -> str:
    name = Path(path).name
    kind = type(error).__name__
    if isinstance(error, FileNotFoundError):
        return f"{name}: no such file."
    if isinstance(error, OSError):
        return f"{name}: cannot be read ({error.strerror or error})."
    if kind == "LibRawFileUnsupportedError":
        return f"{name}: LibRaw does not know this file as a RAW it can read."
    if kind in ("LibRawIOError", "LibRawDataError", "LibRawUnspecifiedError"):
        return f"{name}: LibRaw cannot read its sensor data (the file may be cut short or damaged)."
    return f"{name}: LibRaw cannot read it ({kind})."
