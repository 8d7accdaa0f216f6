"""What the media pipeline has left to do, counted in plain SQL: files not described, photos
whose EXIF or looks were never read, photos without a preview. Through anything with
``execute_sql`` (a peewee database, or core.cli.quick_catalogue's plain connection to a file
or a server), so a scan that finds nothing changed can say what is left without loading the
ORM."""

from __future__ import annotations

from typing import Any, Protocol

# A scan builds the previews it leaves missing when there are no more than this (a few
# seconds of work: a shoot copied in); more are the engine's, in the background.
SCAN_PREVIEWS_UP_TO = 1_000


class Sql(Protocol):
    def execute_sql(self, sql: str, params: Any = ...) -> Any: ...


def photos_not_looked_at(db: Sql, after_id: int, limit: int) -> list[tuple]:
    """As newest_without_preview, for photos with a preview whose looks were never measured
    (a catalogue from before they were)."""
    return db.execute_sql(
        "SELECT p.id, p.blake3, r.path, f.rel_path, f.format, p.orientation FROM photo p"
        " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id"
        " WHERE p.preview_at IS NOT NULL AND p.looked_at IS NULL"
        " AND p.id > ? ORDER BY p.id LIMIT ?",
        (after_id, limit),
    ).fetchall()


def files_not_described(db: Sql, after_id: int, limit: int) -> list[tuple]:
    """(file id, root path, rel_path) of files the media workers have not looked at."""
    return db.execute_sql(
        "SELECT f.id, r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.format IS NULL AND f.id > ? AND f.kind != 'xmp' AND f.blake3 IS NOT NULL"
        " ORDER BY f.id LIMIT ?",
        (after_id, limit),
    ).fetchall()


def any_photo_without_metadata(db: Sql) -> bool:
    """Whether any photo's EXIF is still to be read: told by the partial index at once, where
    ``photos_without_metadata`` reads every file in id order to find there is none (19 ms at
    100,000 photos, on every scan that changed nothing)."""
    query = "SELECT EXISTS (SELECT 1 FROM photo WHERE metadata_at IS NULL)"
    return bool(db.execute_sql(query).fetchone()[0])


def photos_without_metadata(db: Sql, after_id: int, limit: int) -> list[tuple]:
    """(original file id, root path, rel_path) of photos whose EXIF was not read."""
    return db.execute_sql(
        "SELECT f.id, r.path, f.rel_path FROM photo p"
        " JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id"
        " WHERE p.metadata_at IS NULL AND f.id > ? ORDER BY f.id LIMIT ?",
        (after_id, limit),
    ).fetchall()


def count_without_preview(db: Sql) -> int:
    """How many photos ``newest_without_preview`` has to give: EXIF read, an original file,
    no preview and no reason why not."""
    return db.execute_sql(
        "SELECT count(*) FROM photo p WHERE p.metadata_at IS NOT NULL"
        " AND p.preview_at IS NULL AND p.preview_error IS NULL AND EXISTS"
        " (SELECT 1 FROM file f WHERE f.photo_id = p.id AND f.role = 'original')"
    ).fetchone()[0]


def preview_work(db: Sql, all_previews: bool) -> tuple[int, bool]:
    """(photos without a preview, whether a scan builds them and measures the photos never
    measured): when they are few, or ``all_previews``."""
    left = count_without_preview(db)
    if not (all_previews or left <= SCAN_PREVIEWS_UP_TO):
        return left, False
    return left, left > 0 or bool(photos_not_looked_at(db, 0, 1))
