"""Full-size pixels for a close look at focus (the loupe): where they come from, decoded and
turned upright, and kept for the photo on screen and its neighbours.

A JPEG original is decoded itself. A RAW gives the largest JPEG embedded in it when that covers
the zoom (most Canon and Nikon bodies embed one as large as the sensor), and otherwise its own
sensor data, developed by LibRaw through rawpy (many Sony and Panasonic bodies embed only a
1,600-2,000 pixel preview). At 50 % half the sensor's pixels are enough: a JPEG decodes at half
scale, LibRaw in its half-size mode.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.media.preview import (
    NOT_A_PHOTO,
    OPENED_BY_PILLOW,
    UPRIGHT,
    PreviewUnavailable,
    embedded_jpeg,
    orientation_of,
)
from core.media.reach import ORIGINAL_ELSEWHERE
from core.media.sniff import FORMAT_KINDS

# An embedded JPEG "covers" a zoom when its long edge is within this of what the zoom needs:
# a D7100 embeds 6000 x 4000 for its 6036 x 4020 sensor, and LibRaw's 0.6 % more is not worth
# seconds of developing.
COVER_SLACK = 0.97
# Decoded pictures kept: the photo on screen and its neighbours at 24 MP are about 72 MB each.
KEEP_BYTES = 320 * 1024 * 1024
DEVELOPING = "developing the RAW"  # why a RAW's embedded JPEG stands in for it a moment
# Sources, in the words the loupe's line uses.
SOURCE_WORDS = {
    "jpeg": "the JPEG itself",
    "image": "the image itself",
    "embedded": "embedded JPEG",
    "raw": "RAW (LibRaw)",
    "preview": f"preview: {ORIGINAL_ELSEWHERE}",
}


@dataclass(frozen=True)
class PixelSource:
    """Where a photo's pixels for one zoom come from. ``full_size``: the picture at full size,
    upright (a RAW's developed sensor image); ``size``: this source's own, upright; ``why``:
    a sentence when a better source was wanted and could not be had."""

    kind: str  # jpeg, image, embedded, raw or preview
    full_size: tuple[int, int]
    size: tuple[int, int]
    why: str | None = None

    @property
    def words(self) -> str:
        return SOURCE_WORDS[self.kind]


@dataclass(frozen=True)
class Pixels:
    """A decoded picture, upright RGB, and where it came from."""

    picture: Image.Image
    source: PixelSource

    @property
    def scale(self) -> float:
        """Picture pixels per full-size pixel (1 at full size, 0.5 at half)."""
        return self.picture.width / max(1, self.source.full_size[0])


@dataclass(frozen=True)
class Plan:
    """How to have a photo's pixels for one zoom: the source, ``decode`` to decode it, and
    for a RAW LibRaw must develop (seconds for 24 MP), ``stand_in``: its embedded JPEG,
    enlarged, to show meanwhile."""

    source: PixelSource
    decode: Callable[[], Pixels]
    stand_in: Callable[[], Pixels] | None = None


def needed_long_edge(full_size: tuple[int, int], zoom: float) -> int:
    """The long edge of picture a zoom needs: beyond 100 % the pixels are only enlarged."""
    return round(max(full_size) * min(zoom, 1.0))


def choose_source(path: Path, file_format: str, orientation: int | None, zoom: float) -> Plan:
    """The source to decode for ``zoom`` (0.5, 1, 2: screen pixels per full-size pixel), and
    how (a Plan). Raises PreviewUnavailable with a reason when the file has no pixels to
    show."""
    if file_format in NOT_A_PHOTO:
        raise PreviewUnavailable(NOT_A_PHOTO[file_format])
    if orientation is None:
        orientation = orientation_of(path, file_format)
    if file_format == "jpeg":
        return _own_jpeg(path, orientation, zoom)
    if file_format in OPENED_BY_PILLOW:
        return _own_image(path, file_format, orientation)
    data = _embedded(path, file_format)
    embedded = _jpeg_size(data, orientation) if data is not None else None
    is_raw = FORMAT_KINDS.get(file_format) == "raw"
    raw_size = _raw_size(path) if is_raw or embedded is None else None
    if raw_size is None:
        if data is None:
            raise PreviewUnavailable("no embedded JPEG, and LibRaw cannot read this file")
        return _embedded_plan(data, embedded, embedded, orientation, zoom)
    need = needed_long_edge(raw_size, zoom)
    if embedded is not None and max(embedded) >= need * COVER_SLACK:
        return _embedded_plan(data, raw_size, embedded, orientation, zoom)
    half = zoom <= 0.5
    source = PixelSource("raw", raw_size, _halved(raw_size) if half else raw_size)

    def develop() -> Pixels:
        try:
            return Pixels(_developed(path, half), source)
        except Exception as error:  # a RAW LibRaw cannot develop: the embedded JPEG, enlarged
            if data is None:
                raise PreviewUnavailable(f"LibRaw cannot develop this RAW: {error}") from error
            why = f"LibRaw cannot develop this RAW ({error}): its embedded JPEG, enlarged"
            fallback = PixelSource("embedded", raw_size, embedded, why)
            return Pixels(_decoded_jpeg(data, orientation, None), fallback)

    stand_in = None
    if data is not None:
        meanwhile = PixelSource("embedded", raw_size, embedded, DEVELOPING)

        def stand_in() -> Pixels:
            return Pixels(_decoded_jpeg(data, orientation, None), meanwhile)

    return Plan(source, develop, stand_in)


def preview_source(preview: Path) -> Plan:
    """The cached preview as the pixels, for a photo whose original is on another machine
    (core.media.reach): upright already (built so), at its own size, which 100 % shows 1:1."""
    with Image.open(preview, formats=["JPEG"]) as image:
        size = image.size
    source = PixelSource("preview", size, size)

    def decode() -> Pixels:
        with Image.open(preview, formats=["JPEG"]) as image:
            image.load()
            return Pixels(image.convert("RGB"), source)

    return Plan(source, decode)


def decode_pixels(path: Path, file_format: str, orientation: int | None, zoom: float) -> Pixels:
    """The photo's pixels for ``zoom``, decoded now (see choose_source)."""
    return choose_source(path, file_format, orientation, zoom).decode()


class PixelCache:
    """Decoded pictures by key (a photo and the scale it was decoded at), the most recent
    kept within ``keep_bytes``. Two threads asking for one picture decode it once: the second
    waits for the first."""

    def __init__(self, keep_bytes: int = KEEP_BYTES) -> None:
        self._keep_bytes = keep_bytes
        self._pictures: OrderedDict[object, Pixels] = OrderedDict()
        self._decoding: dict[object, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: object) -> Pixels | None:
        with self._lock:
            found = self._pictures.get(key)
            if found is not None:
                self._pictures.move_to_end(key)
            return found

    def get_or_decode(self, key: object, decode: Callable[[], Pixels]) -> Pixels:
        while True:
            with self._lock:
                found = self._pictures.get(key)
                if found is not None:
                    self._pictures.move_to_end(key)
                    return found
                running = self._decoding.get(key)
                if running is None:
                    running = self._decoding[key] = threading.Event()
                    break
            running.wait()  # another thread decodes it; then it is here (or failed: try)
        try:
            pixels = decode()
        finally:
            with self._lock:
                del self._decoding[key]
            running.set()
        with self._lock:
            self._pictures[key] = pixels
            self._trim()
        return pixels

    def forget(self, match: Callable[[object], bool]) -> None:
        with self._lock:
            for key in [key for key in self._pictures if match(key)]:
                del self._pictures[key]

    def _trim(self) -> None:
        # The newest stays even alone over the budget: it is the one on screen.
        while len(self._pictures) > 1 and self._bytes() > self._keep_bytes:
            self._pictures.popitem(last=False)

    def _bytes(self) -> int:
        return sum(_picture_bytes(p.picture) for p in self._pictures.values())


# --- the sources --------------------------------------------------------------------------------


def _own_jpeg(path: Path, orientation: int | None, zoom: float) -> Plan:
    with Image.open(path) as image:
        stored = image.size
    full = _upright_size(stored, orientation)
    source = PixelSource("jpeg", full, _halved(full) if zoom <= 0.5 else full)
    return Plan(source, lambda: Pixels(_decoded_file(path, orientation, zoom), source))


def _own_image(path: Path, file_format: str, orientation: int | None) -> Plan:
    with Image.open(path, formats=OPENED_BY_PILLOW[file_format]) as image:
        stored = image.size

    def decode() -> Pixels:
        with Image.open(path, formats=OPENED_BY_PILLOW[file_format]) as image:
            image.load()
            picture = _upright(image.convert("RGB"), orientation)
        source = PixelSource("image", picture.size, picture.size)
        return Pixels(picture, source)

    full = _upright_size(stored, orientation)
    return Plan(PixelSource("image", full, full), decode)


def _embedded_plan(
    data: bytes,
    full_size: tuple[int, int],
    embedded: tuple[int, int],
    orientation: int | None,
    zoom: float,
) -> Plan:
    need = needed_long_edge(full_size, zoom)
    why = None
    if max(embedded) < need * COVER_SLACK:
        why = "the embedded JPEG is smaller than the zoom needs, enlarged"
    source = PixelSource("embedded", full_size, embedded, why)
    # At 50 % a JPEG twice as large as needed decodes at half scale, in a third of the time.
    target = max(embedded) // 2 if max(embedded) >= 2 * need * COVER_SLACK else None
    return Plan(source, lambda: Pixels(_decoded_jpeg(data, orientation, target), source))


def _embedded(path: Path, file_format: str) -> bytes | None:
    try:
        return embedded_jpeg(path, file_format)
    except PreviewUnavailable:
        return None


def _jpeg_size(data: bytes, orientation: int | None) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _upright_size(image.size, orientation)
    except Exception:  # what preview.py found as a JPEG Pillow cannot open: no source
        return None


def _raw_size(path: Path) -> tuple[int, int] | None:
    """The size LibRaw develops the RAW to, upright; None when LibRaw cannot open it."""
    try:
        import rawpy

        with rawpy.imread(str(path)) as raw:
            sizes = raw.sizes
            width, height = sizes.width, sizes.height
            return (height, width) if sizes.flip in (5, 6) else (width, height)
    except Exception:  # not a RAW LibRaw knows, or damaged: the embedded JPEG will do
        return None


def _developed(path: Path, half: bool) -> Image.Image:
    """The RAW developed by LibRaw with the camera's white balance, 8 bits, sRGB, turned as
    the RAW says. Half size skips demosaicing (a quarter of the pixels, for 50 %)."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(
            use_camera_wb=True,
            half_size=half,
            output_bps=8,
            # What darktable shows is not the aim; a fast, honest look at focus is. AHD (the
            # default) costs twice LINEAR's time here and sharpens the detail a loupe judges.
            demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD,
        )
    return Image.fromarray(rgb)


def _decoded_file(path: Path, orientation: int | None, zoom: float) -> Image.Image:
    with Image.open(path) as image:
        return _decoded(image, orientation, _halved(image.size) if zoom <= 0.5 else None)


def _decoded_jpeg(data: bytes, orientation: int | None, long_edge: int | None) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        target = None
        if long_edge is not None:
            scale = long_edge / max(image.size)
            target = (round(image.width * scale), round(image.height * scale))
        return _decoded(image, orientation, target)


def _decoded(image: Image.Image, orientation: int | None, draft: tuple[int, int] | None):
    if draft is not None:
        image.draft("RGB", draft)  # libjpeg scales by 1/2, 1/4 as it decodes
    image.load()
    picture = image if image.mode == "RGB" else image.convert("RGB")
    return _upright(picture, orientation)


def _upright(picture: Image.Image, orientation: int | None) -> Image.Image:
    return picture.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else picture


def _upright_size(size: tuple[int, int], orientation: int | None) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _halved(size: tuple[int, int]) -> tuple[int, int]:
    return (max(1, size[0] // 2), max(1, size[1] // 2))


def _picture_bytes(picture: Image.Image) -> int:
    return picture.width * picture.height * len(picture.getbands())
