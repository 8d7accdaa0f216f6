"""The catalogue's side of sidecar write-back: which sidecars a photo's decision goes into
(``triage.sidecar_names``), which XMP fields a change touches, each write kept with its
decision (``sidecar_write``), and undo / redo of those writes.

- A decision writes only what it changes: approving writes digiKam's pick label 3
  ("accepted"), a reject writes ``xmp:Rating="-1"`` and the pick label 1 ("rejected"), taking
  a reject back writes the stars the sidecar had before it; back to pending, the pick label
  gets what it had before shootwatch's picks (or goes); stars write the rating (not over a
  reject); labels write the labels.
- Undo takes back this session's own write of that decision, byte for byte, and only when the
  sidecar still holds what was written; a decision that wrote no sidecar (made without
  write-back, or by another session) is never written by undo. Redo writes again only what
  this session's undo took back.
- When a sidecar is left alone, the reason is kept on the photo (``photo.sidecar_problem``),
  shown on its card until a later write-back into it succeeds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from peewee import SqliteDatabase

from core.darktable.sidecar import SidecarError
from core.triage.sidecar_write import (
    NO_PICK,
    PICK_ACCEPTED,
    PICK_REJECTED,
    Marks,
    SidecarChanged,
    SidecarWrite,
    sidecar_paths,
    take_back,
    write_marks,
)


def write_back(
    db: SqliteDatabase,
    change,  # core.triage.decisions.Change
    session: str,
    names: str,
    own_writes: dict[Path, tuple[int, int]],
) -> str | None:
    """Write ``change`` into the photo's sidecars as the rules above say; None, or why a
    sidecar was left alone (also kept on the photo)."""
    if change.decision_id is None:
        return None
    if change.source == "undo":
        problems, looked = _undo(db, change, session, own_writes)
    else:
        if change.source == "redo" and not _undone_here(db, change.decision_id, session):
            if not _latest(db, change.decision_id):
                return None  # it never wrote a sidecar: its redo writes none either
            problems, looked = ["its sidecar write was undone in another session: not redone"], True
        else:
            problems, looked = _write(db, change, session, names, own_writes)
    problem = "; ".join(problems) or None
    if looked:  # the outcome of this write-back replaces the last one's on the card
        db.execute_sql(
            "UPDATE photo SET sidecar_problem = ? WHERE id = ?", (problem, change.photo_id)
        )
    return problem


def _original(db: SqliteDatabase, photo_id: int) -> tuple[int, str, Path] | None:
    """(root id, root path, path) of the photo's original."""
    row = db.execute_sql(
        "SELECT r.id, r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.photo_id = ? AND f.role = 'original' LIMIT 1",
        (photo_id,),
    ).fetchone()
    return (row[0], row[1], Path(row[1], row[2])) if row else None


def _marks(db: SqliteDatabase, change, path: Path) -> Marks | None:
    """What ``change`` changes in the sidecar at ``path``; None: nothing."""
    decision, stars = db.execute_sql(
        "SELECT decision, rating FROM photo WHERE id = ?", (change.photo_id,)
    ).fetchone()
    if change.action == "labels":
        return Marks(labels=change.after)
    if change.action == "rating":
        return None if decision == "rejected" else Marks(rating=change.after)
    if change.before == change.after:
        return None
    if change.after == "rejected":
        return Marks(rating=-1, pick=PICK_REJECTED)
    rating = None
    if change.before == "rejected":
        rating = _stars_before_reject(db, change.photo_id, path, stars)
    if change.after == "approved":
        return Marks(rating=rating, pick=PICK_ACCEPTED)
    return Marks(rating=rating, pick=_pick_before_decisions(db, change.photo_id, path))


def _stars_before_reject(db: SqliteDatabase, photo_id: int, path: Path, stars: int) -> int:
    """The stars the sidecar had when shootwatch last wrote a reject into it (darktable's three,
    say), else the catalogue's."""
    for (fields,) in db.execute_sql(
        "SELECT fields FROM sidecar_write WHERE photo_id = ? AND path = ? AND kind = 'write'"
        " ORDER BY id DESC",
        (photo_id, str(path)),
    ):
        before, after = json.loads(fields).get("Rating", (None, None))
        if after == "-1":
            return int(before) if before in {"0", "1", "2", "3", "4", "5"} else stars
    return stars


def _pick_before_decisions(db: SqliteDatabase, photo_id: int, path: Path) -> int:
    """The pick label the sidecar had before shootwatch last wrote a decision's pick into it
    (digiKam's "pending" 2, say); NO_PICK: none, or one that was itself a decision (the photo
    is pending now)."""
    for (fields,) in db.execute_sql(
        "SELECT fields FROM sidecar_write WHERE photo_id = ? AND path = ? AND kind = 'write'"
        " ORDER BY id DESC",
        (photo_id, str(path)),
    ):
        if "PickLabel" not in (changed := json.loads(fields)):
            continue
        before = changed["PickLabel"][0]
        if before not in (str(PICK_ACCEPTED), str(PICK_REJECTED)):
            return int(before) if before in {"0", "2"} else NO_PICK
    return NO_PICK


def _write(
    db: SqliteDatabase, change, session: str, names: str, own: dict[Path, tuple[int, int]]
) -> tuple[list[str], bool]:
    """(why sidecars were left alone, whether any had a field to write)."""
    found = _original(db, change.photo_id)
    if found is None:
        return ["no original on disk: no sidecar written"], True
    root_id, root, original = found
    problems, looked = [], False
    for kind, path in sidecar_paths(original, names):
        marks = _marks(db, change, path)
        if marks is None:
            continue
        if marks.rating is None and marks.labels is None and not os.path.lexists(path):
            # A pick alone makes no sidecar: darktable takes a sidecar with none of its own
            # fields for an older program's and may develop the photo with other defaults.
            continue
        looked = True
        expected = _seen(db, root_id, os.path.relpath(path, root))
        if path in own:
            expected.add(own[path])
        try:
            ours = _left_by_shootwatch(db, path)
            written = write_marks(path, marks, kind, expected, photo=original, ours=ours)
        except (SidecarChanged, SidecarError) as error:
            problems.append(str(error))
            continue
        except OSError as error:  # a read-only folder, a full disk
            problems.append(f"{path} cannot be written: {error.strerror or error}")
            continue
        if written is not None:
            status = os.stat(path)
            own[path] = (status.st_size, status.st_mtime_ns)
            _record(db, change, session, "write", written)
    return problems, looked


def _left_by_shootwatch(db: SqliteDatabase, path: Path) -> str | None:
    """The blake3 of what shootwatch last left in the sidecar (a write, or what an undo gave
    back): a sidecar with that content is not "changed since", though no scan has seen it yet
    (a ``decide`` after a ``decide``, each a process of its own)."""
    row = db.execute_sql(
        "SELECT blake3 FROM sidecar_write WHERE path = ? ORDER BY id DESC LIMIT 1", (str(path),)
    ).fetchone()
    return row[0] if row else None


def _seen(db: SqliteDatabase, root_id: int, rel_path: str) -> set[tuple[int, int]]:
    """The (size, mtime_ns) the catalogue last saw the sidecar with (empty: not seen)."""
    rows = db.execute_sql(
        "SELECT size, mtime_ns FROM file WHERE root_id = ? AND rel_path = ?",
        (root_id, rel_path),
    ).fetchall()
    return {tuple(row) for row in rows}


def _record(db: SqliteDatabase, change, session: str, kind: str, written: SidecarWrite) -> None:
    edits = [[at, old.decode("latin-1"), new.decode("latin-1")] for at, old, new in written.edits]
    db.execute_sql(
        "INSERT INTO sidecar_write (decision_id, photo_id, session, kind, path, edits, fields,"
        " blake3, created, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            change.decision_id,
            change.photo_id,
            session,
            kind,
            written.path,
            json.dumps(edits),
            json.dumps(written.fields),
            written.blake3,
            written.created,
            time.time(),
        ),
    )


def _latest(db: SqliteDatabase, decision_id: int) -> list[tuple]:
    """The newest sidecar_write row of the decision for each sidecar it wrote."""
    return db.execute_sql(
        "SELECT session, kind, path, edits, fields, blake3, created FROM sidecar_write w"
        " WHERE decision_id = ? AND id = (SELECT MAX(id) FROM sidecar_write v"
        "  WHERE v.decision_id = w.decision_id AND v.path = w.path) ORDER BY path",
        (decision_id,),
    ).fetchall()


def _undone_here(db: SqliteDatabase, decision_id: int, session: str) -> bool:
    rows = _latest(db, decision_id)
    return bool(rows) and all(kind == "undo" and who == session for who, kind, *_ in rows)


def _undo(
    db: SqliteDatabase, change, session: str, own: dict[Path, tuple[int, int]]
) -> tuple[list[str], bool]:
    problems, looked = [], False
    for who, kind, path, edits, fields, digest, created in _latest(db, change.decision_id):
        if kind != "write":
            continue
        looked = True
        if who != session:
            problems.append(f"{path} was written by another session: not restored by this undo")
            continue
        written = SidecarWrite(
            path,
            tuple(
                (start, old.encode("latin-1"), new.encode("latin-1"))
                for start, old, new in json.loads(edits)
            ),
            json.loads(fields),
            digest,
            bool(created),
        )
        try:
            left = take_back(written)
        except (SidecarChanged, SidecarError) as error:
            problems.append(str(error))
            continue
        except OSError as error:
            problems.append(f"{path} cannot be written: {error.strerror or error}")
            continue
        if os.path.exists(path):
            status = os.stat(path)
            own[Path(path)] = (status.st_size, status.st_mtime_ns)
        undone = {name: (after, before) for name, (before, after) in written.fields.items()}
        # The undo row keeps the blake3 of what the sidecar holds now (see _left_by_shootwatch).
        _record(db, change, session, "undo", SidecarWrite(path, written.edits, undone, left or ""))
    return problems, looked
