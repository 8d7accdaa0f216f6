"""Named queries for the darktable snapshot: one DarktableImage row per darktable image, and the
file records the darktable correlations look up."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from peewee import SqliteDatabase

from core.store.dialect import executemany, same_as
from core.store.events import EventKind
from core.store.models import CatalogueFact, DarktableImage

LIBRARY_KEY = "darktable.library"
SNAPSHOT_COLUMNS = (
    "darktable_id, film_roll_folder, filename, version, stars, rejected, labels, tags,"
    " internal_tags, altered, history_end, imported_at, changed_at, exported_at, signature,"
    " rated_by_hand, exif, seen_at, sidecar_at"
)


def followed_library() -> str | None:
    fact = CatalogueFact.get_or_none(CatalogueFact.key == LIBRARY_KEY)
    return fact.value if fact else None


def follow_library(db: SqliteDatabase, library: str) -> int:
    """Start a snapshot of another library: the old one's ids mean nothing there. Returns the
    number of snapshot rows dropped."""
    with db.atomic():
        dropped = DarktableImage.delete().execute()
        CatalogueFact.insert(key=LIBRARY_KEY, value=library).on_conflict(
            conflict_target=[CatalogueFact.key], preserve=[CatalogueFact.value]
        ).execute()
    return dropped


def load_snapshot(db: SqliteDatabase) -> list[tuple]:
    """Every snapshot row as a tuple in ``SNAPSHOT_COLUMNS`` order (tags and exif as JSON)."""
    return db.execute_sql(f"SELECT {SNAPSHOT_COLUMNS} FROM darktable_image").fetchall()


def save_images(db: SqliteDatabase, rows: Iterable[tuple]) -> None:
    """Insert or update snapshot rows given in ``SNAPSHOT_COLUMNS`` order."""
    names = [name.strip() for name in SNAPSHOT_COLUMNS.split(",")]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
    executemany(
        db,
        f"INSERT INTO darktable_image ({SNAPSHOT_COLUMNS})"
        f" VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT (darktable_id) DO UPDATE SET {updates}",
        rows,
    )


def delete_images(db: SqliteDatabase, darktable_ids: Sequence[int]) -> None:
    executemany(
        db, "DELETE FROM darktable_image WHERE darktable_id = ?", ((i,) for i in darktable_ids)
    )


def images_at(folder: str, filename: str) -> list[DarktableImage]:
    """The darktable images (every version) of the file at folder/filename."""
    return list(
        DarktableImage.select()
        .where((DarktableImage.film_roll_folder == folder) & (DarktableImage.filename == filename))
        .order_by(DarktableImage.version)
    )


def as_json(values: Sequence[str]) -> str:
    return json.dumps(list(values))


def reported_paths(kind: EventKind) -> set[tuple[int | None, str]]:
    """(root_id, path) of every event of this kind: to say a thing once."""
    db = DarktableImage._meta.database
    rows = db.execute_sql("SELECT root_id, path FROM event WHERE kind = ?", (kind,)).fetchall()
    return {(root_id, path) for root_id, path in rows}


def removed_at(root_id: int | None, path: str) -> float | None:
    """When darktable's library last lost the image of this file (a darktable_removed event),
    or None: a file darktable does not have was either removed from it or never imported."""
    db = DarktableImage._meta.database
    row = db.execute_sql(
        f"SELECT max(at) FROM event WHERE kind = ? AND root_id {same_as(db)} ? AND path = ?",
        (EventKind.DARKTABLE_REMOVED, root_id, path),
    ).fetchone()
    return row[0] if row else None
