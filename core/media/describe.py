"""A file's description: what it is by its first bytes, its EXIF, whether a JPEG holds all of
its image data and the marks of the XMP it carries (or is, for a sidecar), made from the file's
bytes in one read. The scan makes them from the bytes it has just hashed (so a new file is read
once), the media workers from the file's path when the scan did not; the catalogue keeps the
scan's as a record until the file is grouped (a sidecar's, for as long as it is unchanged).
"""

from __future__ import annotations

import json
import mmap
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.darktable.sidecar import (
    MAX_SIDECAR_BYTES,
    Sidecar,
    SidecarError,
    XmpMarks,
    embedded_xmp_in,
    sidecar_in,
)
from core.files import open_to_read
from core.media.kinds import kind_from_name
from core.media.metadata import Metadata, metadata_in
from core.media.preview import Buffer, as_file, jpeg_damage
from core.media.sniff import HEAD_BYTES, Sniffed, sniff_bytes

# The marks an XMP gives a photo; or why it could not be read; None: there is none.
XmpFound = XmpMarks | str | None


@dataclass(frozen=True)
class Description:
    path: str
    sniffed: Sniffed
    metadata: Metadata
    damage: str | None = None  # what is wrong with a picture that is shown anyway (cut short)
    # The marks of the XMP a JPEG carries, or a sidecar is (core.triage.sidecar_read).
    xmp: XmpFound = None

    def as_record(self) -> str:
        """The description as the catalogue keeps it until the file is grouped (no path: the
        record is the file's; what is None is left out, to keep it short)."""
        sniffed = self.sniffed
        found = {
            "format": sniffed.format,
            "kind": sniffed.kind,
            "reason": sniffed.reason,
            "damage": self.damage,
            "metadata": _present(self.metadata.as_dict()),
            "xmp": self.xmp,
        }
        return json.dumps(_present(found), separators=(",", ":"))

    @classmethod
    def from_record(cls, path: str, record: str) -> Description:
        found = json.loads(record)
        sniffed = Sniffed(found["format"], found["kind"], found.get("reason"))
        metadata = Metadata(**found["metadata"])
        return cls(path, sniffed, metadata, found.get("damage"), _xmp(found))


def _present(values: dict) -> dict:
    return {name: value for name, value in values.items() if value is not None}


def describe_content(path: str, content: Buffer) -> Description:
    """The description of the file at ``path`` from ``content``, all of its bytes (read, or
    mapped). Pillow and exifread warn about damaged files on stderr, which would garble a
    terminal app: what is wrong with a file is recorded with it instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sniffed = sniff_bytes(content[:HEAD_BYTES], os.path.basename(path), len(content))
        is_jpeg = sniffed.format == "jpeg"
        damage = jpeg_damage(content) if is_jpeg else None
        metadata = metadata_in(content, sniffed)
        if is_jpeg:
            xmp = _marks(lambda: embedded_xmp_in(as_file(content), Path(path)))
        elif kind_from_name(os.path.basename(path)) == "xmp":  # a sidecar, whatever it holds
            xmp = _marks(lambda: sidecar_in(content[: MAX_SIDECAR_BYTES + 1], Path(path)))
        else:
            xmp = None
        return Description(path, sniffed, metadata, damage, xmp)


def recorded_xmp(record: str) -> XmpFound:
    """The XMP marks a file's record holds (a sidecar's, or a JPEG's own), without the rest."""
    return _xmp(json.loads(record))


def _xmp(found: dict) -> XmpFound:
    xmp = found.get("xmp")
    return tuple(xmp) if isinstance(xmp, list) else xmp


def _marks(read: Callable[[], Sidecar | None]) -> XmpFound:
    try:
        xmp = read()
    except SidecarError as error:
        return str(error)
    except OSError as error:  # a segment length before the start: as its file would say
        return f"cannot be read: {error.strerror or error}"
    return None if xmp is None else xmp.marks


def describe_file(path: str) -> Description:
    """The description of the file at ``path``, read from it (mapped: only the pages the
    readers touch are read). An unreadable file is "unreadable", with the reason."""
    try:
        with open_to_read(path) as handle:  # a FIFO now where a photo was: a reason, no hang
            if os.fstat(handle.fileno()).st_size == 0:
                return describe_content(path, b"")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return describe_content(path, mapped)
    except (OSError, ValueError) as error:  # ValueError: cut to nothing before it was mapped
        reason = f"cannot be read: {getattr(error, 'strerror', None) or error}"
        return Description(path, Sniffed("unreadable", "other", reason), Metadata(error=reason))


def describe_files(paths: list[str]) -> list[Description]:
    """Describe each file, reading it from its path (the media workers' task)."""
    return [describe_file(path) for path in paths]
