"""What a thumbnail's caption says about each photo of a contact sheet or a filmstrip: its file
name, decision, stars, labels and burst, read for a page of photos in one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from peewee import SqliteDatabase

from core.store.dialect import one_of
from core.store.photos import FILE_NAME_SQL, FIRST_ORIGINAL_SQL


@dataclass(frozen=True)
class TileFacts:
    photo_id: int
    name: str  # the original's file name
    decision: str
    rating: int
    labels: int
    burst: int | None  # the id of its burst's first photo (None: in no burst)


def tile_facts(db: SqliteDatabase, photo_ids: Iterable[int]) -> dict[int, TileFacts]:
    """{photo id: its facts} of the photos that are in the catalogue (a page: a few dozen)."""
    among, wanted = one_of(db, "p.id", photo_ids)
    rows = db.execute_sql(
        f"SELECT p.id, {FILE_NAME_SQL}, p.decision, p.rating, p.labels, p.burst FROM photo p"
        f" JOIN file f ON f.id = {FIRST_ORIGINAL_SQL} WHERE {among}",
        (wanted,),
    ).fetchall()
    return {row[0]: TileFacts(*row) for row in rows}
