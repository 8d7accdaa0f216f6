"""Previews: the JPEG shown for a photo in triage, made from the largest JPEG embedded in a RAW
(or from the JPEG itself), scaled with Pillow's draft mode and turned upright by its EXIF
orientation. A file with no usable preview raises ``PreviewUnavailable`` with a reason for a
person, and ``placeholder()`` draws that reason for the UI.
"""

from __future__ import annotations

import errno
import functools
import io
import mmap
import os
import re
import struct
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont, JpegImagePlugin, UnidentifiedImageError, features

from core.files import open_to_read

# A file's bytes, whole: read into memory or mapped (the scan has one or the other in hand).
Buffer = bytes | mmap.mmap


def as_file(content: Buffer) -> BinaryIO:
    """A file's bytes as a file open at its start, for readers that read one: read and seek as
    on the open file itself (a seek past its end reads nothing; mmap's own refuses), no copy."""
    return io.BufferedReader(_BufferFile(content))  # type: ignore[return-value]


class _BufferFile(io.RawIOBase):
    def __init__(self, content: Buffer) -> None:
        super().__init__()
        self._content, self._position = content, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._content)}
        position = base[whence] + offset
        if position < 0:  # as lseek says it
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self._position = position
        return position

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._content[self._position : self._position + len(buffer)]
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


DEFAULT_LONG_EDGE = 1600
PREVIEW_QUALITY = 85
PLACEHOLDER_LONG_EDGE = 480

# Tags rarely point at a preview as large as a screen in some RAWs (Olympus and Nikon keep the
# big one in their maker notes, the Adobe DNG converter in its private data): below this long
# edge the file is also scanned for JPEG start markers.
SCAN_BELOW_LONG_EDGE = 1600
# FF D8 FF also occurs by chance in raw sensor data: bound the number of Pillow opens a scan costs.
MAX_SCANNED_CANDIDATES = 64
# A candidate that opens may still fail to decode (a lucky FF D8 FF with a plausible header):
# the next largest are tried, up to this many.
MAX_DECODE_ATTEMPTS = 4
MAX_IFDS = 32  # IFD0, its chain, SubIFDs, the EXIF IFD: a dozen at most in real files
MAX_IFD_ENTRIES = 1024
MAX_JPEG_SEGMENTS = 256  # headers before the image data; real files have a few dozen
CR3_HEAD_BYTES = 256 * 1024  # CR3 keeps IFD0 (with the orientation) in its CMT1 box, near the start

ORIENTATION_TAG = 0x0112
# What turns a stored image upright, for each EXIF orientation (as PIL.ImageOps.exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
NOT_A_PHOTO = {
    "empty": "an empty file (0 bytes)",
    "html": "an HTML page, not a photo",
    "video": "a video, not a photo",
    "xmp": "an XMP sidecar, not a photo",
}
OPENED_BY_PILLOW = {"png": ["PNG"], "tiff": ["TIFF"], "heif": None}
SOI = b"\xff\xd8\xff"
EOI = b"\xff\xd9"
# In a JPEG's entropy-coded data FF is followed by 00 (stuffing) or D0-D7 (restart markers);
# anything else is the next real marker.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
JPEG_START_OF_SCAN = 0xDA
JPEG_END_OF_IMAGE = 0xD9
JPEG_APP1 = 0xE1
# Start-of-frame markers, which give the image's size (C4, C8 and CC are tables, not frames).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
SOS = b"\xff\xda"
JPEG_SEGMENT_NAMES = {
    0xDB: "quantisation tables", 0xC4: "Huffman tables", 0xDD: "restart interval",
    0xFE: "comment", 0xDA: "start-of-scan header",
    **dict.fromkeys((0xC0, 0xC1, 0xC2, 0xC3), "frame header"),
}  # fmt: skip

# TIFF field types and the size of one value, and how to read the integer ones.
TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
                   13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip
TIFF_INT_FORMATS = {1: "B", 3: "H", 4: "I", 7: "B", 13: "I", 16: "Q", 18: "Q"}
TAG_COMPRESSION = 0x0103
TAG_STRIP_OFFSETS = 0x0111
TAG_STRIP_BYTE_COUNTS = 0x0117
TAG_SUB_IFDS = 0x014A
TAG_JPEG_OFFSET = 0x0201  # JPEGInterchangeFormat
TAG_JPEG_LENGTH = 0x0202  # JPEGInterchangeFormatLength
TAG_EXIF_IFD = 0x8769
TAG_NEW_SUBFILE_TYPE = 0x00FE  # 0: the full-size image; 1: a reduced one (thumbnail, preview)
TAG_IMAGE_WIDTH = 0x0100
TAG_IMAGE_LENGTH = 0x0101
TAG_DEFAULT_CROP_SIZE = 0xC620  # DNG: the raw image's size once cropped, as a converter makes it
TAG_PANASONIC_JPG_FROM_RAW = 0x002E  # RW2: the whole preview JPEG as the tag's value
JPEG_COMPRESSIONS = (6, 7)  # old-style and new-style JPEG


class PreviewUnavailable(Exception):
    """No preview can be made from this file; ``reason`` says why, as a sentence for a person.
    ``lasting``: the file's own bytes say so, and reading it again gives the same answer (not
    so when the system could not read it: a drive unplugged, a permission)."""

    def __init__(self, reason: str, lasting: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lasting = lasting


def embedded_jpeg(path: Path, file_format: str) -> bytes:
    """The largest usable JPEG inside a RAW (or the file itself for a JPEG).

    TIFF-based RAWs: the JPEGs their tags point to (JPEGInterchangeFormat, single-strip JPEG
    images, Panasonic's JpgFromRaw) in IFD0, its chain, the SubIFDs and the EXIF IFD. When there
    is none as large as a screen, and for CRW, RAF, CR3 and other files: every FF D8 FF in the
    file that Pillow opens as a JPEG. Raises PreviewUnavailable with a reason.
    """
    if file_format in NOT_A_PHOTO:
        raise PreviewUnavailable(NOT_A_PHOTO[file_format])
    with _reading(), _mapped(path) as buf:
        if file_format == "jpeg":
            return buf[:]
        best = _embedded_jpegs(buf, file_format, _label(path))[0]
        return buf[best.start : best.end]


def orientation_of(path: Path, file_format: str) -> int | None:
    """The EXIF orientation (1..8) of a file, None when it has none or it cannot be read.

    For a RAW it is the RAW's own (IFD0, CR3's CMT1 box, the JPEG a RAF starts with): the
    previews embedded in RAWs are stored unrotated and usually carry no orientation of their own.
    """
    try:
        if file_format in OPENED_BY_PILLOW and file_format != "tiff":
            with (
                open_to_read(path) as handle,
                Image.open(handle, formats=OPENED_BY_PILLOW[file_format]) as image,
            ):
                return _valid_orientation(image.getexif().get(ORIENTATION_TAG))
        with _mapped(path) as buf:
            return _orientation_in(buf, file_format)
    except Exception:  # an orientation is a hint: a file that hides it is shown as stored
        return None


def render_preview(
    path: Path,
    file_format: str,
    orientation: int | None = None,
    long_edge: int = DEFAULT_LONG_EDGE,
) -> bytes:
    """A JPEG no larger than ``long_edge`` on its long side, turned upright.

    JPEGs (a file's own or the largest embedded in a RAW) are decoded in Pillow's draft mode, so
    libjpeg scales a 24 MP image down by 2, 4 or 8 as it decodes. PNG, TIFF and HEIF files are
    opened by Pillow. ``orientation`` None: read it with ``orientation_of``. Raises only
    PreviewUnavailable, with a reason, for files that are damaged, cut short or not photos.
    """
    if file_format in NOT_A_PHOTO:
        raise PreviewUnavailable(NOT_A_PHOTO[file_format])
    if long_edge < 1:
        raise ValueError(f"a preview needs a long edge of at least 1 pixel, not {long_edge}")
    if file_format in OPENED_BY_PILLOW:
        try:
            return _render_with_pillow(path, file_format, orientation, long_edge)
        except PreviewUnavailable as failure:
            if file_format != "tiff":
                raise
            # A TIFF Pillow cannot decode is often a RAW under another name: try its JPEGs.
            try:
                return _render_embedded(path, file_format, orientation, long_edge)
            except PreviewUnavailable:
                raise failure from None
    return _render_embedded(path, file_format, orientation, long_edge)


def placeholder(reason: str, long_edge: int = PLACEHOLDER_LONG_EDGE) -> bytes:
    """A grey JPEG (3:2, ``long_edge`` wide) with ``reason`` written on it, shown instead of a
    photo that has no preview."""
    width, height = max(long_edge, 32), max(long_edge * 2 // 3, 24)
    image = Image.new("RGB", (width, height), (88, 88, 88))
    draw = ImageDraw.Draw(image)
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    if features.check("freetype2"):
        font = ImageFont.load_default(size=max(10, width // 26))
    else:  # the bitmap font has one size
        font = ImageFont.load_default()
    margin = width // 12
    average_char = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz") / 26)
    lines = textwrap.wrap(reason, width=max(8, int((width - 2 * margin) / average_char))) or [""]
    text = "\n".join(["No preview", "", *lines])
    draw.multiline_text(
        (width / 2, height / 2), text, fill=(230, 230, 230), font=font, anchor="mm", align="center"
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=PREVIEW_QUALITY)
    return out.getvalue()


# --- reading files ------------------------------------------------------------------------------


@contextmanager
def _reading() -> Iterator[None]:
    """Turn every failure below into PreviewUnavailable: Pillow raises a zoo of exception types
    (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError, ...) on damaged data,
    and our own parsers read offsets that damaged files make point anywhere."""
    try:
        yield
    except PreviewUnavailable:
        raise
    except OSError as error:
        if error.errno is not None:  # the system's error, not Pillow's about the data
            raise PreviewUnavailable(
                f"the file cannot be read: {error.strerror or error}", lasting=False
            ) from error
        raise PreviewUnavailable(_damage_reason(error)) from error
    except Exception as error:
        raise PreviewUnavailable(_damage_reason(error)) from error


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    """The file's bytes, mapped: a scan touches only the pages it reads, and slices copy only the
    JPEG that is chosen."""
    with open_to_read(path) as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise PreviewUnavailable(NOT_A_PHOTO["empty"])
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield buf


def _label(path: Path) -> str:
    return Path(path).suffix.lstrip(".").upper() or "file"


def _damage_reason(error: BaseException) -> str:
    message = str(error).strip() or type(error).__name__
    lowered = message.lower()
    if "truncated" in lowered or isinstance(error, EOFError):
        return "the image data is cut short"
    if "decompression bomb" in lowered:
        return f"the image is too large to preview safely ({message})"
    return f"the image data is damaged ({message})"


class _Window(io.RawIOBase):
    """A read-only file over ``buf[start:end]`` for Pillow, without copying the region.

    At its end it reads once as an EOI marker, so a JPEG cut short decodes as far as its data
    goes, the rest filled flat: what Pillow's LOAD_TRUNCATED_IMAGES does, without switching that
    process-wide (and thread-unsafe) flag. ``ran_out`` tells it happened.
    """

    def __init__(self, buf: mmap.mmap, start: int, end: int) -> None:
        super().__init__()
        self._buf, self._start, self._end, self._position = buf, start, end, start
        self.ran_out = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position - self._start

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._position, io.SEEK_END: self._end}
        self._position = max(self._start, base[whence] + offset)
        return self.tell()

    def read(self, size: int | None = -1) -> bytes:
        if self._position >= self._end:
            if self.ran_out:
                return b""
            self.ran_out = True
            return EOI
        stop = self._end if size is None or size < 0 else min(self._end, self._position + size)
        data = self._buf[self._position : stop]
        self._position = stop
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- TIFF and EXIF ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    kind: int  # TIFF field type
    count: int
    at: int  # where the value is in the buffer (inline in the entry or at its offset)


class _Tiff:
    """A TIFF structure (a TIFF-based RAW, an EXIF block) at ``base`` in a buffer; offsets inside
    it are relative to ``base``."""

    def __init__(self, buf: mmap.mmap, base: int, order: str) -> None:
        self.buf, self.base, self.order = buf, base, order

    @classmethod
    def at(cls, buf: mmap.mmap, base: int) -> _Tiff | None:
        # Any magic after the byte order: ORF (RO, RS) and RW2 (U) are TIFFs with their own.
        order = {b"II": "<", b"MM": ">"}.get(buf[base : base + 2])
        return cls(buf, base, order) if order and base + 8 <= len(buf) else None

    @property
    def first_ifd(self) -> int:
        return self._u32(self.base + 4)

    def ifd(self, offset: int) -> tuple[dict[int, _Entry], int]:
        """The entries of the IFD at ``offset`` and the offset of the next IFD (0: none)."""
        position = self.base + offset
        (count,) = struct.unpack_from(self.order + "H", self.buf, position)
        if not 0 < count <= MAX_IFD_ENTRIES:
            raise ValueError(f"an IFD of {count} entries")
        entries = {}
        for index in range(count):
            at = position + 2 + 12 * index
            tag, kind, values = struct.unpack_from(self.order + "HHI", self.buf, at)
            size = TIFF_TYPE_SIZES.get(kind, 1) * values
            value_at = at + 8 if size <= 4 else self.base + self._u32(at + 8)
            entries[tag] = _Entry(kind, values, value_at)
        return entries, self._u32(position + 2 + 12 * count)

    def ints(self, entry: _Entry | None, limit: int = 64) -> tuple[int, ...]:
        code = TIFF_INT_FORMATS.get(entry.kind) if entry else None
        if entry is None or code is None or entry.count == 0:
            return ()
        values = min(entry.count, limit)
        return struct.unpack_from(self.order + code * values, self.buf, entry.at)

    def first_int(self, entry: _Entry | None) -> int | None:
        values = self.ints(entry, limit=1)
        return values[0] if values else None

    def orientation(self) -> int | None:
        entries, _next = self.ifd(self.first_ifd)
        return _valid_orientation(self.first_int(entries.get(ORIENTATION_TAG)))

    def _u32(self, position: int) -> int:
        return struct.unpack_from(self.order + "I", self.buf, position)[0]


def _valid_orientation(value: object) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _orientation_in(buf: mmap.mmap, file_format: str) -> int | None:
    try:
        tiff = None
        if file_format == "jpeg":
            tiff = _jpeg_exif(buf, 0)
        elif file_format in ("tiff-raw", "tiff"):
            tiff = _Tiff.at(buf, 0)
        elif file_format == "raf":  # a RAF starts with a JPEG whose EXIF is the camera's
            (jpeg_start,) = struct.unpack_from(">I", buf, 84)
            tiff = _jpeg_exif(buf, jpeg_start)
        elif file_format == "cr3":
            box = buf.find(b"CMT1", 0, CR3_HEAD_BYTES)
            tiff = _Tiff.at(buf, box + 4) if box >= 0 else None
        return tiff.orientation() if tiff else None
    except (struct.error, ValueError, IndexError):
        return None


def _jpeg_segments(buf: mmap.mmap, start: int) -> Iterator[tuple[int, int, int]]:
    """(marker, position, length) of each header segment of the JPEG at ``start``, up to and
    including its first start-of-scan; it stops early at an end-of-image, a broken header or
    MAX_JPEG_SEGMENTS."""
    if buf[start : start + 2] != SOI[:2]:
        return
    position = start + 2
    for _segment in range(MAX_JPEG_SEGMENTS):
        if position + 4 > len(buf) or buf[position] != 0xFF:
            return
        marker = buf[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == JPEG_END_OF_IMAGE:
            return
        (length,) = struct.unpack_from(">H", buf, position + 2)
        yield marker, position, length
        if marker == JPEG_START_OF_SCAN:
            return
        position += 2 + length


def _jpeg_exif(buf: mmap.mmap, start: int) -> _Tiff | None:
    """The TIFF structure in the EXIF (APP1) segment of the JPEG at ``start``, if it has one."""
    for marker, position, _length in _jpeg_segments(buf, start):
        if marker == JPEG_APP1 and buf[position + 4 : position + 10] == b"Exif\x00\x00":
            return _Tiff.at(buf, position + 10)
    return None


def jpeg_cut_short(path: Path | str) -> str | None:
    """Why the JPEG at ``path`` is incomplete (see ``jpeg_damage``), read from its file."""
    try:
        with open_to_read(path) as handle:
            if os.fstat(handle.fileno()).st_size < 4:
                return None  # too short to be a JPEG: the sniffer has said what it is
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return jpeg_damage(buf)
    except (OSError, ValueError):  # unreadable now: the preview or the next scan says so
        return None


def jpeg_damage(buf: Buffer) -> str | None:
    """Why a JPEG's image data is incomplete or missing (a copy cut short, a card pulled out),
    None when it is whole or cannot be told. This is the reason recorded with it: a JPEG cut
    inside its image data still previews, as far as its data goes; one cut in its headers has
    no image data at all, and only an embedded thumbnail that survived can stand in for it.
    ``buf``: the whole file's bytes (mapped, or read).

    Nearly every whole JPEG ends with its end-of-image marker, after its first scan: that costs
    the headers and the last bytes. Only a file that ends otherwise (cut short, or followed by
    more data: an MPO's second picture, a phone's video) is followed scan by scan to its end.
    """
    if len(buf) < 4:
        return None  # too short to be a JPEG: the sniffer has said what it is
    try:
        scan = _first_scan(buf)
        if scan is None or scan >= len(buf):
            return _why_no_image_data(buf)
        if (buf[-2:] == EOI and len(buf) > scan) or _jpeg_end(buf, 0) is not None:
            return None
    except ValueError:
        return None
    return (
        f"the JPEG is cut short or damaged in its image data (it ends at "
        f"{len(buf):,} bytes with no end-of-image marker): shown as far as its data "
        "goes"
    )


def _why_no_image_data(buf: mmap.mmap) -> str | None:
    """Why the JPEG at the start of ``buf``, whose headers lead to no start of scan, has no
    image data: cut short inside its headers, ended there, or damaged there with no scan
    anywhere after. None when that cannot be told (a decoder may still find its way)."""
    size, end, last = len(buf), 2, None
    for last in _jpeg_segments(buf, 0):
        _marker, position, length = last
        end = position + 2 + length
    if last is not None and end > size:  # cut inside the last segment it began
        return _cut_in_headers(size, _segment_name(buf, *last[:2]))
    while end + 1 < size and buf[end] == 0xFF and buf[end + 1] == 0xFF:
        end += 1  # fill bytes before the next marker
    if end + 4 > size:
        return _cut_in_headers(size, None)
    if buf[end] == 0xFF and buf[end + 1] == JPEG_END_OF_IMAGE:
        return "the JPEG has no image data: its headers end with an end-of-image marker"
    if buf[end] != 0xFF and buf.find(SOS, end) < 0:
        return (
            f"the JPEG's headers are damaged at byte {end:,}, and no image data follows: at most "
            "its embedded thumbnail can be shown"
        )
    return None


def _cut_in_headers(size: int, inside: str | None) -> str:
    where = f", inside its {inside}" if inside else ""
    return (
        f"the JPEG is cut short in its headers (it ends at {size:,} bytes{where}) and has no "
        "image data: at most its embedded thumbnail can be shown"
    )


def _segment_name(buf: mmap.mmap, marker: int, position: int) -> str:
    if marker == JPEG_APP1 and buf[position + 4 : position + 10] == b"Exif\x00\x00":
        return "EXIF header"
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0} segment"
    return JPEG_SEGMENT_NAMES.get(marker, f"{marker:02X} segment")


def _first_scan(buf: mmap.mmap) -> int | None:
    """Where the first scan's image data starts in the JPEG at the start of ``buf``; None when
    its headers end first or are broken."""
    for marker, position, length in _jpeg_segments(buf, 0):
        if marker == JPEG_START_OF_SCAN:
            return position + 2 + length
    return None


def jpeg_pixel_size(path: Path | str) -> tuple[int, int] | None:
    """The pixel size in the frame header of the JPEG at ``path`` (see ``jpeg_frame_size``)."""
    try:
        with open_to_read(path) as handle:
            if os.fstat(handle.fileno()).st_size < 4:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return jpeg_frame_size(buf)
    except (OSError, ValueError):
        return None


def jpeg_frame_size(buf: Buffer) -> tuple[int, int] | None:
    """The width and height in a JPEG's frame header (SOF): what a decoder draws, whatever the
    EXIF says (a resize that keeps the camera's EXIF leaves it stale). None when the header
    cannot be read or leaves the height to a later marker (DNL). ``buf``: the file's bytes."""
    try:
        for marker, position, _length in _jpeg_segments(buf, 0):
            if marker in JPEG_FRAME_MARKERS and position + 9 <= len(buf):
                height, width = struct.unpack_from(">HH", buf, position + 5)
                return (width, height) if width and height else None
    except ValueError:
        return None
    return None


def raw_pixel_size(path: Path | str) -> tuple[int, int] | None:
    """The full-size image's size of the TIFF-based RAW at ``path`` (see ``raw_full_size``)."""
    try:
        with open_to_read(path) as handle:
            if os.fstat(handle.fileno()).st_size < 8:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return raw_full_size(buf)
    except (OSError, ValueError):
        return None


def raw_full_size(buf: Buffer) -> tuple[int, int] | None:
    """The size of the full-size image of a TIFF-based RAW: the IFD marked as such
    (NewSubfileType 0), among IFD0, its chain and the SubIFDs (in a NEF or DNG, IFD0 is a small
    thumbnail), cropped as a DNG says (DefaultCropSize). None when no IFD is marked full-size.
    ``buf``: the file's bytes."""
    if len(buf) < 8:
        return None
    try:
        tiff = _Tiff.at(buf, 0)
        return _full_size_in(tiff) if tiff is not None else None
    except ValueError:
        return None


def _full_size_in(tiff: _Tiff) -> tuple[int, int] | None:
    queue, seen = [tiff.first_ifd], set()
    while queue and len(seen) < MAX_IFDS:
        offset = queue.pop(0)
        if offset in seen or not 0 < offset < len(tiff.buf):
            continue
        seen.add(offset)
        try:
            entries, next_ifd = tiff.ifd(offset)
            if tiff.first_int(entries.get(TAG_NEW_SUBFILE_TYPE)) == 0:
                crop = _numbers(tiff, entries.get(TAG_DEFAULT_CROP_SIZE))
                width = tiff.first_int(entries.get(TAG_IMAGE_WIDTH))
                height = tiff.first_int(entries.get(TAG_IMAGE_LENGTH))
                if len(crop) == 2 and all(crop):
                    return round(crop[0]), round(crop[1])
                if width and height:
                    return width, height
            queue.extend(tiff.ints(entries.get(TAG_SUB_IFDS), limit=MAX_IFDS))
            queue.append(next_ifd)
        except (struct.error, ValueError, IndexError, TypeError):
            continue  # a damaged IFD: another may still say
    return None


def _numbers(tiff: _Tiff, entry: _Entry | None) -> tuple[float, ...]:
    """A SHORT, LONG or RATIONAL field's values (at most two), as numbers."""
    if entry is None or entry.count > 2:
        return ()
    if entry.kind == 5:  # RATIONAL: two LONGs, numerator then denominator
        pairs = struct.unpack_from(tiff.order + "II" * entry.count, tiff.buf, entry.at)
        return tuple(n / d if d else 0.0 for n, d in zip(pairs[::2], pairs[1::2], strict=True))
    return tuple(float(value) for value in tiff.ints(entry, limit=2))


# --- JPEGs embedded in RAWs ---------------------------------------------------------------------


@dataclass(frozen=True)
class _EmbeddedJpeg:
    """Where a JPEG lies in a file, and its pixel size as Pillow reads it."""

    start: int
    end: int  # exclusive; the end of the file when the JPEG is cut short
    width: int
    height: int
    complete: bool

    @property
    def area(self) -> int:
        return self.width * self.height


def _embedded_jpegs(buf: mmap.mmap, file_format: str, label: str) -> list[_EmbeddedJpeg]:
    """Every usable JPEG in the file, the best first: complete ones before cut-short ones, then
    the largest. Raises PreviewUnavailable when there is none."""
    if file_format in ("png", "heif"):
        raise PreviewUnavailable(f"no embedded JPEG in a {label} file")
    found: dict[int, _EmbeddedJpeg] = {}
    points_past_end = False
    if file_format in ("tiff-raw", "tiff"):
        spans, points_past_end = _tagged_spans(buf)
        for start, length in spans:
            candidate = _opened_candidate(buf, start, start + length)
            if candidate is not None:
                found[start] = candidate
    if not found or max(max(c.width, c.height) for c in found.values()) < SCAN_BELOW_LONG_EDGE:
        # Inside a JPEG file the scan looks for its EXIF thumbnail, not the JPEG itself.
        skip = 0 if file_format == "jpeg" else None
        for candidate in _scanned_candidates(buf, skip):
            found.setdefault(candidate.start, candidate)
    if not found:
        if points_past_end:
            raise PreviewUnavailable(
                f"the file is cut short: its embedded preview lies beyond its {len(buf):,} bytes"
            )
        if file_format == "unknown":
            raise PreviewUnavailable("not a photo: unknown content, with no JPEG inside")
        raise PreviewUnavailable(f"no embedded preview in this {label}")
    return sorted(found.values(), key=lambda c: (c.complete, c.area), reverse=True)


def _tagged_spans(buf: mmap.mmap) -> tuple[list[tuple[int, int]], bool]:
    """(start, length) of the JPEGs the TIFF tags point to, and whether any points past the end
    of the file (a RAW cut short after its headers)."""
    tiff = _Tiff.at(buf, 0)
    if tiff is None:
        return [], False
    spans: list[tuple[int, int]] = []
    queue, seen = [tiff.first_ifd], set()
    while queue and len(seen) < MAX_IFDS:
        offset = queue.pop(0)
        if offset in seen or not 0 < offset < len(buf):
            continue
        seen.add(offset)
        try:
            entries, next_ifd = tiff.ifd(offset)
            start = tiff.first_int(entries.get(TAG_JPEG_OFFSET))
            length = tiff.first_int(entries.get(TAG_JPEG_LENGTH))
            if start and length:
                spans.append((tiff.base + start, length))
            strips = entries.get(TAG_STRIP_OFFSETS)
            if tiff.first_int(entries.get(TAG_COMPRESSION)) in JPEG_COMPRESSIONS and strips:
                lengths = entries.get(TAG_STRIP_BYTE_COUNTS)
                if strips.count == 1 and lengths and lengths.count == 1:
                    spans.append((tiff.base + tiff.first_int(strips), tiff.first_int(lengths)))
            panasonic = entries.get(TAG_PANASONIC_JPG_FROM_RAW)
            if panasonic and panasonic.kind == 7 and panasonic.count > 4:
                spans.append((panasonic.at, panasonic.count))
            queue.extend(tiff.ints(entries.get(TAG_SUB_IFDS), limit=MAX_IFDS))
            queue.extend(tiff.ints(entries.get(TAG_EXIF_IFD), limit=1))
            queue.append(next_ifd)
        except (struct.error, ValueError, IndexError, TypeError):
            continue  # a damaged IFD: the others may still lead to a preview
    past_end = any(start >= len(buf) for start, _length in spans)
    return spans, past_end


def _scanned_candidates(buf: mmap.mmap, skip: int | None) -> Iterator[_EmbeddedJpeg]:
    position, attempts = 0, 0
    while attempts < MAX_SCANNED_CANDIDATES:
        start = buf.find(SOI, position)
        if start < 0:
            return
        position = start + 1
        if start == skip:
            continue
        attempts += 1
        end = _jpeg_end(buf, start)
        candidate = _opened_candidate(buf, start, end if end is not None else len(buf))
        if candidate is not None:
            yield candidate


def _opened_candidate(buf: mmap.mmap, start: int, end: int) -> _EmbeddedJpeg | None:
    """The JPEG at ``buf[start:end]`` if Pillow opens it (headers only, no decoding)."""
    if not 0 <= start < len(buf) or buf[start : start + 3] != SOI:
        return None
    complete = end <= len(buf)
    end = min(end, len(buf))
    try:
        width, height = JpegImagePlugin.JpegImageFile(_Window(buf, start, end)).size
    except Exception:  # not a JPEG after all, or one Pillow cannot read: not a candidate
        return None
    if _too_many_pixels(width, height):
        return None
    return _EmbeddedJpeg(start, end, width, height, complete)


def _jpeg_end(buf: mmap.mmap, start: int) -> int | None:
    """Where the JPEG at ``start`` ends (after its EOI marker), None when it is cut short or its
    structure is broken: segment by segment, then each scan's data to the next marker."""
    position, size = start + 2, len(buf)
    try:
        while position + 2 <= size:
            if buf[position] != 0xFF:
                return None
            marker = buf[position + 1]
            if marker == 0xFF:
                position += 1
            elif marker == JPEG_END_OF_IMAGE:
                return position + 2
            elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
                position += 2
            else:
                (length,) = struct.unpack_from(">H", buf, position + 2)
                if length < 2:
                    return None
                position += 2 + length
                if marker == JPEG_START_OF_SCAN:
                    following = NEXT_MARKER.search(buf, position)
                    if following is None:
                        return None
                    position = following.start()
    except struct.error:
        return None
    return None


# --- decoding and encoding ----------------------------------------------------------------------


def _decoded_preview_source(
    buf: mmap.mmap, file_format: str, label: str, long_edge: int
) -> Image.Image:
    """The image a preview is made from, decoded at the smallest draft scale that still covers
    ``long_edge``."""
    if file_format == "jpeg":
        try:
            return _decoded_jpeg(buf, 0, len(buf), long_edge)
        except PreviewUnavailable as failure:
            # A JPEG cut inside its own headers may still hold an intact EXIF thumbnail.
            try:
                candidates = _embedded_jpegs(buf, file_format, label)
            except PreviewUnavailable:
                raise failure from None
            return _first_decodable(buf, candidates, long_edge)
    return _first_decodable(buf, _embedded_jpegs(buf, file_format, label), long_edge)


def _cheapest_first(candidates: list[_EmbeddedJpeg], long_edge: int) -> list[_EmbeddedJpeg]:
    """The smallest complete JPEG that still covers the preview first: a RAW often embeds a
    ~1600 px preview beside its full-size JPEG, and decoding it costs a fraction (a D7100's
    1620 x 1080 preview: about 40 ms, against 90 ms for its 6000 x 4000 JPEG at 1/4 scale)."""
    enough = round(long_edge * DRAFT_SLACK)
    covering = [c for c in candidates if c.complete and max(c.width, c.height) >= enough]
    covering.sort(key=lambda c: c.area)
    return covering + [c for c in candidates if c not in covering]


def _first_decodable(
    buf: mmap.mmap, candidates: list[_EmbeddedJpeg], long_edge: int
) -> Image.Image:
    first_failure = None
    for candidate in _cheapest_first(candidates, long_edge)[:MAX_DECODE_ATTEMPTS]:
        try:
            return _decoded_jpeg(buf, candidate.start, candidate.end, long_edge)
        except PreviewUnavailable as failure:
            first_failure = first_failure or failure
    raise first_failure or PreviewUnavailable("no embedded preview could be decoded")


def _decoded_jpeg(buf: mmap.mmap, start: int, end: int, long_edge: int) -> Image.Image:
    """The JPEG at ``buf[start:end]`` decoded in draft mode.

    Cut short, it decodes as far as its data goes and the rest is filled flat: a photographer
    sees what is there, and the band shows the file is damaged (a thumbnail would hide that).
    """
    try:
        # JpegImageFile rather than Image.open: it reads no further than the first image of an
        # MPO, and skips Pillow's decompression-bomb warning, which would fire for the 100 MP
        # JPEGs of medium-format cameras; _too_many_pixels applies Pillow's hard limit instead.
        image = JpegImagePlugin.JpegImageFile(_Window(buf, start, end))
    except Exception as error:
        raise PreviewUnavailable(_damage_reason(error)) from error
    width, height = image.size
    if _too_many_pixels(width, height):
        raise PreviewUnavailable(
            f"the image claims {width:,} x {height:,} pixels, too many to preview safely"
        )
    image.draft("RGB", _fitted(image.size, round(long_edge * DRAFT_SLACK)))
    try:
        image.load()
    except Exception as error:
        raise PreviewUnavailable(_damage_reason(error)) from error
    return image


def _too_many_pixels(width: int, height: int) -> bool:
    # Pillow refuses images above twice MAX_IMAGE_PIXELS; draft mode keeps anything below it
    # small in memory (a 179 MP JPEG decodes at 1/8 scale to 2.8 MP for a 1600 px preview).
    limit = Image.MAX_IMAGE_PIXELS
    return limit is not None and width * height > 2 * limit


def _render_embedded(
    path: Path, file_format: str, orientation: int | None, long_edge: int
) -> bytes:
    """The preview of a JPEG, or of the largest JPEG embedded in a RAW."""
    with _reading(), _mapped(path) as buf:
        if orientation is None:
            orientation = _orientation_in(buf, file_format)
        image = _decoded_preview_source(buf, file_format, _label(path), long_edge)
        return _encoded(image, orientation, long_edge)


def _render_with_pillow(
    path: Path, file_format: str, orientation: int | None, long_edge: int
) -> bytes:
    with _reading(), open_to_read(path) as handle:
        try:
            opened = _open_with_pillow(handle, file_format)
        except UnidentifiedImageError as error:
            label = _label(path)
            raise PreviewUnavailable(
                f"not an image Pillow can read (a damaged {label}?)"
            ) from error
        with opened as image:
            stored = _valid_orientation(image.getexif().get(ORIENTATION_TAG))
            image.draft("RGB", _fitted(image.size, round(long_edge * DRAFT_SLACK)))
            image.load()
            if stored is not None and ORIENTATION_TAG not in image.getexif():
                orientation = 1  # Pillow turned a TIFF upright as it loaded it
            elif orientation is None:
                orientation = stored
            return _encoded(image, orientation, long_edge)


def _open_with_pillow(handle: BinaryIO, file_format: str) -> Image.Image:
    formats = OPENED_BY_PILLOW[file_format]
    try:
        return Image.open(handle, formats=formats)
    except UnidentifiedImageError:
        # Pillow reads AVIF itself; HEIC needs the pillow-heif plugin, used when installed.
        if file_format != "heif":
            raise
        if not _pillow_heif_registered():
            raise PreviewUnavailable(
                "HEIF previews need pillow-heif, which is not installed"
            ) from None
        return Image.open(handle)


@functools.cache
def _pillow_heif_registered() -> bool:
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


# A JPEG decodes fastest at 1/2, 1/4 or 1/8 of its size (draft mode). A scale that lands within
# 10% under the long edge is taken as it is: a 24 MP camera JPEG (6000 px) then decodes at
# 1/4 to 1500 px with no resize, in about half the time of 1/2 scale plus a resize to 1600.
DRAFT_SLACK = 0.9
OVERSIZE_SLACK = 1.1  # a preview may be up to 10% over the long edge rather than resized


def _fitted(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    width, height = size
    if max(width, height) <= long_edge:
        return width, height
    scale = long_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encoded(image: Image.Image, orientation: int | None, long_edge: int) -> bytes:
    icc_profile = image.info.get("icc_profile")
    image = _displayable(image)
    size = _fitted(image.size, long_edge)
    # Within 10% over the long edge, the image is kept as it is: a resize of 2 MP costs more
    # here (35-45 ms) than the decode it follows, for a difference no one sees.
    if max(image.size) <= long_edge * OVERSIZE_SLACK:
        size = image.size
    if size != image.size:
        # BOX averages the source pixels each preview pixel covers: after the draft-mode decode
        # the factor left is under 2, where Pillow rates it as good as BILINEAR for downscaling,
        # and it costs a third less (Lanczos: over 3x more, for a sharpness few previews show).
        image = image.resize(size, Image.Resampling.BOX)
    if orientation in UPRIGHT:
        image = image.transpose(UPRIGHT[orientation])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=PREVIEW_QUALITY, icc_profile=icc_profile)
    return out.getvalue()


def _displayable(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB or grey, which is what a JPEG holds."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGBA", image.size, (128, 128, 128, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")
