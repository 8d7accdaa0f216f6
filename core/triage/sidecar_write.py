"""Writing a decision into a photo's XMP sidecars (opt-in), so darktable and other tools see it,
and taking it back exactly.

What is written, field by field, and only the fields the decision changes:

- ``xmp:Rating``: the stars, −1 for a reject (darktable, Bridge, Lightroom read it);
- colour labels: in a darktable sidecar (``IMG.CR2.xmp``) all of them in
  ``darktable:colorlabels`` (0 red … 4 purple); an ``xmp:Label`` there is kept in agreement
  (the one label's name, removed when there are none or several: darktable 4.2 reads an
  ``xmp:Label`` *instead of* its colour labels, so a second label would be lost), never added.
  In an Adobe-style sidecar (``IMG.xmp``) ``xmp:Label`` names the first label.
- ``digiKam:PickLabel``: the pick, into both names (digiKam reads ``IMG.CR2.xmp``, or
  ``IMG.xmp`` with its compatible-names setting): 3 accepted for an approval, 1 rejected for a
  reject, and back to what it had (or removed) for pending. darktable keeps a field it does not
  know when it rewrites its sidecar, and reads none of it.

Every write is a list of byte edits (where, what was there, what is there now), kept in the
catalogue with the decision: undo applies them backwards, so the sidecar gets back byte for
byte what it had, and only when its content is still what shootwatch wrote (its blake3).
A sidecar that changed since shootwatch last read or wrote it is never written over
(SidecarChanged). Writes are atomic (``write_atomically``); a new sidecar gets the permissions
of the photo beside it (readable by whoever reads the photo), never a temporary file's 0o600.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from blake3 import blake3

from core.darktable.facts import LABEL_NAMES, label_names
from core.darktable.sidecar import NS, SidecarError, parse_sidecar
from core.files import open_to_read, sync_folder, write_atomically

PICK_REJECTED, PICK_ACCEPTED = 1, 3  # digiKam's PickLabel values (its digikam_globals.h)
NO_PICK = -1  # Marks.pick: remove the pick label

SIDECAR_KINDS = ("darktable", "adobe")  # IMG.CR2.xmp, IMG.xmp
NEW_SIDECAR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    f'  <rdf:Description rdf:about="" xmlns:xmp="{NS["xmp"]}"/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
)
# The start tag of the first rdf:Description, its attribute values read whole (they may hold ">").
_DESCRIPTION = re.compile(rb"""<rdf:Description\b(?:[^>"']|"[^"]*"|'[^']*')*?(/?)>""")
_DESCRIPTION_END = re.compile(rb"</rdf:Description\s*>")
_COLORLABELS = re.compile(
    rb"<darktable:colorlabels\s*/>|<darktable:colorlabels\b[^>]*>.*?</darktable:colorlabels\s*>",
    re.S,
)


class SidecarChanged(Exception):
    """The sidecar is not as shootwatch last read or wrote it: someone else is writing it."""


def sidecar_paths(original: Path, names: str) -> list[tuple[str, Path]]:
    """The (kind, path) of the sidecars ``triage.sidecar_names`` asks for: darktable's
    ``IMG.CR2.xmp``, the Adobe-style ``IMG.xmp``, or both."""
    kinds = SIDECAR_KINDS if names == "both" else (names,)
    paths = {
        "darktable": original.with_name(original.name + ".xmp"),
        "adobe": original.with_name(original.name.split(".", 1)[0] + ".xmp"),
    }
    return [(kind, paths[kind]) for kind in kinds]


@dataclass(frozen=True)
class Marks:
    """What a decision changes in XMP: None leaves the field as it is."""

    rating: int | None = None  # −1 reject, 0–5 stars
    labels: int | None = None  # the catalogue's label bits
    pick: int | None = None  # digiKam's PickLabel 0–3; NO_PICK: removed


@dataclass(frozen=True)
class SidecarWrite:
    """One write into one sidecar: the byte edits in the order made (offset, old, new), the
    fields' values before and after, and the blake3 of the content written."""

    path: str
    edits: tuple[tuple[int, bytes, bytes], ...]
    fields: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    blake3: str = ""
    created: bool = False


class _Edited:
    """Bytes changed by replacements that are each recorded, so they can be taken back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.edits: list[tuple[int, bytes, bytes]] = []

    def replace(self, start: int, end: int, new: bytes) -> None:
        old = self.data[start:end]
        if old == new:
            return
        self.data = self.data[:start] + new + self.data[end:]
        self.edits.append((start, old, new))


def _escape(value: str) -> bytes:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").encode("utf-8")


def _description(data: bytes) -> re.Match:
    match = _DESCRIPTION.search(data)
    if match is None:
        raise SidecarError("it has no rdf:Description to write into")
    return match


def _opened(doc: _Edited) -> tuple[int, int]:
    """The body of the first rdf:Description (start, end), opening a self-closed one."""
    tag = _description(doc.data)
    if tag.group(1):  # <rdf:Description .../> : written open, so elements fit in
        indent = _indent(doc.data, tag.start())
        doc.replace(tag.end() - 2, tag.end(), b">\n" + indent + b"</rdf:Description>")
        tag = _description(doc.data)
    end = _DESCRIPTION_END.search(doc.data, tag.end())
    if end is None:
        raise SidecarError("its rdf:Description is not closed")
    return tag.end(), end.start()


def _indent(data: bytes, at: int) -> bytes:
    line = data.rfind(b"\n", 0, at) + 1
    before = data[line:at]
    return before if before.strip() == b"" else b""


def _declare(doc: _Edited, prefix: str) -> None:
    """``xmlns:PREFIX`` on the first rdf:Description, unless the sidecar declares it already."""
    if f"xmlns:{prefix}=".encode() in doc.data:
        return
    tag = _description(doc.data)
    at = tag.start() + len(b"<rdf:Description")
    doc.replace(at, at, f' xmlns:{prefix}="{NS[prefix]}"'.encode())


def _find_simple(data: bytes, name: str, prefix: str = "xmp") -> tuple[re.Match, int] | None:
    """Where ``PREFIX:NAME`` is, in whichever rdf:Description has it (exiftool writes one per
    namespace): (the match, the group holding its value)."""
    qualified = f"{prefix}:{name}".encode()
    attribute = re.compile(rb"(\s+)" + qualified + rb"""\s*=\s*(?:"([^"]*)"|'([^']*)')""")
    element = re.compile(rb"(\s*)<" + qualified + rb">([^<]*)</" + qualified + rb"\s*>")
    for tag in _DESCRIPTION.finditer(data):
        found = attribute.search(data, tag.start(), tag.end())
        if found is not None:
            return found, 2 if found.group(2) is not None else 3
        if not tag.group(1):  # a self-closed rdf:Description has no elements
            end = _DESCRIPTION_END.search(data, tag.end())
            found = element.search(data, tag.end(), end.start() if end else len(data))
            if found is not None:
                return found, 2
    return None


def _set_simple(doc: _Edited, name: str, value: str | None, prefix: str = "xmp") -> str | None:
    """Set (None: remove) ``PREFIX:NAME``, as an attribute or an element, whichever the
    sidecar has (a new one: an attribute of the first rdf:Description); returns the value it
    had."""
    _description(doc.data)
    where = _find_simple(doc.data, name, prefix)
    if where is not None:
        found, group = where
        old = _text(found.group(group)).strip()
        if value is None:
            doc.replace(found.start(), found.end(), b"")
        else:
            doc.replace(found.start(group), found.end(group), _escape(value))
        return _unescape(old)
    if value is not None:
        _declare(doc, prefix)
        tag = _description(doc.data)
        at = tag.end() - (2 if tag.group(1) else 1)
        doc.replace(at, at, f" {prefix}:{name}=".encode() + b'"' + _escape(value) + b'"')
    return None


def _set_pick(doc: _Edited, pick: int) -> str | None:
    """digiKam's pick label set (NO_PICK: removed, and with it a digiKam namespace nothing
    else uses, as it was before shootwatch declared it); returns the value it had."""
    old = _set_simple(doc, "PickLabel", None if pick == NO_PICK else str(pick), "digiKam")
    if pick == NO_PICK and old is not None:
        declared = re.search(rb"""\s+xmlns:digiKam\s*=\s*(?:"[^"]*"|'[^']*')""", doc.data)
        if declared is not None and b"digiKam:" not in doc.data.replace(declared.group(0), b""):
            doc.replace(declared.start(), declared.end(), b"")
    return old


def _text(value: bytes) -> str:
    """A field's value as recorded (a damaged byte shown, not raised)."""
    return value.decode("utf-8", "replace")


def _unescape(text: str) -> str:
    return (
        text.replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
    )


def _set_colorlabels(doc: _Edited, labels: int) -> str | None:
    """darktable's ``darktable:colorlabels`` Seq set to every label (removed when none);
    returns the colours it had, as "0,2"."""
    _description(doc.data)
    found = _COLORLABELS.search(doc.data)  # in whichever rdf:Description has it
    old = None
    if found is not None:
        old = ",".join(re.findall(r"<rdf:li>\s*(\d+)\s*</rdf:li>", _text(found.group(0))))
    colors = _colors(labels)
    if found is not None and old == ",".join(map(str, colors)):
        return old  # as it is, written as it is
    if not colors:
        if found is not None:
            start = found.start()
            line = doc.data.rfind(b"\n", 0, start)
            if line >= 0 and doc.data[line + 1 : start].strip() == b"":  # its line goes too
                start = line
            doc.replace(start, found.end(), b"")
        return old
    indent = _indent(doc.data, found.start()) if found is not None else None
    if indent is None:
        indent = _indent(doc.data, _description(doc.data).start()) + b" "
    items = b"".join(indent + b"  <rdf:li>%d</rdf:li>\n" % color for color in colors)
    element = (
        b"<darktable:colorlabels>\n" + indent + b" <rdf:Seq>\n" + items + indent
        + b" </rdf:Seq>\n" + indent + b"</darktable:colorlabels>"
    )  # fmt: skip
    if found is not None:
        doc.replace(found.start(), found.end(), element)
    else:
        _declare(doc, "darktable")
        body_start, _ = _opened(doc)
        doc.replace(body_start, body_start, b"\n" + indent + element)
    return old


def _label_for(kind: str, labels: int, had_label: bool) -> tuple[bool, str | None]:
    """(whether to touch xmp:Label, its value) for a sidecar of ``kind``."""
    names = [name.capitalize() for name in label_names(labels)]
    if kind == "adobe":
        return True, names[0] if names else None
    if not had_label:
        return False, None  # never added to darktable's: it would hide every other label
    return True, names[0] if len(names) == 1 else None


def _read(path: Path) -> tuple[os.stat_result | None, bytes]:
    try:
        with open_to_read(path) as handle:
            # the status of the file read, not of whatever the name held a moment before
            return os.fstat(handle.fileno()), handle.read()
    except FileNotFoundError:
        return None, NEW_SIDECAR.encode()
    except OSError as error:
        raise SidecarError(f"{path} cannot be read: {error.strerror or error}") from error


def _has_label(data: bytes) -> bool:
    return _find_simple(data, "Label") is not None


def new_sidecar_mode(photo: Path | None) -> int | None:
    """The permissions of a new sidecar: those of the photo beside it (its read and write
    bits, writable by its owner so darktable can rewrite it); None: a new file's usual ones."""
    if photo is None:
        return None
    try:
        mode = stat.S_IMODE(os.stat(photo).st_mode)
    except OSError:
        return None
    return (mode & 0o666) | 0o600


def write_marks(
    path: Path,
    marks: Marks,
    kind: str = "darktable",
    expected: set[tuple[int, int]] | None = None,
    photo: Path | None = None,
    ours: str | None = None,
) -> SidecarWrite | None:
    """Write ``marks`` into the sidecar at ``path`` (created if it does not exist, with the
    permissions of ``photo``). ``expected`` holds the (size, mtime_ns) it may have (as the
    catalogue last saw it, as shootwatch last wrote it) and ``ours`` the blake3 of what
    shootwatch last left in it (a write or an undo, maybe by another of its processes); a
    sidecar that matches none of them raises SidecarChanged and is not touched. Returns what
    was written, None when nothing changed."""
    status, data = _read(path)
    if (
        status is not None
        and expected
        and (status.st_size, status.st_mtime_ns) not in expected
        and (ours is None or blake3(data).hexdigest() != ours)
    ):
        raise SidecarChanged(f"{path} changed since shootwatch last read it: not written")
    doc = _Edited(data)
    fields: dict[str, tuple[str | None, str | None]] = {}
    if marks.rating is not None:
        old = _set_simple(doc, "Rating", str(marks.rating))
        fields["Rating"] = (old, str(marks.rating))
    if marks.labels is not None:
        if kind == "darktable" or _COLORLABELS.search(data):
            old = _set_colorlabels(doc, marks.labels)
            fields["colorlabels"] = (old, ",".join(str(i) for i in _colors(marks.labels)) or None)
        touch, value = _label_for(kind, marks.labels, _has_label(data))
        if touch:
            fields["Label"] = (_set_simple(doc, "Label", value), value)
    if marks.pick is not None:
        value = None if marks.pick == NO_PICK else str(marks.pick)
        fields["PickLabel"] = (_set_pick(doc, marks.pick), value)
    if not doc.edits and status is not None:
        return None
    _check_reads_back(doc.data, path, marks, kind)
    _still_as_read(path, status)
    mode = new_sidecar_mode(photo) if status is None else stat.S_IMODE(status.st_mode)
    write_atomically(path, doc.data, mode=mode)
    return SidecarWrite(
        str(path), tuple(doc.edits), fields, blake3(doc.data).hexdigest(), status is None
    )


def _still_as_read(path: Path, status: os.stat_result | None) -> None:
    """SidecarChanged when another program wrote the sidecar while it was being edited here
    (darktable saving it that very moment): the window left is the write itself."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        now = None
    if status is None and now is None:
        return
    if (
        status is None
        or now is None
        or (now.st_ino, now.st_size, now.st_mtime_ns)
        != (
            status.st_ino,
            status.st_size,
            status.st_mtime_ns,
        )
    ):
        raise SidecarChanged(f"{path} changed while shootwatch wrote it: not written")


def _colors(labels: int) -> list[int]:
    return [index for index in range(len(LABEL_NAMES)) if labels & (1 << index)]


def _check_reads_back(data: bytes, path: Path, marks: Marks, kind: str) -> None:
    """Never write what does not read back as meant (or cannot be read at all)."""
    written = parse_sidecar(data, path)
    if marks.rating is not None and written.rating != marks.rating:
        raise SidecarError(f"{path}: the rating did not read back as written")
    if marks.labels is not None and kind == "darktable" and written.labels != marks.labels:
        raise SidecarError(f"{path}: the colour labels did not read back as written")
    if marks.pick is not None and written.pick != (None if marks.pick == NO_PICK else marks.pick):
        raise SidecarError(f"{path}: the pick did not read back as written")


def take_back(write: SidecarWrite) -> str | None:
    """Undo ``write``: its edits applied backwards, so the sidecar has byte for byte what it
    had (a sidecar the write created is removed again: it had none); SidecarChanged (and
    nothing written) when its content is no longer what was written. Returns the blake3 of
    what the sidecar holds now (None: removed)."""
    path = Path(write.path)
    status, data = _read(path)
    if status is None or blake3(data).hexdigest() != write.blake3:
        raise SidecarChanged(f"{path} changed since shootwatch wrote it: not restored")
    for start, old, new in reversed(write.edits):
        if data[start : start + len(new)] != new:
            raise SidecarChanged(f"{path} is not as shootwatch wrote it: not restored")
        data = data[:start] + old + data[start + len(new) :]
    if write.created and data == NEW_SIDECAR.encode():
        path.unlink()
        sync_folder(path.parent)
        return None
    write_atomically(path, data, mode=stat.S_IMODE(status.st_mode))
    return blake3(data).hexdigest()
