"""Named queries for photos: the files of a folder as grouping sees them, Photo rows by blake3,
the media backlog (files not looked at, photos without EXIF or preview), the triage queue and
how far the index has got."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from peewee import SqliteDatabase

# The backlog's counts live apart (no ORM there); callers name them here too.
from core.store.backlog import (  # noqa: F401
    any_photo_without_metadata,
    count_without_preview,
    files_not_described,
    photos_not_looked_at,
    photos_without_metadata,
)
from core.store.dialect import executemany, groups_pick_a_row, insert_returning_id, one_of

FILE_COLUMNS = "id, rel_path, kind, blake3, photo_id, role, error, format"


def folder_files(db: SqliteDatabase, root_id: int, rel_dir: str) -> list[tuple]:
    """(id, rel_path, kind, blake3, photo_id, role, error, format) of the files directly in a
    folder and in its direct subfolders (where a photo's exports are)."""
    return _two_levels(db, root_id, rel_dir, FILE_COLUMNS)


def own_files_and_exports(db: SqliteDatabase, root_id: int, rel_dir: str) -> list[tuple]:
    """As ``folder_files``, but of the files in the direct subfolders only those claimed as a
    photo's exports: what grouping a folder with no photos of its own needs (a year folder
    above its days, whose subfolders may hold a hundred thousand files)."""
    return _two_levels(db, root_id, rel_dir, FILE_COLUMNS, exports_only=True)


def folder_listing(db: SqliteDatabase, root_id: int, rel_dir: str) -> list[tuple[int, str]]:
    """(id, rel_path) of the files ``folder_files`` gives: what picking a few names out of a
    big folder reads (whole rows of a 3,000-file folder cost three times as much)."""
    return _two_levels(db, root_id, rel_dir, "id, rel_path")


def _two_levels(
    db: SqliteDatabase, root_id: int, rel_dir: str, columns: str, exports_only: bool = False
) -> list[tuple]:
    """``columns`` of the files directly in ``rel_dir`` and in its direct subfolders (there,
    with ``exports_only``, only those claimed as exports)."""
    prefix = rel_dir + "/" if rel_dir else ""
    rest = f"substr(rel_path, {len(prefix) + 1})"  # the path below rel_dir
    below = f"{rest} NOT LIKE '%/%/%'"  # at most one '/': in a direct subfolder
    if exports_only:
        below = f"(role = 'export' AND {below})"
    where = f"({rest} NOT LIKE '%/%' OR {below})"
    if rel_dir:
        return db.execute_sql(
            f"SELECT {columns} FROM file"
            f" WHERE root_id = ? AND rel_path > ? AND rel_path < ? AND {where}",
            (root_id, prefix, rel_dir + "0"),  # "0" sorts right after "/"
        ).fetchall()
    return db.execute_sql(
        f"SELECT {columns} FROM file WHERE root_id = ? AND {where}", (root_id,)
    ).fetchall()


def files_by_id(db: SqliteDatabase, file_ids: Iterable[int]) -> list[tuple]:
    """The rows of ``folder_files`` of these files."""
    among, ids = one_of(db, "id", file_ids)
    return db.execute_sql(f"SELECT {FILE_COLUMNS} FROM file WHERE {among}", (ids,)).fetchall()


def files_directly_in(
    db: SqliteDatabase, root_id: int, rel_dir: str, exports_only: bool = False
) -> list[tuple]:
    """As ``folder_files``, of the files directly in a folder alone (with ``exports_only``,
    those claimed as the parent's photos' exports)."""
    prefix = rel_dir + "/" if rel_dir else ""
    where, params = (
        f"root_id = ? AND substr(rel_path, {len(prefix) + 1}) NOT LIKE '%/%'",
        [root_id],
    )
    if rel_dir:
        where += " AND rel_path > ? AND rel_path < ?"
        params += [prefix, rel_dir + "0"]  # "0" sorts right after "/"
    if exports_only:
        where += " AND role = 'export'"
    return db.execute_sql(
        f"SELECT {FILE_COLUMNS} FROM file WHERE {where}",
        params,
    ).fetchall()


def files_at(db: SqliteDatabase, root_id: int, rel_paths: Iterable[str]) -> list[tuple]:
    """The rows of ``folder_files`` of the files at these paths."""
    among, paths = one_of(db, "rel_path", rel_paths)
    return db.execute_sql(
        f"SELECT {FILE_COLUMNS} FROM file WHERE root_id = ? AND {among}", (root_id, paths)
    ).fetchall()


def direct_files(db: SqliteDatabase, root_id: int, rel_dir: str) -> list[tuple[str, str]]:
    """(rel_path, kind) of the files directly in a folder ("" is the root itself)."""
    depth = rel_dir.count("/") + 1 if rel_dir else 0
    return [
        (row[1], row[2]) for row in folder_files(db, root_id, rel_dir) if row[1].count("/") == depth
    ]


def file_id(db: SqliteDatabase, root_id: int, rel_path: str) -> int | None:
    row = db.execute_sql(
        "SELECT id FROM file WHERE root_id = ? AND rel_path = ?", (root_id, rel_path)
    ).fetchone()
    return row[0] if row else None


def photo_by_blake3(db: SqliteDatabase, blake3: str) -> int | None:
    row = db.execute_sql("SELECT id FROM photo WHERE blake3 = ?", (blake3,)).fetchone()
    return row[0] if row else None


def create_photo(db: SqliteDatabase, blake3: str, now: float) -> int:
    return insert_returning_id(
        db,
        "INSERT INTO photo (blake3, decision, rating, labels, created_at)"
        " VALUES (?, 'pending', 0, 0, ?)",
        (blake3, now),
    )


def rekey_photo(db: SqliteDatabase, photo_id: int, blake3: str) -> None:
    """The original's content changed: the photo (and its decisions) follows it."""
    db.execute_sql(
        "UPDATE photo SET blake3 = ?, metadata_at = NULL, preview_at = NULL, looked_at = NULL"
        " WHERE id = ?",
        (blake3, photo_id),
    )


def photo_lost_its_original(
    db: SqliteDatabase, photo_id: int, group_file_ids: Sequence[int], not_photos: Iterable[str]
) -> bool:
    """Whether no file outside ``group_file_ids`` can be the photo's original: none has its
    content and is a picture (or may be one: not looked at yet). Its original was deleted, or
    turned out to be no picture at all."""
    marks = ", ".join("?" * len(not_photos := tuple(not_photos)))
    in_group, group = one_of(db, "f.id", group_file_ids)
    row = db.execute_sql(
        "SELECT 1 FROM photo p JOIN file f ON f.blake3 = p.blake3"
        f" WHERE p.id = ? AND NOT ({in_group})"
        f" AND (f.format IS NULL OR f.format NOT IN ({marks})) LIMIT 1",
        (photo_id, group, *not_photos),
    ).fetchone()
    return row is None


def photos_made_of_junk(db: SqliteDatabase, not_photos: Iterable[str]) -> list[int]:
    """Photos that hold no file and whose content is that of a file found to be no picture
    (junk, empty or unreadable): what grouping by name alone made of junk named like photos."""
    marks = ", ".join("?" * len(not_photos := tuple(not_photos)))
    return [
        photo_id
        for (photo_id,) in db.execute_sql(
            "SELECT p.id FROM photo p"
            " WHERE NOT EXISTS (SELECT 1 FROM file f WHERE f.photo_id = p.id)"
            " AND EXISTS (SELECT 1 FROM file j WHERE j.blake3 = p.blake3"
            f" AND j.format IN ({marks}))",
            not_photos,
        )
    ]


def delete_untouched_photos_without_files(db: SqliteDatabase, photo_ids: Iterable[int]) -> int:
    """Delete those of ``photo_ids`` that hold no file and that nobody has decided anything
    about: no decision, rating or label, nothing in the decision log. Returns how many. A
    photo a person touched is kept, with its decisions."""
    among, ids = one_of(db, "p.id", photo_ids)
    return db.execute_sql(
        "DELETE FROM photo WHERE id IN (SELECT p.id FROM photo p"
        f" WHERE {among}"
        " AND p.decision = 'pending' AND p.rating = 0 AND p.labels = 0"
        " AND NOT EXISTS (SELECT 1 FROM file f WHERE f.photo_id = p.id)"
        " AND NOT EXISTS (SELECT 1 FROM decision d WHERE d.photo_id = p.id))",
        (ids,),
    ).rowcount


def set_members(db: SqliteDatabase, rows: Sequence[tuple]) -> None:
    """rows: (photo_id, role, file_id)"""
    executemany(db, "UPDATE file SET photo_id = ?, role = ? WHERE id = ?", rows)


def set_described(db: SqliteDatabase, rows: Sequence[tuple]) -> None:
    """rows: (format, kind, error, file_id): what the file is by its content. The scan's
    description of it, used up, is dropped."""
    executemany(
        db, "UPDATE file SET format = ?, kind = ?, error = ?, description = NULL WHERE id = ?", rows
    )


def recorded_descriptions(db: SqliteDatabase, file_ids: Sequence[int]) -> dict[int, str]:
    """{file id: the description the scan made of it while hashing} of those of ``file_ids``
    that have one (core.media.describe)."""
    if not file_ids:
        return {}
    marks = ", ".join("?" * len(file_ids))
    return dict(
        db.execute_sql(
            f"SELECT id, description FROM file WHERE id IN ({marks}) AND description IS NOT NULL",
            list(file_ids),
        ).fetchall()
    )


PHOTO_METADATA_COLUMNS = (
    "capture_time", "capture_offset", "camera_make", "camera_model", "lens", "exposure_time",
    "aperture", "iso", "focal_length", "width", "height", "orientation", "gps_latitude",
    "gps_longitude", "metadata_error", "format", "metadata_at",
)  # fmt: skip


def set_photo_metadata(db: SqliteDatabase, rows: Sequence[tuple]) -> None:
    """rows: the PHOTO_METADATA_COLUMNS values, then the photo id."""
    assignments = ", ".join(f"{column} = ?" for column in PHOTO_METADATA_COLUMNS)
    executemany(db, f"UPDATE photo SET {assignments} WHERE id = ?", rows)


def set_previews(db: SqliteDatabase, rows: Sequence[tuple]) -> None:
    """rows: (preview_at, preview_error, blake3)"""
    executemany(db, "UPDATE photo SET preview_at = ?, preview_error = ? WHERE blake3 = ?", rows)


# How a photo looks (core.media.looks), as the media workers measure it, in this order.
LOOK_COLUMNS = (
    "look_error", "phash", "sharpness", "sharp_x", "sharp_y", "af_x", "af_y",
    "clipped_highlights", "clipped_shadows",
)  # fmt: skip


def set_looks(db: SqliteDatabase, looked_at: float, looks: dict[str, dict]) -> None:
    """Store each photo's looks ({blake3: {column: value}}; a column missing is NULL)."""
    rows = [
        (looked_at, *(values.get(column) for column in LOOK_COLUMNS), blake3)
        for blake3, values in looks.items()
    ]
    assignments = ", ".join(f"{column} = ?" for column in LOOK_COLUMNS)
    executemany(db, f"UPDATE photo SET looked_at = ?, {assignments} WHERE blake3 = ?", rows)


def photo_ids_of(db: SqliteDatabase, blake3s: Iterable[str]) -> list[int]:
    """The ids of the photos with these blake3s, in id order."""
    among, digests = one_of(db, "blake3", blake3s)
    return [
        row[0]
        for row in db.execute_sql(f"SELECT id FROM photo WHERE {among} ORDER BY id", (digests,))
    ]


def count_to_read(db: SqliteDatabase, up_to: int) -> int:
    """How many of the files not described yet have no description the scan made while
    hashing them (so a worker must read them), counted up to ``up_to``."""
    return db.execute_sql(
        "SELECT count(*) FROM (SELECT 1 FROM file WHERE format IS NULL AND description IS NULL"
        " AND kind != 'xmp' AND blake3 IS NOT NULL LIMIT ?) AS waiting",
        (up_to,),
    ).fetchone()[0]


def newest_without_preview(
    db: SqliteDatabase, limit: int, folder: tuple[int, str] | None = None
) -> list[tuple]:
    """(photo id, blake3, root path, rel_path, format, orientation) of photos with EXIF read,
    no preview built and no reason why not; newest first by capture time (photos with none
    last), the order a photographer goes back to shoots in. ``folder`` (root id, rel_dir)
    keeps to the photos whose original is in that folder or below it."""
    where, params = "", []
    if folder is not None:
        root_id, rel_dir = folder
        where = " AND f.root_id = ?"
        params = [root_id]
        if rel_dir:
            where += " AND f.rel_path > ? AND f.rel_path < ?"
            params += [rel_dir + "/", rel_dir + "0"]  # "0" sorts right after "/"
    return db.execute_sql(
        "SELECT p.id, p.blake3, r.path, f.rel_path, f.format, p.orientation FROM photo p"
        " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id"
        " WHERE p.metadata_at IS NOT NULL AND p.preview_at IS NULL AND p.preview_error IS NULL"
        f"{where} ORDER BY p.capture_time IS NULL, p.capture_time DESC, p.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()


def original_of(db: SqliteDatabase, photo_id: int) -> tuple | None:
    """(blake3, root path, rel_path, format, orientation) of a photo's original."""
    return db.execute_sql(
        "SELECT p.blake3, r.path, f.rel_path, f.format, p.orientation FROM photo p"
        " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id WHERE p.id = ? LIMIT 1",
        (photo_id,),
    ).fetchone()


def root_offline_reason(db: SqliteDatabase, root_path: str) -> str | None:
    """Why the engine found the root at ``root_path`` offline; None while it is online."""
    row = db.execute_sql(
        "SELECT state, state_reason FROM root WHERE path = ?", (root_path,)
    ).fetchone()
    if row is None or row[0] != "offline":
        return None
    return row[1] or "offline"


def focus_points(db: SqliteDatabase, photo_id: int) -> tuple:
    """(af_x, af_y, sharp_x, sharp_y) of a photo: where a loupe starts; NULLs where unknown."""
    row = db.execute_sql(
        "SELECT af_x, af_y, sharp_x, sharp_y FROM photo WHERE id = ?", (photo_id,)
    ).fetchone()
    return row or (None, None, None, None)


# The triage queue: which photos a filter shows, in the order they were taken.
QUEUE_FILTERS = {
    "all": ("TRUE", ()),
    "pending": ("p.decision = 'pending'", ()),
    "approved": ("p.decision = 'approved'", ()),
    "rejected": ("p.decision = 'rejected'", ()),
    "unrated": ("p.rating = 0", ()),
}


# A camera body by its model ("NIKON D750"), make and model ("Canon Canon EOS R5") or make,
# in any case (ASCII letters: SQLite's lower(), like its NOCASE, folds no others).
CAMERA_SQL = (
    "(lower(p.camera_model) = lower(?)"
    " OR lower(COALESCE(p.camera_make, '') || ' ' || COALESCE(p.camera_model, '')) = lower(?)"
    " OR lower(p.camera_make) = lower(?))"
)
# Soft: params (floor, ratio), core.triage.bursts.is_soft in SQL.
SOFT_SQL = (
    "(p.sharpness IS NOT NULL AND (p.sharpness < ? OR (p.burst IS NOT NULL AND p.sharpness < ?"
    " * (SELECT max(q.sharpness) FROM photo q WHERE q.burst = p.burst))))"
)


# The camera's own wall clock as shot, as seconds: a capture time with its UTC offset turned
# back to the clock the camera showed ("+02:00" is always six characters, core.media.metadata).
# Two bodies at one wedding, one writing its offset and one not, then sort as they were shot.
WALL_CLOCK_SQL = (
    "(p.capture_time + CASE WHEN p.capture_offset IS NULL THEN 0"
    " ELSE (CASE substr(p.capture_offset, 1, 1) WHEN '-' THEN -1 ELSE 1 END)"
    " * (CAST(substr(p.capture_offset, 2, 2) AS INTEGER) * 3600"
    " + CAST(substr(p.capture_offset, 5, 2) AS INTEGER) * 60) END)"
)
# The original's file name (what is left after the last '/'): the camera's sequence.
FILE_NAME_SQL = "replace(f.rel_path, rtrim(f.rel_path, replace(f.rel_path, '/', '')), '')"
# A photo's first original (of those on disk: a copied card holds it twice), for a join on
# ``f.id`` that gives one row per photo on both back ends (for a page of photos; the queue
# itself keeps SQLite's faster GROUP BY there: _queue_sql).
FIRST_ORIGINAL_SQL = (
    "(SELECT min(o.id) FROM file o WHERE o.photo_id = p.id AND o.role = 'original')"
)
# Edited in darktable (any version of the original has an edit: DarktableImage.altered),
# matched on darktable's (folder, file name) index.
EDITED_SQL = (
    "EXISTS (SELECT 1 FROM darktable_image d WHERE d.altered"
    f" AND d.filename = {FILE_NAME_SQL} AND d.film_roll_folder = substr(r.path || '/' ||"
    f" f.rel_path, 1, length(r.path) + length(f.rel_path) - length({FILE_NAME_SQL})))"
)


def _queue_sql(
    db: SqliteDatabase, columns: str, where: str, params: tuple, folder: str | None
) -> tuple[str, list]:
    """The photos (with an original on disk) matching ``where``, one row each; ``folder``
    (root path + "/" + folder) keeps the photos under it. A photo whose original is on disk
    twice (a copied card) is one row: SQLite groups by the photo and takes one of its
    originals (its bare columns, the fastest there); on PostgreSQL, which refuses them, a
    subquery picks the photo's first original (under ``folder``)."""
    in_folder = "(r.path || '/' || f.rel_path) > ? AND (r.path || '/' || f.rel_path) < ?"
    folder_args = [] if folder is None else [folder.rstrip("/") + "/", folder.rstrip("/") + "0"]
    if groups_pick_a_row(db):
        sql = (
            f"SELECT {columns} FROM photo p"
            " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
            " JOIN root r ON r.id = f.root_id"
            f" WHERE {where}"
        )
        if folder is not None:
            sql += f" AND {in_folder}"
        return sql + " GROUP BY p.id", [*params, *folder_args]
    first = "" if folder is None else (
        " JOIN root r ON r.id = o.root_id AND " + in_folder.replace("f.", "o.")
    )  # fmt: skip
    sql = (
        f"SELECT {columns} FROM photo p"
        f" JOIN file f ON f.id = (SELECT min(o.id) FROM file o{first}"
        " WHERE o.photo_id = p.id AND o.role = 'original')"
        " JOIN root r ON r.id = f.root_id"
        f" WHERE {where}"
    )
    return sql, [*folder_args, *params]


def triage_queue_entries(
    db: SqliteDatabase, where: str, params: tuple = (), folder: str | None = None
) -> list[tuple[int, str, float | None]]:
    """(photo id, decision, wall clock) of the photos matching ``where``, in the order they
    were shot: by the camera's wall clock (the time it showed, whatever UTC offset it
    recorded), then the file name (the camera's sequence), then the path; photos without a
    capture time last."""
    sql, args = _queue_sql(db, f"p.id, p.decision, {WALL_CLOCK_SQL} AS wall", where, params, folder)
    sql += f" ORDER BY p.capture_time IS NULL, wall, {FILE_NAME_SQL}, r.path, f.rel_path"
    return db.execute_sql(sql, args).fetchall()


# Photos whose capture time (not their wall clock) is between two bounds, by the capture time's
# index: how a part of the queue is had without reading all of it (core.triage.queue).
CAPTURED_BETWEEN_SQL = "p.id IN (SELECT q.id FROM photo q WHERE q.capture_time BETWEEN ? AND ?)"
UNTIMED_SQL = "p.capture_time IS NULL"


def largest_clock_offset(db: SqliteDatabase) -> float:
    """The largest distance, in seconds, between a photo's wall clock and its capture time
    (its UTC offset); 0 when no photo has one. One pass over the photos, no join."""
    row = db.execute_sql(
        f"SELECT max(abs({WALL_CLOCK_SQL} - p.capture_time)) FROM photo p"
        " WHERE p.capture_offset IS NOT NULL"
    ).fetchone()
    return float(row[0] or 0.0)


@dataclass(frozen=True)
class CaptureSpan:
    """Where the photos' capture times lie, read from the capture time's index alone."""

    first: float | None  # the earliest capture time; None when no photo has one
    last: float | None
    untimed: bool  # some photo has no capture time


def photos_at_most(db: SqliteDatabase) -> int:
    """How many photos the catalogue holds at most (the largest id: one look at the index)."""
    return db.execute_sql("SELECT max(id) FROM photo").fetchone()[0] or 0


def capture_span(db: SqliteDatabase) -> CaptureSpan:
    sql = "SELECT min(capture_time), max(capture_time) FROM photo"
    first, last = db.execute_sql(sql).fetchone()
    untimed = db.execute_sql("SELECT 1 FROM photo WHERE capture_time IS NULL LIMIT 1").fetchone()
    return CaptureSpan(first, last, untimed is not None)


def burst_members(db: SqliteDatabase, photo_id: int) -> list[int]:
    """The photos of ``photo_id``'s burst (``Photo.burst``: the id of its first photo), in the
    order they were shot; ``[photo_id]`` alone when it belongs to none."""
    row = db.execute_sql("SELECT burst FROM photo WHERE id = ?", (photo_id,)).fetchone()
    if row is None or row[0] is None:
        return [photo_id]
    return [member for member, _, _ in triage_queue_entries(db, "p.burst = ?", (row[0],))]


def counted_decision(
    db: SqliteDatabase, photo_id: int, where: str, params: tuple = (), folder: str | None = None
) -> str | None:
    """The photo's decision when it matches ``where`` (and ``folder``), else None."""
    sql, args = _queue_sql(db, "p.decision", f"({where}) AND p.id = ?", (*params, photo_id), folder)
    row = db.execute_sql(sql, args).fetchone()
    return row[0] if row else None


def decision_counts(
    db: SqliteDatabase, where: str, params: tuple = (), folder: str | None = None
) -> dict[str, int]:
    """{decision: photos} of the photos matching ``where``, every decision present."""
    sql, args = _queue_sql(db, "p.decision", where, params, folder)
    counts = dict.fromkeys(("pending", "approved", "rejected"), 0)
    counts.update(
        db.execute_sql(f"SELECT decision, count(*) FROM ({sql}) AS queue GROUP BY 1", args)
    )
    return counts


def queue_members(
    db: SqliteDatabase, where: str, params: tuple = (), folder: str | None = None
) -> list[int]:
    """The ids of the photos matching ``where`` (and ``folder``), in no order."""
    sql, args = _queue_sql(db, "p.id", where, params, folder)
    return [photo_id for (photo_id,) in db.execute_sql(sql, args)]


def xmp_not_read(db: SqliteDatabase, photo_ids: Iterable[int]) -> set[int]:
    """Those of ``photo_ids`` whose existing XMP has not been read into their triage state
    yet (``core.triage.sidecar_read``): a reject or stars may still come to them."""
    among, ids = one_of(db, "id", photo_ids)
    return {
        photo_id
        for (photo_id,) in db.execute_sql(
            f"SELECT id FROM photo WHERE {among} AND xmp_read_at IS NULL", (ids,)
        )
    }


def photo_folders(db: SqliteDatabase) -> list[tuple[str, int]]:
    """(folder, photos) of every folder holding photo originals, by path: the shoots."""
    counts: dict[str, int] = {}
    for root, rel_path in db.execute_sql(
        "SELECT r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.role = 'original'"
    ):
        folder = os.path.dirname(os.path.join(root, rel_path))
        counts[folder] = counts.get(folder, 0) + 1
    return sorted(counts.items())


@dataclass(frozen=True)
class IndexProgress:
    """How far the catalogue has got with its files, as the engine fills it."""

    files: int  # catalogued files that may be pictures (sidecars aside)
    described: int  # of those, looked at (type, EXIF) and grouped into photos
    photos: int
    previews: int  # photos with a preview built, or the reason why there is none
    roots_not_scanned: int = 0  # roots no scan has finished with yet (added, never indexed)


def index_progress(db: SqliteDatabase) -> IndexProgress:
    files, described = db.execute_sql(
        "SELECT count(*), count(format) FROM file WHERE kind != 'xmp'"
    ).fetchone()
    photos, previews = db.execute_sql(
        "SELECT count(*), count(preview_at) + count(CASE WHEN preview_at IS NULL"
        " THEN preview_error END) FROM photo"
    ).fetchone()
    (roots_not_scanned,) = db.execute_sql(
        "SELECT count(*) FROM root r WHERE NOT EXISTS (SELECT 1 FROM sync_run s"
        " WHERE s.root_id = r.id AND s.status != 'running')"
    ).fetchone()
    return IndexProgress(files, described, photos, previews, roots_not_scanned)


# --- bursts (core.triage.bursts) --------------------------------------------------------------

# The camera body a photo was taken with, as grouping tells bodies apart: make and model.
BODY_SQL = "(COALESCE(p.camera_make, '') || '|' || COALESCE(p.camera_model, ''))"


def _wall_of(alias: str) -> str:
    return WALL_CLOCK_SQL.replace("p.", f"{alias}.")


# A burst's pick, first in this order: the approved one, else the sharpest of those not
# rejected (a rejected frame is not the pick), else the first shot. Over the alias ``q``.
def _leader_order(decision_rank: str) -> str:
    return f"{decision_rank}, q.sharpness IS NULL, q.sharpness DESC, {_wall_of('q')}, q.id"


def _decision_rank(
    db: SqliteDatabase, decided: tuple[Sequence[int], Sequence[int]] | None
) -> tuple[str, list]:
    """(SQL, its parameters) ranking ``q`` by decision for the pick: the approved first, the
    rejected last. ``decided``: (approved ids, rejected ids) that rank in place of the photos'
    own decisions (a person's, core.triage.people), every other photo pending."""
    if decided is None:
        return "q.decision = 'approved' DESC, q.decision = 'rejected'", []
    approved, approved_ids = one_of(db, "q.id", decided[0])
    rejected, rejected_ids = one_of(db, "q.id", decided[1])
    return (
        f"CASE WHEN {approved} THEN 0 WHEN {rejected} THEN 2 ELSE 1 END",
        [approved_ids, rejected_ids],
    )


def _is_leader_sql(decision_rank: str) -> str:
    return (
        "(p.burst IS NULL OR p.id = (SELECT q.id FROM photo q WHERE q.burst = p.burst"
        f" ORDER BY {_leader_order(decision_rank)} LIMIT 1))"
    )


LEADER_ORDER_SQL = _leader_order(_decision_rank(None, None)[0])
# Whether the photo ``p`` leads its burst (or is in none), by the photos' own decisions.
IS_LEADER_SQL = _is_leader_sql(_decision_rank(None, None)[0])


def is_leader(
    db: SqliteDatabase, decided: tuple[Sequence[int], Sequence[int]] | None = None
) -> tuple[str, tuple]:
    """(SQL over ``p``, its parameters) holding when the photo leads its burst (or is in none)
    by ``LEADER_ORDER_SQL``'s rule; ``decided`` as for ``burst_representatives``."""
    rank, params = _decision_rank(db, decided)
    return _is_leader_sql(rank), tuple(params)


@dataclass(frozen=True)
class BurstFact:
    """What bursts need of one photo."""

    photo_id: int
    burst: int | None
    wall: float | None
    body: str
    sharpness: float | None
    decision: str


def burst_facts(
    db: SqliteDatabase, photo_ids: Iterable[int], bursts: Iterable[int] = ()
) -> dict[int, BurstFact]:
    """{photo id: BurstFact} of ``photo_ids`` and of the members of ``bursts``."""
    among, ids = one_of(db, "p.id", photo_ids)
    in_bursts, burst_ids = one_of(db, "p.burst", bursts)
    rows = db.execute_sql(
        f"SELECT p.id, p.burst, {WALL_CLOCK_SQL}, {BODY_SQL}, p.sharpness, p.decision"
        f" FROM photo p WHERE {among} OR {in_bursts}",
        (ids, burst_ids),
    ).fetchall()
    return {row[0]: BurstFact(*row) for row in rows}


# UTC offsets run from -12:00 to +14:00: the wall clock is within these of the capture time.
_OFFSET_WEST, _OFFSET_EAST = 12 * 3600, 14 * 3600


def shots_of_bodies(
    db: SqliteDatabase, bodies: Sequence[str] | None, low: float | None, high: float | None
) -> list[tuple[int, float, str, str | None]]:
    """(photo id, wall clock, body, phash) of the photos (with an original on disk and a
    capture time) of ``bodies`` (None: every body) taken between ``low`` and ``high`` on the
    camera's wall clock (None: no bound), in the order they were shot (the wall clock, then
    the original's file name)."""
    where = [f"{WALL_CLOCK_SQL} IS NOT NULL"]
    params: list = []
    if bodies is not None:
        among, names = one_of(db, BODY_SQL, bodies)
        where.append(among)
        params.append(names)
    # The capture time's index narrows the photos read to a day around the window; the wall
    # clock then chooses. Read from the photos first: from the files, every file is read.
    if low is not None:
        where += ["p.capture_time >= ?", f"{WALL_CLOCK_SQL} >= ?"]
        params += [low - _OFFSET_EAST, low]
    if high is not None:
        where += ["p.capture_time <= ?", f"{WALL_CLOCK_SQL} <= ?"]
        params += [high + _OFFSET_WEST, high]
    original = "(SELECT f.rel_path FROM file f WHERE f.photo_id = p.id AND f.role = 'original'"
    # The shots chosen in a subquery: only SQLite reads a column's alias (rel) in its WHERE.
    sql = (
        "SELECT id, wall, body, phash FROM ("
        f"SELECT p.id AS id, {WALL_CLOCK_SQL} AS wall, {BODY_SQL} AS body, p.phash AS phash,"
        f" {original} LIMIT 1) AS rel FROM photo p WHERE {' AND '.join(where)}) AS shots"
        " WHERE rel IS NOT NULL"
        " ORDER BY wall, replace(rel, rtrim(rel, replace(rel, '/', '')), ''), rel"
    )
    return [row[:4] for row in db.execute_sql(sql, params)]


def set_bursts(db: SqliteDatabase, rows: Sequence[tuple[int | None, int]]) -> None:
    """rows: (burst id or None, photo id)."""
    executemany(db, "UPDATE photo SET burst = ? WHERE id = ?", rows)


def burst_leader(db: SqliteDatabase, burst_id: int) -> int | None:
    """The pick of a burst (``LEADER_ORDER_SQL``)."""
    row = db.execute_sql(
        f"SELECT q.id FROM photo q WHERE q.burst = ? ORDER BY {LEADER_ORDER_SQL} LIMIT 1",
        (burst_id,),
    ).fetchone()
    return row[0] if row else None


def burst_representatives(
    db: SqliteDatabase,
    photo_ids: Sequence[int],
    decided: tuple[Sequence[int], Sequence[int]] | None = None,
) -> dict[int, int]:
    """{burst id: the member of ``photo_ids`` that ranks first by ``LEADER_ORDER_SQL``} for the
    bursts those photos are in: one entry per burst when a queue is collapsed. ``decided``:
    (approved ids, rejected ids) that rank in place of the photos' own decisions (a person's,
    core.triage.people), every other photo pending."""
    chosen: dict[int, int] = {}
    among, ids = one_of(db, "q.id", photo_ids)
    rank, rank_params = _decision_rank(db, decided)
    for photo_id, burst in db.execute_sql(
        f"SELECT q.id, q.burst FROM photo q WHERE {among}"
        f" AND q.burst IS NOT NULL ORDER BY q.burst, {_leader_order(rank)}",
        [ids, *rank_params],
    ):
        chosen.setdefault(burst, photo_id)
    return chosen


def decisions_of(db: SqliteDatabase, photo_ids: Sequence[int]) -> dict[int, str]:
    """{photo id: its decision now} of ``photo_ids``."""
    among, ids = one_of(db, "id", photo_ids)
    return dict(db.execute_sql(f"SELECT id, decision FROM photo WHERE {among}", (ids,)).fetchall())


def camera_bodies(db: SqliteDatabase) -> list[tuple[str | None, str | None, int]]:
    """(make, model, photos) of every camera body the catalogue has photos of."""
    return db.execute_sql(
        "SELECT camera_make, camera_model, count(*) FROM photo"
        " WHERE camera_model IS NOT NULL OR camera_make IS NOT NULL"
        " GROUP BY camera_make, camera_model ORDER BY count(*) DESC"
    ).fetchall()


@dataclass(frozen=True)
class BurstMemberRow:
    """One photo of a burst as the ``bursts`` command lists it."""

    photo_id: int
    burst: int
    root: str
    rel_path: str
    wall: float | None
    camera_make: str | None
    camera_model: str | None
    decision: str
    rating: int
    labels: int
    sharpness: float | None


def burst_member_rows(
    db: SqliteDatabase, folder: str | None = None, bursts: Sequence[int] | None = None
) -> list[BurstMemberRow]:
    """The photos in bursts (under ``folder``; of ``bursts`` only), by burst, in shot order."""
    where, params = "p.burst IS NOT NULL", ()
    if bursts is not None:
        among, burst_ids = one_of(db, "p.burst", bursts)
        where, params = among, (burst_ids,)
    sql, args = _queue_sql(
        db, f"p.id, p.burst, r.path, f.rel_path, {WALL_CLOCK_SQL} AS wall, p.camera_make,"
        " p.camera_model, p.decision, p.rating, p.labels, p.sharpness",
        where, params, folder,
    )  # fmt: skip
    sql += f" ORDER BY p.burst, wall, {FILE_NAME_SQL}, r.path, f.rel_path"
    return [BurstMemberRow(*row) for row in db.execute_sql(sql, args)]


def photos_without_hash(db: SqliteDatabase, folder: str | None = None) -> int:
    """How many photos (under ``folder``) have no perceptual hash yet: not in any burst."""
    sql, args = _queue_sql(db, "p.id", "p.phash IS NULL", (), folder)
    return db.execute_sql(f"SELECT count(*) FROM ({sql}) AS queue", args).fetchone()[0]
