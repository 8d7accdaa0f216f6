"""What a file really is, from its first bytes, not its name.

A ``.JPG`` that is an HTML page (a failed download), a ``.NEF`` that is a JPEG, a zero-byte
``.CR2``: each gets its true format and, when it is not a usable photo, a reason for a person.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.files import open_to_read
from core.media.kinds import RAW_EXTENSIONS

HEAD_BYTES = 4096
HEIF_BRANDS = frozenset((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
                         b"avif", b"avis"))  # fmt: skip
VIDEO_BRANDS = frozenset((b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"M4A ", b"avc1",
                          b"3gp4", b"3gp5", b"3g2a", b"XAVC", b"MSNV", b"dash"))  # fmt: skip
TIFF_RAW_EXTENSIONS = RAW_EXTENSIONS - {".cr3", ".crw", ".raf", ".x3f", ".mrw"}


# What each format is to the catalogue, and which formats are no photo at all.
FORMAT_KINDS = {
    "jpeg": "jpeg", "tiff-raw": "raw", "crw": "raw", "raf": "raw", "cr3": "raw", "heif": "heif",
    "video": "video", "xmp": "xmp",
}  # fmt: skip
NOT_PHOTOS = frozenset(("html", "empty", "unknown", "unreadable"))


@dataclass(frozen=True)
class Sniffed:
    format: str  # jpeg, tiff-raw, tiff, cr3, crw, raf, heif, png, video, xmp, html, empty, ...
    kind: str  # the catalogue's file kind: raw, jpeg, heif, video, xmp, other
    reason: str | None = None  # why it is not a usable photo, when it is not

    @property
    def usable(self) -> bool:
        return self.reason is None


def _ftyp(head: bytes) -> bytes | None:
    """The major brand of an ISO base media file (MP4, MOV, HEIF, CR3), if it is one."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return head[8:12]
    return None


def sniff_bytes(head: bytes, name: str, size: int) -> Sniffed:
    """Classify by content; ``name`` only tells TIFF-based RAW from a plain TIFF and adds to the
    reason when the two disagree."""
    extension = os.path.splitext(name)[1].lower()
    if size == 0:
        return Sniffed("empty", "other", "an empty file (0 bytes)")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("jpeg", "jpeg")
    if head.startswith((b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"IIU\x00")):
        # ORF (IIRO/IIRS) and RW2 (IIU) are TIFF variants; a TIFF named like a RAW is one.
        if head.startswith((b"IIRO", b"IIRS", b"IIU\x00")) or extension in TIFF_RAW_EXTENSIONS:
            return Sniffed("tiff-raw", "raw")
        return Sniffed("tiff", "other")
    if head.startswith(b"II\x1a\x00\x00\x00HEAPCCDR"):
        return Sniffed("crw", "raw")
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return Sniffed("raf", "raw")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("png", "other")
    brand = _ftyp(head)
    if brand == b"crx ":
        return Sniffed("cr3", "raw")
    if brand in HEIF_BRANDS:
        return Sniffed("heif", "heif")
    if brand is not None or head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return Sniffed("video", "video")
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed("video", "video")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return Sniffed("video", "video")
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG transport stream
        return Sniffed("video", "video")
    if len(head) > 192 and head[4] == 0x47 and head[196:197] == b"\x47":  # M2TS (AVCHD)
        return Sniffed("video", "video")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"xmpmeta" in text[:HEAD_BYTES] or text.startswith(b"<?xpacket"):
        return Sniffed("xmp", "xmp")
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Sniffed("html", "other", f"an HTML page, not a photo (named {extension or name})")
    looks_like = "a photo" if extension in RAW_EXTENSIONS or extension in (".jpg", ".jpeg") else ""
    reason = f"not {looks_like}: unknown content" if looks_like else None
    return Sniffed("unknown", "other", reason)


def sniff(path: Path | str) -> Sniffed:
    """Classify a file by its first bytes. An unreadable file is "unreadable" with the reason."""
    try:
        with open_to_read(path) as handle:  # a FIFO now where a photo was: a reason, no hang
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(HEAD_BYTES)
    except OSError as error:
        return Sniffed("unreadable", "other", f"cannot be read: {error.strerror or error}")
    return sniff_bytes(head, os.path.basename(str(path)), size)
