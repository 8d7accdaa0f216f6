"""darktable's XMP sidecars: the per-image state darktable writes beside each image.

Reading a sidecar never disturbs darktable, and the watcher sees it change at once, so sidecars
are the first source of a photo's edit state. Parsed with entity expansion off (defusedxml): a
sidecar is untrusted input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from core.darktable.facts import LABEL_NAMES, is_altered, label_bits, split_tags
from core.files import open_to_read

MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # darktable's are a few KB; a huge one is not a sidecar
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "darktable": "http://darktable.sf.net/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
}
# (xmp:Rating, the colour label bits darktable reads, digiKam's pick): a photo's marks in an XMP.
XmpMarks = tuple[int | None, int, int | None]
PICK_LABELS = range(0, 4)  # digiKam's PickLabel: 0 none, 1 rejected, 2 pending, 3 accepted


class SidecarError(Exception):
    """A sidecar that cannot be read or is not darktable's XMP; the message says why."""


@dataclass(frozen=True)
class Sidecar:
    rating: int | None  # xmp:Rating: -1 rejected, 0..5 stars
    labels: int  # catalogue label bits
    history_end: int | None
    altered: bool
    imported: int | None  # darktable timestamps, as written
    changed: int | None
    exported: int | None
    tags: tuple[str, ...]  # lr:hierarchicalSubject (darktable leaves its own tags out)
    subjects: tuple[str, ...]  # dc:subject: the flat keywords
    derived_from: str | None  # xmpMM:DerivedFrom: the image's file name
    label: str | None = None  # xmp:Label: one colour by name (Lightroom, Bridge, digiKam)
    pick: int | None = None  # digiKam:PickLabel (PICK_LABELS); None: none, or not one of them

    @property
    def rejected(self) -> bool:
        return self.rating is not None and self.rating < 0

    @property
    def stars(self) -> int:
        return max(0, min(5, self.rating or 0))

    @property
    def marks(self) -> XmpMarks:
        """What a photo's triage takes from this XMP when it is first seen."""
        return (self.rating, self.darktable_labels, self.pick)

    @property
    def darktable_labels(self) -> int:
        """The colour labels as darktable 4.2 reads them on import: an ``xmp:Label`` (a
        colour's name, set by another tool) instead of ``darktable:colorlabels`` when there is
        one, else the colour labels."""
        if self.label is None:
            return self.labels
        name = self.label.strip().lower()
        return 1 << LABEL_NAMES.index(name) if name in LABEL_NAMES else 0


def _value(descriptions: list[Element], prefix: str, name: str) -> str | None:
    """A property written as an attribute of an rdf:Description or as a child element (in
    whichever of the packet's Descriptions has it: exiftool writes one per namespace)."""
    qualified = f"{{{NS[prefix]}}}{name}"
    for description in descriptions:
        if qualified in description.attrib:
            return description.attrib[qualified]
        child = description.find(f"{prefix}:{name}", NS)
        if child is not None and child.text is not None and not len(child):
            return child.text.strip()
    return None


def _items(descriptions: list[Element], prefix: str, name: str) -> list[str]:
    """The rdf:li texts of a Seq, Bag or Alt property."""
    for description in descriptions:
        child = description.find(f"{prefix}:{name}", NS)
        if child is not None:
            return [
                li.text.strip()
                for li in child.iterfind(".//rdf:li", NS)
                if li.text and li.text.strip()
            ]
    return []


def _int(text: str | None, path: Path, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise SidecarError(f"{path}: {name} is {text!r}, not a whole number") from None


def _pick(text: str | None) -> int | None:
    """digiKam's pick label, read as digiKam reads it: a value out of its range is no pick
    (never an unreadable sidecar)."""
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value in PICK_LABELS else None


def _hash(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def parse_sidecar(data: bytes, path: Path) -> Sidecar:
    # An encoding declaration the parser cannot use (unknown, multi-byte, or not a text codec:
    # one damaged byte of "UTF-8" is enough) raises LookupError or ValueError, not ParseError.
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, LookupError, ValueError) as error:
        raise SidecarError(f"{path} is not valid XMP: {error}") from error
    rdf = root if root.tag == f"{{{NS['rdf']}}}RDF" else root.find(".//rdf:RDF", NS)
    descriptions = [] if rdf is None else rdf.findall("rdf:Description", NS)
    if not descriptions:
        raise SidecarError(f"{path} has no rdf:Description: not an XMP sidecar")
    colors = []
    for text in _items(descriptions, "darktable", "colorlabels"):
        color = _int(text, path, "darktable:colorlabels")
        if color is not None:
            colors.append(color)
    tags, _ = split_tags(_items(descriptions, "lr", "hierarchicalSubject"))
    return Sidecar(
        rating=_int(_value(descriptions, "xmp", "Rating"), path, "xmp:Rating"),
        labels=label_bits(colors),
        history_end=_int(_value(descriptions, "darktable", "history_end"), path, "history_end"),
        altered=is_altered(
            _hash(_value(descriptions, "darktable", "history_basic_hash")),
            _hash(_value(descriptions, "darktable", "history_auto_hash")),
            _hash(_value(descriptions, "darktable", "history_current_hash")),
        )
        if _value(descriptions, "darktable", "history_current_hash") is not None
        else False,
        imported=_int(_value(descriptions, "darktable", "import_timestamp"), path, "import"),
        changed=_int(_value(descriptions, "darktable", "change_timestamp"), path, "change"),
        exported=_int(_value(descriptions, "darktable", "export_timestamp"), path, "export"),
        tags=tuple(tags),
        subjects=tuple(sorted(_items(descriptions, "dc", "subject"))),
        derived_from=_value(descriptions, "xmpMM", "DerivedFrom"),
        label=_value(descriptions, "xmp", "Label"),
        pick=_pick(_value(descriptions, "digiKam", "PickLabel")),
    )


def read_sidecar(path: Path) -> Sidecar:
    """Read and parse one sidecar; SidecarError says what is wrong with it."""
    try:
        with open_to_read(path) as handle:  # a FIFO where a sidecar was: an error, not a hang
            data = handle.read(MAX_SIDECAR_BYTES + 1)
    except OSError as error:
        raise SidecarError(f"{path} cannot be read: {error.strerror or error}") from error
    return sidecar_in(data, path)


def sidecar_in(data: bytes, path: Path) -> Sidecar:
    """Parse a sidecar's bytes (at most MAX_SIDECAR_BYTES + 1 of them: a larger file is none)."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{path} is larger than {MAX_SIDECAR_BYTES // 2**20} MB: not a sidecar")
    return parse_sidecar(data, path)


_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"


def embedded_xmp(path: Path) -> Sidecar | None:
    """The XMP packet the JPEG at ``path`` carries (see ``embedded_xmp_in``)."""
    try:
        with open_to_read(path) as handle:
            return embedded_xmp_in(handle, path)
    except OSError as error:
        raise SidecarError(f"{path} cannot be read: {error.strerror or error}") from error


def embedded_xmp_in(handle: BinaryIO, path: Path) -> Sidecar | None:
    """The XMP packet a JPEG carries in its APP1 segment (cameras and Lightroom write one),
    parsed like a sidecar, read from the JPEG open as ``handle`` (a file, or a view of its
    bytes, at its start); None when it has none. SidecarError when it cannot be read."""
    if handle.read(2) != b"\xff\xd8":
        return None
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            return None  # the image data begins: metadata segments come before it
        length = int.from_bytes(handle.read(2), "big")
        if length < 2:
            return None
        # Only an APP1's first bytes say whether it is the XMP; the rest of it, and every other
        # segment (a camera's EXIF with its thumbnail), is passed over.
        wanted = min(len(_XMP_APP1), length - 2) if marker[1] == 0xE1 else 0
        head = handle.read(wanted)
        if head == _XMP_APP1:
            return parse_sidecar(handle.read(length - 2 - len(head)), path)
        handle.seek(length - 2 - len(head), os.SEEK_CUR)
