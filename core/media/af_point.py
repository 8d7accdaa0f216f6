"""The camera's AF point, from its maker notes: where it focused, as fractions (0-1) of the
upright picture, for the makers whose notes record it in a form read here.

Read (ExifTool's descriptions of the maker notes; the values checked on the camera samples):

- Canon: AFInfo2 (0x0026, most bodies since ~2004) and AFInfo (0x0012, older ones): the AF
  areas and which of them were in focus; the point is the centre of those in focus.
- Nikon: AFInfo2 (0x00B7): the AF area's coordinates in live view and on the Z bodies
  (versions 0100/0101 contrast-detect, 0300/0301, 0400-0402), and the 11-point layout of the
  D90/D80/D200 class by name (others have grids not read here).
- Sony: FocusLocation (0x2027): the picture's size and the focus point in it.
- Fujifilm: FocusPixel (0x1023), in pixels of the full picture.

Not read: Olympus/OM (its AF point is in a CameraSettings sub-IFD exifread does not open, and
no sample here records one), Panasonic, Pentax and the phones.

exifread shows which of these tags a camera writes (Nikon's AFInfo2 as bytes, Sony's
FocusLocation as ``MakerNote Tag 0x2027``, Fujifilm's FocusPixel) but flattens Canon's arrays and
costs up to 150 ms a photo reading a whole maker note byte by byte; the few tags needed are
read here straight from the file's mapped bytes with the preview module's TIFF reader, in well
under a millisecond.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from core.media.preview import (
    CR3_HEAD_BYTES,
    PreviewUnavailable,
    _jpeg_exif,
    _mapped,
    _Tiff,
)
from core.media.sniff import sniff

EXIF_IFD = 0x8769
MAKE = 0x010F
ORIENTATION = 0x0112
MAKER_NOTE = 0x927C
EXIF_WIDTH, EXIF_HEIGHT = 0xA002, 0xA003

CANON_AF_INFO, CANON_AF_INFO_2 = 0x0012, 0x0026
NIKON_AF_INFO_2 = 0x00B7
SONY_FOCUS_LOCATION = 0x2027
FUJIFILM_FOCUS_PIXEL = 0x1023

# Nikon's 11-point layout (D90, D80, D200, D7000's predecessors), the bit of each point in
# AFInfo2's AFPointsUsed, and where it sits in the frame (fractions, from the viewfinder).
NIKON_11_POINTS = (
    (0.50, 0.50),  # Center
    (0.50, 0.33),  # Top
    (0.50, 0.67),  # Bottom
    (0.37, 0.50),  # Mid-left
    (0.63, 0.50),  # Mid-right
    (0.37, 0.39),  # Upper-left
    (0.63, 0.39),  # Upper-right
    (0.37, 0.61),  # Lower-left
    (0.63, 0.61),  # Lower-right
    (0.24, 0.50),  # Far Left
    (0.76, 0.50),  # Far Right
)
NIKON_11_POINT_SCHEMA = 2  # AFInfo2 V0100's PhaseDetectAF: "On (11-point)"
# Where the AF area's coordinates are in AFInfo2, by version: (image width, height, x, y).
NIKON_COORDINATES = {"03": 0x2A, "04": 0x3E}


@dataclass(frozen=True)
class AFPoint:
    x: float  # fractions of the upright picture, 0 at the left / top
    y: float
    source: str  # the maker note tag it came from, e.g. "Nikon AFInfo2"


def read_af_point(path: Path | str) -> AFPoint | None:
    """The AF point the camera recorded, turned upright by the EXIF orientation; None when the
    file records none that is read here (or cannot be read: an AF point is a help, never a
    reason for a photo to fail)."""
    sniffed = sniff(path)
    if sniffed.reason is not None or sniffed.format not in ("jpeg", "tiff-raw", "raf", "cr3"):
        return None
    try:
        with _mapped(Path(path)) as buf:
            found = _read(buf, sniffed.format)
    except (PreviewUnavailable, OSError, ValueError, struct.error, IndexError):
        return None
    if found is None:
        return None
    (x, y), orientation, source = found
    if not (0 <= x <= 1 and 0 <= y <= 1):
        return None  # a damaged or misread note: no point rather than a wrong one
    x, y = upright(x, y, orientation)
    return AFPoint(round(x, 4), round(y, 4), source)


def upright(x: float, y: float, orientation: int | None) -> tuple[float, float]:
    """A point of the stored picture (fractions) where it is once the picture is turned as
    its EXIF orientation says (as PIL.ImageOps.exif_transpose turns the pixels)."""
    return {
        2: (1 - x, y),
        3: (1 - x, 1 - y),
        4: (x, 1 - y),
        5: (y, x),
        6: (1 - y, x),
        7: (1 - y, 1 - x),
        8: (y, 1 - x),
    }.get(orientation or 1, (x, y))


# --- inside ---------------------------------------------------------------------------------


def _read(buf: mmap.mmap, file_format: str) -> tuple[tuple[float, float], int | None, str] | None:
    if file_format == "cr3":
        return _read_cr3(buf)
    if file_format == "jpeg":
        tiff = _jpeg_exif(buf, 0)
    elif file_format == "raf":  # a RAF starts with a JPEG whose EXIF is the camera's
        (jpeg_start,) = struct.unpack_from(">I", buf, 84)
        tiff = _jpeg_exif(buf, jpeg_start)
    else:
        tiff = _Tiff.at(buf, 0)
    if tiff is None:
        return None
    ifd0, _next = tiff.ifd(tiff.first_ifd)
    orientation = tiff.first_int(ifd0.get(ORIENTATION))
    make = _text(buf, ifd0.get(MAKE)).upper()
    exif_at = tiff.first_int(ifd0.get(EXIF_IFD))
    if exif_at is None:
        return None
    exif, _next = tiff.ifd(exif_at)
    note = exif.get(MAKER_NOTE)
    if note is None:
        return None
    size = (tiff.first_int(exif.get(EXIF_WIDTH)), tiff.first_int(exif.get(EXIF_HEIGHT)))
    for maker, reader in (
        ("CANON", _canon),
        ("NIKON", _nikon),
        ("SONY", _sony),
        ("FUJIFILM", _fujifilm),
    ):
        if make.startswith(maker):
            point = reader(buf, tiff, note.at, size)
            return (point[0], orientation, point[1]) if point else None
    return None


def _read_cr3(buf: mmap.mmap) -> tuple[tuple[float, float], int | None, str] | None:
    """A CR3 keeps IFD0 in its CMT1 box and the Canon maker notes, as a TIFF, in CMT3."""
    orientation = None
    box = buf.find(b"CMT1", 0, CR3_HEAD_BYTES)
    if box >= 0 and (ifd0_tiff := _Tiff.at(buf, box + 4)) is not None:
        orientation = ifd0_tiff.orientation()
    box = buf.find(b"CMT3", 0, CR3_HEAD_BYTES)
    notes = _Tiff.at(buf, box + 4) if box >= 0 else None
    if notes is None:
        return None
    point = _canon_entries(notes, notes.ifd(notes.first_ifd)[0])
    return (point[0], orientation, point[1]) if point else None


def _canon(buf: mmap.mmap, tiff: _Tiff, note_at: int, _size) -> tuple | None:
    # Canon's maker note is an IFD whose offsets count from the EXIF's TIFF header.
    entries, _next = tiff.ifd(note_at - tiff.base)
    return _canon_entries(tiff, entries)


def _canon_entries(tiff: _Tiff, entries: dict) -> tuple | None:
    """The centre of the AF areas in focus: positions count from the centre of an
    AFImageWidth x AFImageHeight picture, y upwards."""
    if CANON_AF_INFO_2 in entries:
        values = _signed(tiff.ints(entries[CANON_AF_INFO_2], limit=1024))
        if len(values) < 8:
            return None
        count, width, height = values[2], values[6], values[7]
        xs_at, focus_at = 8 + 2 * count, 8 + 4 * count
        source = "Canon AFInfo2"
    elif CANON_AF_INFO in entries:
        values = _signed(tiff.ints(entries[CANON_AF_INFO], limit=1024))
        if len(values) < 8:
            return None
        count, width, height = values[0], values[4], values[5]
        xs_at, focus_at = 8, 8 + 2 * count
        source = "Canon AFInfo"
    else:
        return None
    words = (count + 15) // 16
    if count <= 0 or width <= 0 or height <= 0 or len(values) < focus_at + words:
        return None
    xs, ys = values[xs_at : xs_at + count], values[xs_at + count : xs_at + 2 * count]
    in_focus = [
        index
        for index in range(count)
        if values[focus_at + index // 16] & 0xFFFF & (1 << (index % 16))
    ]
    if not in_focus:
        return None  # manual focus, or the camera did not focus
    x = sum(xs[index] for index in in_focus) / len(in_focus)
    y = sum(ys[index] for index in in_focus) / len(in_focus)
    return (0.5 + x / width, 0.5 - y / height), source


def _nikon(buf: mmap.mmap, tiff: _Tiff, note_at: int, _size) -> tuple | None:
    if buf[note_at : note_at + 6] == b"Nikon\x00" and buf[note_at + 6] == 2:
        # "Nikon\0" 02 xx 00 00, then a TIFF of its own (offsets from its header).
        notes = _Tiff.at(buf, note_at + 10)
        if notes is None:
            return None
        entries, _next = notes.ifd(notes.first_ifd)
    else:  # the older notes: an IFD with the EXIF's offsets, after "Nikon\0\1\0" or bare
        notes = tiff
        start = note_at + 8 if buf[note_at : note_at + 6] == b"Nikon\x00" else note_at
        entries, _next = tiff.ifd(start - tiff.base)
    entry = entries.get(NIKON_AF_INFO_2)
    if entry is None or entry.count < 8:
        return None
    data = bytes(buf[entry.at : entry.at + min(entry.count, 256)])
    version = data[:4].decode("ascii", "replace")
    at = NIKON_COORDINATES.get(version[:2])
    if at is not None:
        if data[7] != 1:  # AFCoordinatesAvailable
            return None
        return _nikon_area(data, at, notes.order)
    if version.startswith("01"):
        if data[4] == 1:  # contrast-detect (live view): an area in an AF image
            return _nikon_area(data, 0x10, notes.order)
        if data[6] == NIKON_11_POINT_SCHEMA and len(data) >= 10:
            used = data[8] | data[9] << 8
            points = [NIKON_11_POINTS[bit] for bit in range(11) if used & (1 << bit)]
            if points:
                return (
                    sum(x for x, _ in points) / len(points),
                    sum(y for _, y in points) / len(points),
                ), "Nikon AFInfo2"
    return None


def _nikon_area(data: bytes, at: int, order: str) -> tuple | None:
    if len(data) < at + 8:
        return None
    width, height, x, y = struct.unpack_from(order + "4H", data, at)
    if not width or not height:
        return None
    return (x / width, y / height), "Nikon AFInfo2"


def _sony(buf: mmap.mmap, tiff: _Tiff, note_at: int, _size) -> tuple | None:
    # "SONY DSC \0\0\0" (or another 12-byte label) before the IFD in most bodies; bare in some.
    start = note_at + 12 if buf[note_at : note_at + 4] == b"SONY" else note_at
    entries, _next = tiff.ifd(start - tiff.base)
    values = tiff.ints(entries.get(SONY_FOCUS_LOCATION), limit=4)
    if len(values) < 4 or not values[0] or not values[1]:
        return None
    width, height, x, y = values
    return (x / width, y / height), "Sony FocusLocation"


def _fujifilm(buf: mmap.mmap, _tiff: _Tiff, note_at: int, size) -> tuple | None:
    # "FUJIFILM", then the IFD's offset; offsets count from the note, little-endian always.
    if buf[note_at : note_at + 8] != b"FUJIFILM":
        return None
    notes = _Tiff(buf, note_at, "<")
    (ifd_at,) = struct.unpack_from("<I", buf, note_at + 8)
    entries, _next = notes.ifd(ifd_at)
    values = notes.ints(entries.get(FUJIFILM_FOCUS_PIXEL), limit=2)
    width, height = size
    if len(values) < 2 or not width or not height:
        return None
    return (values[0] / width, values[1] / height), "Fujifilm FocusPixel"


def _signed(values: tuple[int, ...]) -> list[int]:
    """int16u values read as the int16s Canon stores."""
    return [value - 0x10000 if value >= 0x8000 else value for value in values]


def _text(buf: mmap.mmap, entry) -> str:
    if entry is None:
        return ""
    return (
        bytes(buf[entry.at : entry.at + min(entry.count, 64)])
        .split(b"\0")[0]
        .decode("ascii", "replace")
    )
