"""A photo's metadata: capture time with its offset, camera, lens, exposure, pixel size,
orientation, GPS, from its EXIF (a JPEG's pixel size from its frame header, a TIFF-based RAW's
from its full-size image's IFD, not IFD0's thumbnail). Read with exifread
in its fast mode (``details=False``: maker notes are 40x slower and hold nothing shown here).
Never raises: a corrupt or looping EXIF gives what could be read, plus the error.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import exifread

from core.files import open_to_read
from core.media.preview import (
    Buffer,
    as_file,
    jpeg_frame_size,
    jpeg_pixel_size,
    raw_full_size,
    raw_pixel_size,
)
from core.media.sniff import Sniffed, sniff

# exifread logs every oddity of every file at WARNING: our errors are recorded per photo.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

CR3_BOXES = (b"CMT1", b"CMT2")  # CR3 keeps IFD0 and the EXIF IFD as TIFF blobs in these boxes
CR3_HEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class Metadata:
    # The instant of capture in unix seconds when the camera wrote its UTC offset; otherwise
    # the camera's wall clock read as if it were UTC (capture_offset None: "local time").
    capture_time: float | None = None
    capture_offset: str | None = None  # "+02:00"
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    exposure_time: str | None = None  # "1/250", "2.5"
    aperture: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None  # 1..8
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        # Plain values only: a shallow copy (dataclasses.asdict deep-copies each one, which
        # was a fifth of the writer's time describing a first index).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _number(value: Any) -> float | None:
    """An exifread value (Ratio, int, list of one) as a float; None when it is not one."""
    try:
        first = value.values[0] if hasattr(value, "values") else value
        if isinstance(first, (list, tuple)):
            first = first[0]
        number = float(first.num) / float(first.den) if hasattr(first, "den") else float(first)
    except (IndexError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    return number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value.printable if hasattr(value, "printable") else value).strip().strip("\x00")
    return text or None


class _Tags:
    """exifread's tags by their short name, whatever IFD they came from (EXIF first)."""

    def __init__(self, tags: dict[str, Any]) -> None:
        self.tags = tags
        self.by_name: dict[str, Any] = {}
        for key in sorted(tags, key=lambda k: (not k.startswith("EXIF "), k)):
            ifd, _, name = key.partition(" ")
            if name and ifd not in ("Thumbnail", "MakerNote"):
                self.by_name.setdefault(name, tags[key])

    def get(self, name: str) -> Any:
        return self.by_name.get(name)


def _exposure(value: Any) -> str | None:
    seconds = _number(value)
    if seconds is None or seconds <= 0:
        return None
    if seconds >= 1:
        return f"{seconds:g}"
    return f"1/{round(1 / seconds)}"


def _offset(text: str | None) -> timezone | None:
    if not text or len(text) < 6 or text[0] not in "+-":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    sign = 1 if text[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _capture(tags: _Tags) -> tuple[float | None, str | None]:
    """The instant of capture (see ``Metadata.capture_time``) by the one rule in
    ``_capture_clock``, and the UTC offset when the camera wrote one."""
    clock = _capture_clock(tags)
    if clock.local is None:
        return None, None
    offset = _offset(clock.offset)
    return clock.local.replace(tzinfo=offset or UTC).timestamp(), clock.offset


def _gps_part(part: Any) -> float | None:
    """One of degrees, minutes, seconds. Phones write 0/0 for a field they did not fill (most
    often the seconds): that is 0, and the rest of the position stands."""
    if getattr(part, "num", None) == 0 and getattr(part, "den", None) == 0:
        return 0.0
    return _number([part])


def _gps(tags: dict[str, Any]) -> tuple[float | None, float | None]:
    def degrees(key: str) -> float | None:
        value = tags.get(key)
        if value is None or not hasattr(value, "values") or len(value.values) < 3:
            return None
        parts = [_gps_part(part) for part in value.values[:3]]
        if any(part is None for part in parts):
            return None
        return parts[0] + parts[1] / 60 + parts[2] / 3600

    latitude, longitude = degrees("GPS GPSLatitude"), degrees("GPS GPSLongitude")
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        return None, None  # an empty GPS block, or 0/0 written by a phone without a fix
    if (_text(tags.get("GPS GPSLatitudeRef")) or "N").upper().startswith("S"):
        latitude = -latitude
    if (_text(tags.get("GPS GPSLongitudeRef")) or "E").upper().startswith("W"):
        longitude = -longitude
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None, None
    return round(latitude, 7), round(longitude, 7)


def _size(
    tags: _Tags, raw: dict[str, Any], full_size: tuple[int, int] | None
) -> tuple[int | None, int | None]:
    width, height = _number(tags.get("ExifImageWidth")), _number(tags.get("ExifImageLength"))
    if width and height:
        return int(width), int(height)
    if full_size is not None:  # a TIFF-based RAW's full-size image
        return full_size
    # A RAW keeps several images (thumbnail, preview, sensor data): the largest is the photo.
    best = (0, 0)
    for key, value in raw.items():
        if key.endswith(" ImageWidth"):
            w = _number(value)
            h = _number(raw.get(key[: -len("ImageWidth")] + "ImageLength"))
            if w and h and w * h > best[0] * best[1]:
                best = (int(w), int(h))
    return best if best[0] else (None, None)


def _orientation(tags: _Tags) -> int | None:
    value = _number(tags.get("Orientation"))
    return int(value) if value is not None and 1 <= value <= 8 else None


def _process(data_or_file: Any) -> dict[str, Any]:
    return exifread.process_file(data_or_file, details=False, extract_thumbnail=False)


def _raf_tags(head: bytes, handle: io.BufferedReader) -> dict[str, Any]:
    """A RAF's EXIF lives in the JPEG it embeds (offset and length in the header)."""
    offset, length = struct.unpack(">II", head[84:92])
    handle.seek(offset)
    return _process(io.BytesIO(handle.read(min(length, 16 * 1024 * 1024))))


def _cr3_tags(handle: io.BufferedReader) -> dict[str, Any]:
    head = handle.read(CR3_HEAD_BYTES)
    found: dict[str, Any] = {}
    for box in CR3_BOXES:
        at = head.find(box)
        if at < 4:
            continue
        size = struct.unpack(">I", head[at - 4 : at])[0]
        tags = _process(io.BytesIO(head[at + 4 : at - 4 + size]))
        for key, value in tags.items():
            found.setdefault(
                ("EXIF " if box == b"CMT2" else "Image ") + key.split(" ", 1)[-1], value
            )
    return found


def read_metadata(path: Path | str, sniffed: Sniffed | None = None) -> Metadata:
    """Everything that could be read; ``error`` says what could not."""
    sniffed = sniffed or sniff(path)
    # A JPEG's frame header says how many pixels it has; its EXIF may not (stale after a
    # resize that kept it, or missing).
    frame = jpeg_pixel_size(path) if sniffed.format == "jpeg" else None
    # exifread's fast mode reads IFD0 (a NEF's and a DNG's is a thumbnail), not the SubIFDs.
    full_size = raw_pixel_size(path) if sniffed.format == "tiff-raw" else None
    return _metadata(*_raw_tags(path, sniffed), frame, full_size)


def metadata_in(content: Buffer, sniffed: Sniffed) -> Metadata:
    """As ``read_metadata``, from the whole file's bytes in hand (read, or mapped): the scan
    describes a file from the bytes it hashed."""
    frame = jpeg_frame_size(content) if sniffed.format == "jpeg" else None
    full_size = raw_full_size(content) if sniffed.format == "tiff-raw" else None
    reason = _why_no_tags(sniffed)
    if reason is not None:
        return _metadata(None, reason, frame, full_size)
    return _metadata(*_tags_read(as_file(content), sniffed), frame, full_size)


def _metadata(
    raw: dict[str, Any] | None,
    error: str | None,
    frame: tuple[int, int] | None,
    full_size: tuple[int, int] | None,
) -> Metadata:
    if raw is None:
        metadata = Metadata(error=error)
    else:
        try:
            metadata = _from_tags(raw, full_size)
        except Exception as error:
            metadata = Metadata(error=f"EXIF is damaged: {type(error).__name__}: {error}")
    if frame is not None:
        metadata = replace(metadata, width=frame[0], height=frame[1])
    return metadata


@dataclass(frozen=True)
class CaptureClock:
    """When the camera says the photo was taken, as its own clock read it: the day on the
    camera's calendar is the photographer's day, whatever the UTC offset."""

    local: datetime | None  # the camera's wall clock, no time zone
    offset: str | None = None  # "+02:00", when the camera wrote it
    source: str | None = None  # the EXIF tag it came from
    error: str | None = None  # why there is none
    make: str | None = None  # the camera, for folder names
    model: str | None = None


# Best first: when the shutter fired, then when the picture was digitised (scanners, some
# phones write only this). Image DateTime is when the file was last changed: not a capture date.
CAPTURE_TAGS = (
    ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal"),
    ("DateTimeDigitized", "SubSecTimeDigitized", "OffsetTimeDigitized"),
)


def read_capture_clock(path: Path | str, sniffed: Sniffed | None = None) -> CaptureClock:
    raw, error = _raw_tags(path, sniffed)
    if raw is None:
        return CaptureClock(None, error=error)
    return _capture_clock(_Tags(raw))


def _capture_clock(tags: _Tags) -> CaptureClock:
    """The capture time by CAPTURE_TAGS, best first: the one rule for the catalogue's capture
    time and ingest's dated folders."""
    camera = {"make": _text(tags.get("Make")), "model": _text(tags.get("Model"))}
    reasons = []
    for tag, subsec_tag, offset_tag in CAPTURE_TAGS:
        text = _text(tags.get(tag))
        if not text:
            continue
        try:
            wall = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            reasons.append(f"{tag} {text!r} is not a date")
            continue
        subsec = _text(tags.get(subsec_tag))
        if subsec and subsec.isdigit():
            wall += timedelta(seconds=float("0." + subsec))
        offset_text = _text(tags.get(offset_tag))
        offset = offset_text[:6] if _offset(offset_text) is not None else None
        return CaptureClock(wall, offset, tag, **camera)
    return CaptureClock(None, error="; ".join(reasons) or "no capture date in the EXIF", **camera)


def _raw_tags(
    path: Path | str, sniffed: Sniffed | None
) -> tuple[dict[str, Any] | None, str | None]:
    """exifread's tags of the file, or None and why not."""
    sniffed = sniffed or sniff(path)
    reason = _why_no_tags(sniffed)
    if reason is not None:
        return None, reason
    try:
        with open_to_read(path) as handle:
            return _tags_read(handle, sniffed)
    except OSError as error:
        return None, f"EXIF could not be read: {type(error).__name__}: {error}"


def _why_no_tags(sniffed: Sniffed) -> str | None:
    """Why no EXIF is read from a file of this kind; None: it is read."""
    if not sniffed.usable:
        return sniffed.reason
    if sniffed.format in ("crw", "video", "xmp", "html", "unknown"):
        return f"no EXIF read from {sniffed.format.upper()} files"
    return None


def _tags_read(handle: Any, sniffed: Sniffed) -> tuple[dict[str, Any] | None, str | None]:
    """exifread's tags from an open file (or a file-like view of its bytes), or None and why."""
    try:
        if sniffed.format == "raf":
            raw = _raf_tags(handle.read(92), handle)
        elif sniffed.format == "cr3":
            raw = _cr3_tags(handle)
        else:
            raw = _process(handle)
    except Exception as error:  # exifread on a hostile file can raise nearly anything
        return None, f"EXIF could not be read: {type(error).__name__}: {error}"
    if not raw:
        return None, "no EXIF in this file"
    return raw, None


def _from_tags(raw: dict[str, Any], full_size: tuple[int, int] | None = None) -> Metadata:
    tags = _Tags(raw)
    capture_time, capture_offset = _capture(tags)
    latitude, longitude = _gps(raw)
    width, height = _size(tags, raw, full_size)
    iso = _number(tags.get("ISOSpeedRatings")) or _number(tags.get("PhotographicSensitivity"))
    aperture = _number(tags.get("FNumber"))
    focal = _number(tags.get("FocalLength"))
    lens = _text(tags.get("LensModel"))
    return Metadata(
        capture_time=capture_time,
        capture_offset=capture_offset,
        camera_make=_text(tags.get("Make")),
        camera_model=_text(tags.get("Model")),
        lens=lens,
        exposure_time=_exposure(tags.get("ExposureTime")),
        aperture=round(aperture, 2) if aperture else None,
        iso=int(iso) if iso else None,
        focal_length=round(focal, 2) if focal else None,
        width=width,
        height=height,
        orientation=_orientation(tags),
        gps_latitude=latitude,
        gps_longitude=longitude,
    )
