"""Named queries on the decision log by person: the log as rows (who, when, which photo, what),
and each person's standing decision per photo, for the merged view (core.triage.people)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from peewee import Database

from core.store.dialect import same_as

# What a person did (in the app, on the command line, settling a conflict), as opposed to an
# undo or a redo: the rows that stand until taken back.
RESOLVE = "resolve"  # a decision that settles what people disagree on (core.triage.people)
MADE = ("key", "cli", RESOLVE)


@dataclass(frozen=True)
class LoggedDecision:
    """One row of the decision log: a decision, or its undo or redo."""

    id: int
    photo_id: int
    path: str | None  # the photo's original (absolute), None when it has none on file
    action: str  # decision, rating, labels
    before: object
    after: object
    source: str  # key (the app), cli, resolve, undo, redo
    taken_back: bool  # a decision undone since (and not redone)
    at: float
    person: str | None  # None: logged before people were recorded


@dataclass(frozen=True)
class StandingDecision:
    """A person's decision on a photo that stands (not taken back): their newest."""

    id: int
    photo_id: int
    person: str | None
    decision: str  # pending, approved, rejected
    source: str
    at: float


def decision_log(
    db: Database, person: str | None = None, limit: int | None = None
) -> list[LoggedDecision]:
    """The log, oldest first: every row, or ``person``'s; with ``limit``, the newest rows."""
    where, args = ("WHERE d.person = ?", [person]) if person is not None else ("", [])
    tail = ""
    if limit is not None:
        tail, args = " LIMIT ?", [*args, limit]
    rows = db.execute_sql(
        "SELECT d.id, d.photo_id, d.action, d.before, d.after, d.source, d.undone, d.at,"
        f" d.person FROM decision d {where} ORDER BY d.id DESC{tail}",
        args,
    ).fetchall()
    paths = original_paths(db, sorted({row[1] for row in rows}))
    return [_logged(row, paths.get(row[1])) for row in reversed(rows)]


def _logged(row: tuple, path: str | None) -> LoggedDecision:
    id_, photo_id, action, before, after, source, undone, at, person = row
    return LoggedDecision(
        id=id_, photo_id=photo_id, path=path, action=action, before=_value(before),
        after=_value(after), source=source, taken_back=bool(undone) and source in MADE, at=at,
        person=person,
    )  # fmt: skip


def standing_decisions(db: Database, photo_id: int | None = None) -> list[StandingDecision]:
    """Each person's standing decision (approve / reject / pending) on each photo they
    decided (or on ``photo_id`` alone), by photo, oldest first."""
    one, args = ("AND photo_id = ?", (photo_id,)) if photo_id is not None else ("", ())
    rows = db.execute_sql(
        "SELECT id, photo_id, person, after, source, at FROM decision WHERE id IN ("
        "  SELECT MAX(id) FROM decision"
        f"  WHERE NOT undone AND action = 'decision' AND source IN {MADE} {one}"
        "  GROUP BY photo_id, person)"
        " ORDER BY photo_id, id",
        args,
    ).fetchall()
    return [
        StandingDecision(row[0], row[1], row[2], _value(row[3]), row[4], row[5]) for row in rows
    ]


def person_standing(db: Database, person: str | None) -> dict[int, str]:
    """{photo id: ``person``'s standing decision} of every photo they decided, in one query
    (None: someone before people were recorded)."""
    rows = db.execute_sql(
        "SELECT photo_id, after FROM decision WHERE id IN ("
        "  SELECT MAX(id) FROM decision"
        f"  WHERE NOT undone AND action = 'decision' AND source IN {MADE}"
        f"  AND person {same_as(db)} ? GROUP BY photo_id)",
        (person,),
    ).fetchall()
    return {photo_id: _value(after) for photo_id, after in rows}


def original_paths(db: Database, photo_ids: list[int]) -> dict[int, str]:
    """The original's path of each photo of ``photo_ids`` that has one on file."""
    found: dict[int, str] = {}
    for start in range(0, len(photo_ids), 500):  # a bounded number of parameters per query
        chunk = photo_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for photo_id, root, rel_path in db.execute_sql(
            "SELECT f.photo_id, r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
            f" WHERE f.role = 'original' AND f.photo_id IN ({marks}) ORDER BY f.id",
            chunk,
        ):
            found.setdefault(photo_id, os.path.join(root, rel_path))
    return found


def people(db: Database) -> list[str | None]:
    """Everyone who made a decision, by name (None: someone before people were recorded)."""
    rows = db.execute_sql("SELECT DISTINCT person FROM decision").fetchall()
    return sorted((row[0] for row in rows), key=lambda name: (name is None, name or ""))


def _value(text: str | None) -> object:
    return None if text is None else json.loads(text)
