"""Decisions on photos, and undo / redo, from the Decision log.

Every change is one transaction: the photo's field and its Decision row (before, after), so
what the screen shows as made is on disk. The log is the undo stack, so undo and redo are
unlimited and survive a restart:

- undo takes back the newest decision not yet undone;
- redo makes again the oldest decision undone since the newest one made;
- a new decision ends what can be redone, as in every editor;
- a field changed since by another session is left as it is: the undo (or redo) is spent,
  and the Change says why nothing moved.

Each Triage is a session (the app while it runs, one ``decide`` command) and every row it logs
carries the session's identity. Undo and redo take back this session's own decisions first,
newest first, so another session deciding at the same time (a second app, ``shootwatch
decide``) does not have its decision taken back by this one's ctrl+z; once this session has
none left, they go on with the newest of anyone's (a reopened app undoes what it did before).

Undo and redo are themselves logged (source "undo" / "redo") for the audit trail.

A decision never fails because the engine is busy. It is written here, by the process that
makes it (the app, ``shootwatch decide``), in a short transaction of its own; it is not sent to
the engine's writer to make, because:

- the writer's queue is no place to wait in: it runs whole reconciles and media batches one
  after another, for seconds or minutes, and a decision queued behind them would wait for all
  of it. Here it waits for one transaction at most: the engine's are bounded (about 0.1 s,
  ``core.store.writing``) and a decision takes its turn before the next one begins
  (``core.store.turns``);
- decisions are made with no engine too (``decide`` alone, the app without one): this path
  exists anyway, and a second one through the engine would be a second thing to keep right;
- the outcome is known: committed here, or an error here. A request to another process that
  times out leaves "was it saved?" open, and a label toggle cannot simply be sent again.

Should the catalogue stay locked all the same (another program holding it), the decision is
tried again until its deadline, then DecisionNotSaved says so in one sentence; nothing is
half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from peewee import DatabaseError, IntegrityError, SqliteDatabase

from core.store.models import DECISIONS
from core.store.writing import is_busy
from core.triage.sidecars import write_back

ACTIONS = {"decision": "decision", "rating": "rating", "labels": "labels"}  # action -> column
FRESH = ("key", "cli")  # what a person did, as opposed to undo / redo
SAVE_DEADLINE_SECONDS = 30.0  # how long ``decide`` keeps trying a catalogue kept locked
KEY_SAVE_DEADLINE_SECONDS = 10.0  # the app's, while the key waits (each try waits 5 s)

T = TypeVar("T")


class TriageError(ValueError):
    """A decision that cannot be made (unknown photo, a rating of 7); the message says why."""


class DecisionNotSaved(RuntimeError):
    """The catalogue did not take the change (kept locked by another program, read-only,
    full); the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Change:
    photo_id: int
    action: str  # decision, rating, labels
    before: object
    after: object
    source: str
    warning: str | None = None  # the sidecar could not be written (with write_sidecars on)
    # Undo / redo left the photo as it was: its field was changed since by another session,
    # and that change is not overwritten (the sentence says so).
    skipped: str | None = None
    decision_id: int | None = None  # the decision a person made that this change makes or undoes


def new_session() -> str:
    """An identity for one session's decisions, unique across processes and runs."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


class Triage:
    def __init__(
        self,
        db: SqliteDatabase,
        source: str = "key",
        write_sidecars: bool = False,
        deadline: float | None = None,
        sidecar_names: str = "darktable",
        session: str | None = None,
    ):
        self.db = db
        self.source = source
        # One session: one run of the app, or "cli" for the command line (a decide and the undo
        # after it are two processes). Undo takes back the session's own decisions first, and
        # writes back only its own sidecar writes.
        self.session = session or new_session()
        self.write_sidecars = write_sidecars  # the fields each change changes, after it
        self.sidecar_names = sidecar_names  # darktable, adobe, both (core.triage.sidecars)
        self.deadline = SAVE_DEADLINE_SECONDS if deadline is None else deadline
        self._sidecars_written: dict = {}  # path -> (size, mtime_ns) of our last write there

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction in this decision's turn, that takes the write lock at its
        start. A deferred one would read first and then fail at once ("database is locked",
        no waiting) whenever the engine's writer committed in between; this one waits for
        the transaction in progress, and the engine's next one waits for it."""
        turns = getattr(self.db, "turns", None)
        turn = turns.first() if turns is not None else contextlib.nullcontext()
        with turn, self.db.atomic(lock_type="IMMEDIATE"):
            yield

    def _committed(self, work: Callable[[], T]) -> T:
        """``work()`` in a write transaction, tried again while the catalogue is locked, until
        the deadline; DecisionNotSaved when it could not be committed."""
        deadline = time.monotonic() + self.deadline
        while True:
            try:
                with self._writing():
                    return work()
            except (IntegrityError, sqlite3.IntegrityError):
                raise  # a bug, not the catalogue's state
            except (DatabaseError, sqlite3.DatabaseError) as error:
                if is_busy(error) and time.monotonic() < deadline:
                    continue  # each try has waited the busy timeout already
                raise DecisionNotSaved(_not_saved(error, self.deadline)) from error

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

        def write() -> Change:
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
            decision_id = self._log(photo_id, action, before, after, self.source, now)
            return Change(photo_id, action, before, after, self.source, decision_id=decision_id)

        return self._with_sidecar(self._committed(write))

    def _with_sidecar(self, change: Change | None) -> Change | None:
        """After the catalogue (which is the truth): the sidecars, when asked to, in a
        transaction of their own that records what was written (for undo)."""
        if change is None or change.skipped or not self.write_sidecars:
            return change
        warning = self._committed(
            lambda: write_back(
                self.db, change, self.session, self.sidecar_names, self._sidecars_written
            )
        )
        return replace(change, warning=warning) if warning else change

    def _log(self, photo_id: int, action: str, before, after, source: str, at: float) -> int:
        return self.db.execute_sql(
            "INSERT INTO decision (photo_id, action, before, after, source, undone, at, session)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            (photo_id, action, json.dumps(before), json.dumps(after), source, at, self.session),
        ).lastrowid

    # --- undo and redo ------------------------------------------------------------------------

    def undo(self) -> Change | None:
        """Take back this session's newest decision not yet undone, else anyone's; None when
        there is none."""

        def write() -> Change | None:
            row = self._newest_made(mine=True) or self._newest_made(mine=False)
            if row is None:
                return None
            return self._replay(row, to="before", undone=1, source="undo")

        return self._with_sidecar(self._committed(write))

    def redo(self) -> Change | None:
        """Make again the oldest decision undone since the newest one made, this session's
        first, else anyone's; None if none."""

        def write() -> Change | None:
            row = self._oldest_undone(mine=True) or self._oldest_undone(mine=False)
            if row is None:
                return None
            return self._replay(row, to="after", undone=0, source="redo")

        return self._with_sidecar(self._committed(write))

    def _newest_made(self, mine: bool) -> tuple | None:
        whose, args = ("AND session = ?", (self.session,)) if mine else ("", ())
        return self.db.execute_sql(
            "SELECT id, photo_id, action, before, after FROM decision"
            f" WHERE undone = 0 AND source IN {FRESH} {whose} ORDER BY id DESC LIMIT 1",
            args,
        ).fetchone()

    def _oldest_undone(self, mine: bool) -> tuple | None:
        whose, args = ("AND session = ?", (self.session,) * 2) if mine else ("", ())
        return self.db.execute_sql(
            "SELECT id, photo_id, action, before, after FROM decision"
            f" WHERE undone = 1 AND source IN {FRESH} {whose} AND id > ("
            "  SELECT COALESCE(MAX(id), 0) FROM decision"
            f"  WHERE undone = 0 AND source IN {FRESH} {whose})"
            " ORDER BY id LIMIT 1",
            args,
        ).fetchone()

    def _replay(self, row: tuple, to: str, undone: int, source: str) -> Change:
        decision_id, photo_id, action, before, after = row
        current = self.db.execute_sql(
            f"SELECT {ACTIONS[action]} FROM photo WHERE id = ?", (photo_id,)
        ).fetchone()
        value = json.loads(before if to == "before" else after)
        expected = json.loads(after if to == "before" else before)
        now = time.time()
        if current is not None and current[0] != expected:
            self.db.execute_sql(
                "UPDATE decision SET undone = ? WHERE id = ?", (undone, decision_id)
            )
            why = (
                f"its {action} was changed since by another session (now {current[0]}),"
                " so it was left as it is"
            )
            return Change(photo_id, action, current[0], current[0], source, skipped=why)
        if current is not None:  # the photo may have been removed since: the log still moves
            self.db.execute_sql(
                f"UPDATE photo SET {ACTIONS[action]} = ?, decided_at = ? WHERE id = ?",
                (value, now, photo_id),
            )
        self.db.execute_sql("UPDATE decision SET undone = ? WHERE id = ?", (undone, decision_id))
        was = current[0] if current is not None else None
        if current is not None:
            self._log(photo_id, action, was, value, source, now)
        return Change(photo_id, action, was, value, source, decision_id=decision_id)


def _not_saved(error: BaseException, deadline: float) -> str:
    if is_busy(error):
        return (
            f"the catalogue stayed locked by another program for {deadline:.0f} s, so nothing "
            "was changed; try again once it is free"
        )
    wrapped = error.args[0] if error.args else None  # peewee's errors carry SQLite's first
    cause = wrapped if isinstance(wrapped, BaseException) else error
    return f"the catalogue did not take the change ({cause}), so nothing was changed"
