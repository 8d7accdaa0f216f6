"""Exposure aids, made in the frame threads with the picture they describe: its histogram, and
the picture again with its clipped pixels painted (highlights red, shadows blue), clipping
measured on the preview or on the RAW data (core.media.looks does the measuring).

The pane blinks between the picture and its painted twin; both are drawn ahead of time, so a
blink is a swap of ready frames.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

# numpy (and imagehash, which imports it) are imported by the functions that use them: the app
# draws its first photo without them, 70-150 ms sooner.
if TYPE_CHECKING:
    import numpy as np

from core.media.looks import (
    ClippingMasks,
    Histogram,
    RawExposure,
    RawUnreadable,
    clipping_masks,
    histogram,
    raw_exposure,
)

PREVIEW = "preview"
RAW = "raw"
HISTOGRAM_BINS = 64
HIGHLIGHT_MARK = (255, 0, 0)
SHADOW_MARK = (0, 80, 255)
KEEP_RAW = 8  # RAW measurements kept (one is a second or so of LibRaw's time)

# a photo id -> the path of its original file, or None
OriginalPath = Callable[[int], Path | None]


@dataclass(frozen=True)
class Aids:
    """Which aids the frames carry: the histogram, clipping from PREVIEW or RAW (or None)."""

    histogram: bool = False
    clipping: str | None = None

    def __bool__(self) -> bool:
        return self.histogram or self.clipping is not None


NO_AIDS = Aids()


@dataclass(frozen=True)
class Exposure:
    """What the aids say of one picture."""

    histogram: Histogram | None
    clipping: str | None  # what the marks were measured on, as the pane says it
    clipped_highlights: float  # fractions of the pixels (photosites on RAW data)
    clipped_shadows: float
    note: str | None = None  # why RAW clipping could not be had, when it could not


def painted(picture: Image.Image, masks: ClippingMasks) -> Image.Image:
    """``picture`` with clipped highlights in red and clipped shadows in blue; masks of
    another size (RAW data) are scaled to the picture, a pixel marked where any of what it
    covers is clipped."""
    import numpy as np

    pixels = np.array(picture.convert("RGB"))
    for mask, colour in ((masks.shadows, SHADOW_MARK), (masks.highlights, HIGHLIGHT_MARK)):
        pixels[_fitted_mask(mask, picture.size)] = colour
    return Image.fromarray(pixels)


def _fitted_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import numpy as np

    if mask.shape == (size[1], size[0]):
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    # BOX averages: any clipped site under a pixel leaves it above zero.
    return np.asarray(image.resize(size, Image.Resampling.BOX)) > 0


class RawMeasures:
    """RAW clipping of the last few photos, measured once each (a frame thread at a time)."""

    def __init__(self, original_path: OriginalPath) -> None:
        self._original_path = original_path
        self._found: OrderedDict[int, RawExposure | str] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, photo_id: int) -> RawExposure | str:
        """The photo's RAW exposure, or one sentence saying why there is none."""
        with self._lock:
            found = self._found.get(photo_id)
        if found is not None:
            return found
        path = self._original_path(photo_id)
        if path is None:
            found = "its original file is not in the catalogue"
        else:
            try:
                found = raw_exposure(path)
            except RawUnreadable as error:
                found = str(error)
            except OSError as error:
                found = f"{path.name}: {error.strerror or error}"
        with self._lock:
            self._found[photo_id] = found
            while len(self._found) > KEEP_RAW:
                self._found.popitem(last=False)
        return found


def exposure_of(
    photo_id: int,
    picture: Image.Image,
    aids: Aids,
    raw: RawMeasures | None,
    whole: bool = True,
) -> tuple[Exposure, Image.Image | None]:
    """The aids for ``picture`` (a frame thread): what they say, and the picture painted with
    its clipping when clipping is asked for. RAW clipping covers the whole frame, so on a
    part of it (``whole`` False: the loupe) the picture's own pixels are measured instead."""
    import numpy as np

    shown = histogram(picture, HISTOGRAM_BINS) if aids.histogram else None
    if aids.clipping is None:
        return Exposure(shown, None, 0.0, 0.0), None
    note = None
    if aids.clipping == RAW and raw is not None and whole:
        measured = raw.of(photo_id)
        if isinstance(measured, RawExposure):
            source = f"RAW, sensor white level {measured.white_level}"
            exposure = Exposure(shown, source, measured.clipped_highlights,
                                measured.clipped_shadows)  # fmt: skip
            return exposure, painted(picture, measured.masks)
        note = f"no RAW clipping: {measured}"
    elif aids.clipping == RAW:
        note = "RAW clipping covers the whole frame: these are the loupe's pixels"
    masks = clipping_masks(picture)
    total = masks.highlights.size or 1
    exposure = Exposure(
        shown,
        PREVIEW,
        float(np.count_nonzero(masks.highlights)) / total,
        float(np.count_nonzero(masks.shadows)) / total,
        note,
    )
    return exposure, painted(picture, masks)
