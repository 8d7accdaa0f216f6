"""Writing a decision into the photo's XMP sidecar (opt-in), so darktable and other tools see
it: ``xmp:Rating`` (−1 for a reject) and ``xmp:Label``.

Never disturb what others wrote: only those two values change, byte for byte everything else
stays; the write is atomic (``write_atomically``); and a sidecar that changed since
the catalogue last read it (darktable just wrote it, say) is left alone, with a warning.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.darktable.facts import label_names
from core.darktable.sidecar import SidecarError, parse_sidecar
from core.files import open_to_read, write_atomically

XMP_NS = "http://ns.adobe.com/xap/1.0/"
NEW_SIDECAR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    f'  <rdf:Description rdf:about="" xmlns:xmp="{XMP_NS}"/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
)
_DESCRIPTION = re.compile(rb"<rdf:Description\b")


class SidecarChanged(Exception):
    """The sidecar is not as the catalogue last saw it: someone else is writing it."""


def _set_attribute(data: bytes, name: str, value: str | None) -> bytes:
    """Set (or, with None, remove) ``xmp:NAME`` on the first rdf:Description, whether it is
    written as an attribute or as an element."""
    attribute = re.compile(rb"(\s)xmp:" + name.encode() + rb'="[^"]*"')
    element = re.compile(rb"<xmp:" + name.encode() + rb">[^<]*</xmp:" + name.encode() + rb">")
    encoded = None if value is None else value.replace("&", "&amp;").replace('"', "&quot;")
    if attribute.search(data):
        if encoded is None:
            return attribute.sub(b"", data, count=1)
        replacement = rb"\1xmp:" + name.encode() + b'="' + encoded.encode() + b'"'
        return attribute.sub(replacement, data, count=1)
    if element.search(data):
        if encoded is None:
            return element.sub(b"", data, count=1)
        tag = name.encode()
        return element.sub(b"<xmp:" + tag + b">" + encoded.encode() + b"</xmp:" + tag + b">",
                           data, count=1)  # fmt: skip
    if encoded is None:
        return data
    match = _DESCRIPTION.search(data)
    if match is None:
        raise SidecarError("it has no rdf:Description to write into")
    insert = b" xmp:" + name.encode() + b'="' + encoded.encode() + b'"'
    if b'xmlns:xmp="' not in data:
        insert = b' xmlns:xmp="' + XMP_NS.encode() + b'"' + insert
    return data[: match.end()] + insert + data[match.end() :]


def write_rating_and_label(
    path: Path, rating: int, label: str | None, expected: set[tuple[int, int]] | None
) -> tuple[int, int]:
    """Write ``rating`` (−1 reject, 0–5) and ``label`` (None: none) into the sidecar at
    ``path``, created if it does not exist. ``expected`` holds the (size, mtime_ns) it may have
    (as the catalogue last saw it, as we last wrote it); a sidecar that has neither raises
    SidecarChanged and is not touched. Returns its (size, mtime_ns) now."""
    try:
        with open_to_read(path) as handle:
            # the status of the file read, not of whatever the name held a moment before
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        stat, data = None, NEW_SIDECAR.encode()
    except OSError as error:
        raise SidecarError(f"{path} cannot be read: {error.strerror or error}") from error
    if stat is not None and expected and (stat.st_size, stat.st_mtime_ns) not in expected:
        raise SidecarChanged(f"{path} changed since shootwatch last read it: not written")
    updated = _set_attribute(data, "Rating", str(rating))
    updated = _set_attribute(updated, "Label", label)
    written = parse_sidecar(updated, path)  # never write what we could not read back
    if written.rating != rating:
        raise SidecarError(f"{path}: the rating did not read back as written")
    if updated == data and stat is not None:
        return stat.st_size, stat.st_mtime_ns
    # its own permissions kept, or a new sidecar's usual ones: others' tools read it too
    now = write_atomically(path, updated, mode=None if stat is None else stat.st_mode & 0o7777)
    return now.st_size, now.st_mtime_ns


def write_sidecar_for(db, photo_id: int, own_writes: dict[Path, tuple[int, int]]) -> str | None:
    """Write the photo's decision into its original's sidecar; None, or why it was not.
    ``own_writes`` remembers what this process wrote, which the catalogue may not have seen."""
    row = db.execute_sql(
        "SELECT p.decision, p.rating, p.labels, r.path, f.rel_path FROM photo p"
        " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id WHERE p.id = ? LIMIT 1",
        (photo_id,),
    ).fetchone()
    if row is None:
        return "no original on disk: no sidecar written"
    decision, stars, labels, root, rel_path = row
    sidecar_rel = rel_path + ".xmp"
    seen = db.execute_sql(
        "SELECT size, mtime_ns FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE r.path = ? AND f.rel_path = ?",
        (root, sidecar_rel),
    ).fetchone()
    names = label_names(labels)
    path = Path(root) / sidecar_rel
    expected = {tuple(seen)} if seen else set()
    if path in own_writes:
        expected.add(own_writes[path])
    try:
        own_writes[path] = write_rating_and_label(
            path,
            -1 if decision == "rejected" else stars,
            names[0].capitalize() if names else None,
            expected,
        )
    except (SidecarChanged, SidecarError) as error:
        return str(error)
    return None
