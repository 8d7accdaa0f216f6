"""Decisions on photos, and undo / redo, from the Decision log.

Every change is one transaction: the photo's field and its Decision row (before, after), so
what the screen shows as made is on disk. The log is the undo stack, so undo and redo are
unlimited and survive a restart:

- undo takes back the newest decision not yet undone;
- redo makes again the oldest decision undone since the newest one made;
- a new decision ends what can be redone, as in every editor.

Undo and redo are themselves logged (source "undo" / "redo") for the audit trail.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

from peewee import SqliteDatabase

from core.store.models import DECISIONS
from core.triage.sidecar_write import write_sidecar_for

ACTIONS = {"decision": "decision", "rating": "rating", "labels": "labels"}  # action -> column
FRESH = ("key", "cli")  # what a person did, as opposed to undo / redo


class TriageError(ValueError):
    """A decision that cannot be made (unknown photo, a rating of 7); the message says why."""


@dataclass(frozen=True)
class Change:
    photo_id: int
    action: str  # decision, rating, labels
    before: object
    after: object
    source: str
    warning: str | None = None  # the sidecar could not be written (with write_sidecars on)


class Triage:
    def __init__(self, db: SqliteDatabase, source: str = "key", write_sidecars: bool = False):
        self.db = db
        self.source = source
        self.write_sidecars = write_sidecars  # xmp:Rating and xmp:Label, after each change
        self._sidecars_written: dict = {}  # path -> (size, mtime_ns) of our last write there

    def _writing(self):
        """A write transaction that takes the write lock at its start. A deferred one would
        read first and then fail at once ("database is locked", no waiting) whenever the
        engine's writer committed in between; this one waits its turn (the busy timeout)."""
        return self.db.atomic(lock_type="IMMEDIATE")

    # --- decisions ----------------------------------------------------------------------------

    def decide(self, photo_id: int, decision: str) -> Change:
        if decision not in DECISIONS:
            raise TriageError(f"{decision!r} is not a decision: use one of {', '.join(DECISIONS)}")
        return self._change(photo_id, "decision", lambda _: decision)

    def rate(self, photo_id: int, stars: int) -> Change:
        if not isinstance(stars, int) or not 0 <= stars <= 5:
            raise TriageError(f"{stars!r} is not a rating: use 0 to 5 stars")
        return self._change(photo_id, "rating", lambda _: stars)

    def toggle_label(self, photo_id: int, label_bit: int) -> Change:
        if label_bit not in (1, 2, 4, 8, 16):
            raise TriageError(f"{label_bit!r} is not a colour label")
        return self._change(photo_id, "labels", lambda labels: labels ^ label_bit)

    def _change(self, photo_id: int, action: str, new_value) -> Change:
        column = ACTIONS[action]
        with self._writing():
            row = self.db.execute_sql(
                f"SELECT {column} FROM photo WHERE id = ?", (photo_id,)
            ).fetchone()
            if row is None:
                raise TriageError(f"there is no photo {photo_id}")
            before = row[0]
            after = new_value(before)
            now = time.time()
            self.db.execute_sql(
                f"UPDATE photo SET {column} = ?, decided_at = ? WHERE id = ?",
                (after, now, photo_id),
            )
            self._log(photo_id, action, before, after, self.source, now)
        return self._with_sidecar(Change(photo_id, action, before, after, self.source))

    def _with_sidecar(self, change: Change) -> Change:
        """After the catalogue (which is the truth): the sidecar, when asked to."""
        if not self.write_sidecars:
            return change
        warning = write_sidecar_for(self.db, change.photo_id, self._sidecars_written)
        return replace(change, warning=warning) if warning else change

    def _log(self, photo_id: int, action: str, before, after, source: str, at: float) -> int:
        return self.db.execute_sql(
            "INSERT INTO decision (photo_id, action, before, after, source, undone, at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            (photo_id, action, json.dumps(before), json.dumps(after), source, at),
        ).lastrowid

    # --- undo and redo ------------------------------------------------------------------------

    def undo(self) -> Change | None:
        """Take back the newest decision not yet undone; None when there is none."""
        with self._writing():
            row = self.db.execute_sql(
                "SELECT id, photo_id, action, before, after FROM decision"
                f" WHERE undone = 0 AND source IN {FRESH} ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            return self._replay(row, to="before", undone=1, source="undo")

    def redo(self) -> Change | None:
        """Make again the oldest decision undone since the newest one made; None if none."""
        with self._writing():
            row = self.db.execute_sql(
                "SELECT id, photo_id, action, before, after FROM decision"
                f" WHERE undone = 1 AND source IN {FRESH} AND id > ("
                f"  SELECT COALESCE(MAX(id), 0) FROM decision"
                f"  WHERE undone = 0 AND source IN {FRESH})"
                " ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            return self._replay(row, to="after", undone=0, source="redo")

    def _replay(self, row: tuple, to: str, undone: int, source: str) -> Change:
        decision_id, photo_id, action, before, after = row
        current = self.db.execute_sql(
            f"SELECT {ACTIONS[action]} FROM photo WHERE id = ?", (photo_id,)
        ).fetchone()
        value = json.loads(before if to == "before" else after)
        now = time.time()
        if current is not None:  # the photo may have been removed since: the log still moves
            self.db.execute_sql(
                f"UPDATE photo SET {ACTIONS[action]} = ?, decided_at = ? WHERE id = ?",
                (value, now, photo_id),
            )
        self.db.execute_sql("UPDATE decision SET undone = ? WHERE id = ?", (undone, decision_id))
        was = current[0] if current is not None else None
        if current is not None:
            self._log(photo_id, action, was, value, source, now)
        return self._with_sidecar(Change(photo_id, action, was, value, source))
