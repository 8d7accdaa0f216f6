"""What a thumbnail's caption says about each photo of a contact sheet or a filmstrip: its file
name, decision (as the view shows it: core.triage.people.SeenDecisions), stars, labels and
burst, read for a page of photos in one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from peewee import SqliteDatabase

from core.store.dialect import one_of
from core.store.photos import FILE_NAME_SQL, FIRST_ORIGINAL_SQL
from core.triage.people import SeenDecisions


@dataclass(frozen=True)
class TileFacts:
    photo_id: int
    name: str  # the original's file name
    decision: str
    rating: int
    labels: int
    burst: int | None  # the id of its burst's first photo (None: in no burst)


def tile_facts(
    db: SqliteDatabase, photo_ids: Iterable[int], seen: SeenDecisions | None = None
) -> dict[int, TileFacts]:
    """{photo id: its facts} of the photos that are in the catalogue (a page: a few dozen),
    each decision the one ``seen`` shows (without it: the photo's own)."""
    among, wanted = one_of(db, "p.id", photo_ids)
    rows = db.execute_sql(
        f"SELECT p.id, {FILE_NAME_SQL}, p.decision, p.rating, p.labels, p.burst FROM photo p"
        f" JOIN file f ON f.id = {FIRST_ORIGINAL_SQL} WHERE {among}",
        (wanted,),
    ).fetchall()
    if seen is not None and not seen.everyone:
        rows = [(pid, name, seen.decision(pid, decision), *rest)
                for pid, name, decision, *rest in rows]  # fmt: skip
    return {row[0]: TileFacts(*row) for row in rows}
