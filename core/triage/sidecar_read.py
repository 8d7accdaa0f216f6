"""What existing XMP says about a photo when shootwatch first sees it: the stars, reject,
colour labels and digiKam's pick in darktable's sidecar (``IMG.CR2.xmp``), in an Adobe-style
one (``IMG.xmp``, Lightroom, Bridge, Photo Mechanic) and in the XMP inside a JPEG, taken into
the photo's triage state, so that a decision never writes over them unseen (approving alone
once wrote ``xmp:Rating="0"`` over darktable's three stars).

Read once per photo (``photo.xmp_read_at``), and only into a photo nobody decided about yet.
A reject (``xmp:Rating="-1"``, or digiKam's pick label 1) makes it rejected; digiKam's pick
label 3 ("accepted", a photographer's pick in digiKam's cull) makes it approved, unless a
reject says otherwise (darktable keeps a pick label from before when it rejects).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import SqliteDatabase

from core.darktable.sidecar import SidecarError, embedded_xmp, read_sidecar
from core.store.writing import run_transaction
from core.triage.sidecar_write import PICK_ACCEPTED, PICK_REJECTED

if TYPE_CHECKING:
    from core.media.describe import XmpFound

log = logging.getLogger("shootwatch.triage")


@dataclass(frozen=True)
class ExistingMarks:
    rating: int | None  # −1 rejected, 0–5 stars; None: no XMP says
    labels: int  # the catalogue's label bits
    source: str | None  # the file they were read from
    pick: int | None = None  # digiKam's pick label

    @property
    def decision(self) -> str | None:
        """The decision the XMP says was made; None: none."""
        if self.rating == -1 or self.pick == PICK_REJECTED:
            return "rejected"
        return "approved" if self.pick == PICK_ACCEPTED else None


def _sources(original: str, members: list[tuple[str, str, str | None]]) -> list[tuple[str, str]]:
    """(how, path) of the XMP to read, in darktable's order of authority: its own sidecar,
    then an Adobe-style one, then the XMP inside the JPEGs (original, then twin)."""
    name = os.path.basename(original)
    by_name = {
        os.path.basename(path).lower(): path for path, role, _ in members if role == "sidecar"
    }
    found = []
    for wanted in (name + ".xmp", name.split(".", 1)[0] + ".xmp"):
        if wanted.lower() in by_name:
            found.append(("sidecar", by_name[wanted.lower()]))
    for path, role, file_format in members:
        if role in ("original", "twin") and file_format == "jpeg":
            found.append(("embedded", path))
    return found


def existing_marks(
    original: str,
    members: list[tuple[str, str, str | None]],
    recorded: Mapping[str, XmpFound] | None = None,
) -> ExistingMarks:
    """The marks existing XMP gives the photo whose original is ``original``; ``members`` are
    its files as (path, role, format). The first XMP found decides (labels included); a
    rating or a pick it lacks is taken from the next. An unreadable one is passed over.
    ``recorded``: what the scan read of the XMP of some of these files when it hashed them
    ({path: marks, or why unreadable, or None for none}); the others are read now."""
    rating, labels, source, pick = None, None, None, None
    recorded = recorded or {}
    for how, path in _sources(original, members):
        found = recorded[path] if path in recorded else _read_marks(how, path)
        if isinstance(found, str):
            log.info("existing XMP not read: %s", found)
            continue
        if found is None:
            continue
        found_rating, found_labels, found_pick = found
        if labels is None:
            labels, source = found_labels, path
        if pick is None and found_pick is not None:
            pick = found_pick
        if rating is None and found_rating is not None:
            rating = max(-1, min(5, found_rating))
        if rating is not None and pick is not None:
            break
    return ExistingMarks(rating, labels or 0, source, pick)


def _read_marks(how: str, path: str) -> XmpFound:
    try:
        xmp = read_sidecar(Path(path)) if how == "sidecar" else embedded_xmp(Path(path))
    except SidecarError as error:
        return str(error)
    return None if xmp is None else xmp.marks


def _not_read(db: SqliteDatabase, photo_ids: list[int]) -> list[int]:
    """Those of ``photo_ids`` whose XMP was not read yet (a folder's photos are offered each
    time a file in it is described: most were read long ago)."""
    found = []
    for start in range(0, len(photo_ids), 500):
        chunk = photo_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        found += [
            photo_id
            for (photo_id,) in db.execute_sql(
                f"SELECT id FROM photo WHERE id IN ({marks}) AND xmp_read_at IS NULL", chunk
            )
        ]
    return found


def read_existing_marks(
    db: SqliteDatabase,
    photo_ids: Iterable[int],
    now: float,
    recorded: Mapping[str, XmpFound] | None = None,
) -> int:
    """Take the existing XMP of photos not read yet into their triage state; a photo someone
    decided about keeps its own. The files are read outside any transaction (the writes wait
    for no disk), the result written in one short one; not those whose XMP the scan read when
    it hashed them (a sidecar's record, ``recorded``: the JPEGs just described). Returns how
    many photos changed."""
    from core.media.describe import recorded_xmp  # the scan's records: the media pipeline's

    found = []
    for photo_id in _not_read(db, list(photo_ids)):
        rows = db.execute_sql(
            "SELECT r.path, f.rel_path, f.role, f.format, f.description FROM file f"
            " JOIN root r ON r.id = f.root_id WHERE f.photo_id = ?",
            (photo_id,),
        ).fetchall()
        members = [(os.path.join(root, rel), role, fmt) for root, rel, role, fmt, _ in rows]
        known = {
            os.path.join(root, rel): recorded_xmp(record)
            for root, rel, role, _, record in rows
            if record is not None and role in ("sidecar", "duplicate_sidecar")
        }
        known.update(recorded or {})
        originals = [path for path, role, _ in members if role == "original"]
        if originals:
            found.append((photo_id, existing_marks(originals[0], members, known)))
    return run_transaction(db, partial(_take_in, db, found, now)) if found else 0


def _take_in(db: SqliteDatabase, found: list[tuple[int, ExistingMarks]], now: float) -> int:
    changed = 0
    for photo_id, marks in found:
        if marks.rating is not None or marks.labels or marks.decision is not None:
            changed += db.execute_sql(
                "UPDATE photo SET decision = COALESCE(?, decision),"
                " rating = ?, labels = ? WHERE id = ? AND xmp_read_at IS NULL"
                " AND decision = 'pending' AND rating = 0 AND labels = 0"
                " AND NOT EXISTS (SELECT 1 FROM decision d WHERE d.photo_id = ?)",
                (marks.decision, max(0, marks.rating or 0), marks.labels, photo_id, photo_id),
            ).rowcount
        db.execute_sql(
            "UPDATE photo SET xmp_read_at = ? WHERE id = ? AND xmp_read_at IS NULL",
            (now, photo_id),
        )
    return changed
