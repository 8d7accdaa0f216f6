"""What the app keeps between runs in the catalogue itself (its meta table), so that it
belongs to the catalogue and not to one machine's files: where triage stood, its filter and
the photo on screen, for a reopened app (or one killed) to resume there."""

from __future__ import annotations

import json
from dataclasses import dataclass

from peewee import SqliteDatabase

TRIAGE_POSITION_KEY = "app.triage_position"


@dataclass(frozen=True)
class TriagePosition:
    filter: str  # as the photographer chose it: "pending", "folder:/photos/2024-06-01"
    photo_id: int | None  # the photo on screen


def triage_position(db: SqliteDatabase) -> TriagePosition | None:
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (TRIAGE_POSITION_KEY,)).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
        return TriagePosition(str(value["filter"]), value.get("photo_id"))
    except (ValueError, KeyError, TypeError):  # written by no version of ours: start afresh
        return None


def set_triage_position(db: SqliteDatabase, position: TriagePosition) -> None:
    """In the caller's write transaction."""
    value = json.dumps({"filter": position.filter, "photo_id": position.photo_id})
    db.execute_sql(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (TRIAGE_POSITION_KEY, value),
    )
