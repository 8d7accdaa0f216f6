"""A file's description: what it is by its first bytes, its EXIF, and whether a JPEG holds all
of its image data, made from the file's bytes in one read. The scan makes it from the bytes it
has just hashed (so a new file is read once), the media workers from the file's path when the
scan did not; the catalogue keeps the scan's as a record until the file is grouped.
"""

from __future__ import annotations

import json
import mmap
import os
import warnings
from dataclasses import dataclass

from core.files import open_to_read
from core.media.metadata import Metadata, metadata_in
from core.media.preview import Buffer, jpeg_damage
from core.media.sniff import HEAD_BYTES, Sniffed, sniff_bytes


@dataclass(frozen=True)
class Description:
    path: str
    sniffed: Sniffed
    metadata: Metadata
    damage: str | None = None  # what is wrong with a picture that is shown anyway (cut short)

    def as_record(self) -> str:
        """The description as the catalogue keeps it until the file is grouped (no path: the
        record is the file's)."""
        sniffed = self.sniffed
        return json.dumps(
            [sniffed.format, sniffed.kind, sniffed.reason, self.damage, self.metadata.as_dict()],
            separators=(",", ":"),
        )

    @classmethod
    def from_record(cls, path: str, record: str) -> Description:
        file_format, kind, reason, damage, metadata = json.loads(record)
        return cls(path, Sniffed(file_format, kind, reason), Metadata(**metadata), damage)


def describe_content(path: str, content: Buffer) -> Description:
    """The description of the file at ``path`` from ``content``, all of its bytes (read, or
    mapped). Pillow and exifread warn about damaged files on stderr, which would garble a
    terminal app: what is wrong with a file is recorded with it instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sniffed = sniff_bytes(content[:HEAD_BYTES], os.path.basename(path), len(content))
        damage = jpeg_damage(content) if sniffed.format == "jpeg" else None
        return Description(path, sniffed, metadata_in(content, sniffed), damage)


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
