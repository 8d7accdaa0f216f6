"""Decisions on photos, and undo / redo, from the Decision log.

Every change is one transaction: the photo's field and its Decision row (before, after), so
what the screen shows as made is on disk. The log is the undo stack, so undo and redo are
unlimited and survive a restart:

- undo takes back the newest decision not yet undone;
- redo makes again the oldest decision undone since the newest one made;
- a new decision ends what can be redone, as in every editor;
- a field changed since outside the log is left as it is: the undo (or redo) is spent, and
  the Change says why nothing moved (``skipped``).

Every row names the person who made it (``triage.name``, ``$USER@$HOST`` by default), and the log,
undo and redo are per person: undo takes back *your* newest decision, never someone else's,
even when theirs is newer. Each Triage is also a session (the app while it runs, one
``decide`` command), and undo / redo take back this session's own decisions first, then the
person's others (a reopened app undoes what it did before; a second app of the same person
does not have its decision taken back by this one's ctrl+z while this one has its own).
Rows logged before people were recorded (no person) are undone by no one.

What a photo shows, when several people decide on it: the newest decision still standing
(not undone), of anyone. Taking yours back therefore changes the photo only when yours was
that newest one; then it shows the newest standing one before it (someone else's, or your own
earlier one), and with none, what it had before the decisions taken back. Redo puts your
decision back in its place in time: the photo shows it again unless someone's newer decision
stands. When it does, the undo (or redo) is made in the log and the photo keeps that newer
decision (the Change's ``kept_by`` says whose). The per-person
view and the conflicts between people are ``core.triage.people``'s.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from peewee import DatabaseError, IntegrityError, SqliteDatabase

from core.config.settings import default_person_name
from core.store import dialect
from core.store.models import DECISIONS
from core.store.people import MADE, RESOLVE
from core.store.writing import is_busy
from core.triage.sidecars import write_back

ACTIONS = {"decision": "decision", "rating": "rating", "labels": "labels"}  # action -> column
FRESH = MADE  # what a person did, as opposed to undo / redo: it stands until taken back
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
    # The other changes made, undone or redone in the same step: a decision on several photos
    # at once (a multi-select, "keep this one, reject the rest") is one batch, and one undo.
    together: tuple[Change, ...] = ()
    person: str | None = None  # who made the change (the decision, its undo, its redo)
    # Undo / redo done in the log, the photo left as it is: it keeps this person's newer
    # decision ("another session" for the same person's), which stands.
    kept_by: str | None = None

    @property
    def all(self) -> tuple[Change, ...]:
        """This change and the ones made with it, in the order they were made."""
        return (self, *self.together)


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
        person: str | None = None,
    ):
        self.db = db
        self.source = source
        # Who decides (``triage.name``): every row names them, and undo / redo take back
        # their decisions only.
        self.person = person or default_person_name()
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
        connected_again = False
        while True:
            try:
                with self._writing():
                    return work()
            except (IntegrityError, sqlite3.IntegrityError):
                raise  # a bug, not the catalogue's state
            except (DatabaseError, sqlite3.DatabaseError) as error:
                if is_busy(error) and time.monotonic() < deadline:
                    continue  # each try has waited the busy timeout already
                if dialect.connection_was_ended(self.db) and not connected_again:
                    # The server ended the connection since its last use (it restarted):
                    # the transaction was rolled back whole, and is made again, once, on a
                    # new connection.
                    connected_again = True
                    continue
                raise DecisionNotSaved(_not_saved(error, self.deadline)) from error

    # --- decisions ----------------------------------------------------------------------------

    def decide(self, photo_id: int, decision: str) -> Change:
        if decision not in DECISIONS:
            raise TriageError(f"{decision!r} is not a decision: use one of {', '.join(DECISIONS)}")
        return self._change(photo_id, "decision", lambda _: decision)

    def resolve(self, photo_ids: Sequence[int], decision: str) -> Change | None:
        """The decision that settles what people disagree on about ``photo_ids``: it stands
        over everyone's decision made before it, and the photos are no longer in conflict
        (``core.triage.people``); it is this person's decision, undone like any other."""
        if decision not in DECISIONS:
            raise TriageError(f"{decision!r} is not a decision: use one of {', '.join(DECISIONS)}")
        items = [(pid, "decision", lambda _: decision) for pid in photo_ids]
        return self._change_many(items, source=RESOLVE)

    def rate(self, photo_id: int, stars: int) -> Change:
        if not isinstance(stars, int) or not 0 <= stars <= 5:
            raise TriageError(f"{stars!r} is not a rating: use 0 to 5 stars")
        return self._change(photo_id, "rating", lambda _: stars)

    def toggle_label(self, photo_id: int, label_bit: int) -> Change:
        if label_bit not in (1, 2, 4, 8, 16):
            raise TriageError(f"{label_bit!r} is not a colour label")
        return self._change(photo_id, "labels", lambda labels: labels ^ label_bit)

    # --- several photos at once: one transaction, one batch, one undo --------------------------

    def decide_many(self, photo_ids: Sequence[int], decision: str) -> Change | None:
        """The same decision for every photo of ``photo_ids``; None when there are none. The
        Change returned is the first photo's, with the others in ``together``."""
        if decision not in DECISIONS:
            raise TriageError(f"{decision!r} is not a decision: use one of {', '.join(DECISIONS)}")
        return self._change_many([(pid, "decision", lambda _: decision) for pid in photo_ids])

    def rate_many(self, photo_ids: Sequence[int], stars: int) -> Change | None:
        if not isinstance(stars, int) or not 0 <= stars <= 5:
            raise TriageError(f"{stars!r} is not a rating: use 0 to 5 stars")
        return self._change_many([(pid, "rating", lambda _: stars) for pid in photo_ids])

    def label_many(self, photo_ids: Sequence[int], label_bit: int) -> Change | None:
        """The label on every photo when one of them lacks it, else off every one of them (what
        a toggle means for several photos)."""
        if label_bit not in (1, 2, 4, 8, 16):
            raise TriageError(f"{label_bit!r} is not a colour label")
        ids = list(photo_ids)
        every = all(self._value(pid, "labels") & label_bit for pid in ids) if ids else False
        return self._change_many([
            (pid, "labels", (lambda labels: labels & ~label_bit) if every
             else (lambda labels: labels | label_bit))
            for pid in ids
        ])  # fmt: skip

    def keep_one(self, keep: int, rest: Sequence[int]) -> Change:
        """Approve ``keep`` and reject ``rest`` (the other frames of its burst), as one step."""
        return self._change_many(
            [(keep, "decision", lambda _: "approved")]
            + [(pid, "decision", lambda _: "rejected") for pid in rest if pid != keep]
        )

    def _value(self, photo_id: int, action: str):
        row = self.db.execute_sql(
            f"SELECT {ACTIONS[action]} FROM photo WHERE id = ?", (photo_id,)
        ).fetchone()
        if row is None:
            raise TriageError(f"there is no photo {photo_id}")
        return row[0]

    def _change(self, photo_id: int, action: str, new_value) -> Change:
        return self._change_many([(photo_id, action, new_value)])

    def _change_many(
        self, items: list[tuple[int, str, Callable]], source: str | None = None
    ) -> Change | None:
        """Each (photo id, action, new value from the old) in one transaction; with more than
        one, the rows share a batch, so that undo takes all of them back at once."""
        if not items:
            return None
        source = source or self.source
        batch = uuid.uuid4().hex if len(items) > 1 else None

        def write() -> list[Change]:
            dialect.lock_rows(self.db, "photo", [photo_id for photo_id, _, _ in items])
            now = time.time()
            changes = []
            for photo_id, action, new_value in items:
                before = self._value(photo_id, action)
                after = new_value(before)
                self.db.execute_sql(
                    f"UPDATE photo SET {ACTIONS[action]} = ?, decided_at = ? WHERE id = ?",
                    (after, now, photo_id),
                )
                decision_id = self._log(photo_id, action, before, after, source, now, batch)
                changes.append(
                    Change(
                        photo_id, action, before, after, source, decision_id=decision_id,
                        person=self.person,
                    )
                )  # fmt: skip
            return changes

        return self._together(self._with_sidecars(self._committed(write)))

    def _with_sidecars(self, changes: list[Change]) -> list[Change]:
        """After the catalogue (which is the truth): the sidecars, when asked to, each in a
        transaction of its own that records what was written (for undo)."""
        return [self._with_sidecar(change) for change in changes]

    def _with_sidecar(self, change: Change) -> Change:
        if change.skipped or change.kept_by or not self.write_sidecars:
            return change
        warning = self._committed(
            lambda: write_back(
                self.db, change, self.session, self.sidecar_names, self._sidecars_written
            )
        )
        return replace(change, warning=warning) if warning else change

    @staticmethod
    def _together(changes: list[Change]) -> Change | None:
        """The first change, carrying the others; its warning says how many sidecars were not
        written when there were several."""
        if not changes:
            return None
        first, rest = changes[0], tuple(changes[1:])
        warnings = [change.warning for change in changes if change.warning]
        warning = warnings[0] if len(warnings) == 1 else (
            f"{len(warnings)} sidecars were not written; the first: {warnings[0]}"
            if warnings else None
        )  # fmt: skip
        return replace(first, together=rest, warning=warning)

    def _log(
        self, photo_id: int, action: str, before, after, source: str, at: float,
        batch: str | None = None,
    ) -> int:  # fmt: skip
        return dialect.insert_returning_id(
            self.db,
            "INSERT INTO decision"
            " (photo_id, action, before, after, source, undone, at, session, batch, person)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (photo_id, action, json.dumps(before), json.dumps(after), source, False, at,
             self.session, batch, self.person),
        )  # fmt: skip

    # --- undo and redo ------------------------------------------------------------------------

    def undo(self) -> Change | None:
        """Take back this session's newest decision not yet undone, else this person's; None
        when they have none (someone else's is never taken back)."""

        def write() -> list[Change]:
            row = self._newest_made(mine=True) or self._newest_made(mine=False)
            if row is None:
                return []
            # A batch is taken back whole, newest row first (each row on its own photo); the
            # changes are given in the order they were made, so the first is the photo the
            # step was made on (the one kept, for "keep this one"), where the app goes.
            rows = self._batch_rows(row, undone=False)[::-1]
            dialect.lock_rows(self.db, "photo", [each[1] for each in rows])
            changes = [self._replay(each, to="before", undone=True, source="undo") for each in rows]
            return changes[::-1]

        return self._together(self._with_sidecars(self._committed(write)))

    def redo(self) -> Change | None:
        """Make again the oldest decision undone since the newest one made, this session's
        first, else this person's; None if none."""

        def write() -> list[Change]:
            row = self._oldest_undone(mine=True) or self._oldest_undone(mine=False)
            if row is None:
                return []
            rows = self._batch_rows(row, undone=True)
            dialect.lock_rows(self.db, "photo", [each[1] for each in rows])
            return [self._replay(each, to="after", undone=False, source="redo") for each in rows]

        return self._together(self._with_sidecars(self._committed(write)))

    def _batch_rows(self, row: tuple, undone: bool) -> list[tuple]:
        """``row`` and, when it was made in a batch, the batch's other rows in the same undone
        state, in the order they were made."""
        batch = row[5]
        if batch is None:
            return [row]
        return self.db.execute_sql(
            "SELECT id, photo_id, action, before, after, batch FROM decision"
            " WHERE batch = ? AND undone = ? ORDER BY id",
            (batch, undone),
        ).fetchall()

    def _whose(self, mine: bool) -> tuple[str, tuple]:
        """The condition (and its arguments) for this person's rows; with ``mine``, this
        session's only."""
        if mine:
            return "AND person = ? AND session = ?", (self.person, self.session)
        return "AND person = ?", (self.person,)

    def _newest_made(self, mine: bool) -> tuple | None:
        whose, args = self._whose(mine)
        return self.db.execute_sql(
            "SELECT id, photo_id, action, before, after, batch FROM decision"
            f" WHERE NOT undone AND source IN {FRESH} {whose} ORDER BY id DESC LIMIT 1",
            args,
        ).fetchone()

    def _oldest_undone(self, mine: bool) -> tuple | None:
        whose, args = self._whose(mine)
        return self.db.execute_sql(
            "SELECT id, photo_id, action, before, after, batch FROM decision"
            f" WHERE undone AND source IN {FRESH} {whose} AND id > ("
            "  SELECT COALESCE(MAX(id), 0) FROM decision"
            f"  WHERE NOT undone AND source IN {FRESH} {whose})"
            " ORDER BY id LIMIT 1",
            args * 2,
        ).fetchone()

    def _replay(self, row: tuple, to: str, undone: bool, source: str) -> Change:
        """Undo (``to`` "before") or redo (``to`` "after") one row: the row changes state in
        the log, and the photo shows what the log says it shows then (the module's rules)."""
        decision_id, photo_id, action, _, _, _ = row
        current = self.db.execute_sql(
            f"SELECT {ACTIONS[action]} FROM photo WHERE id = ?", (photo_id,)
        ).fetchone()
        expected = logged_value(self.db, photo_id, action)
        self.db.execute_sql("UPDATE decision SET undone = ? WHERE id = ?", (undone, decision_id))
        if current is None:  # the photo was removed since: the log still moves
            return Change(photo_id, action, None, None, source, decision_id=decision_id,
                          person=self.person)  # fmt: skip
        was = current[0]
        if was != expected:
            why = (
                f"its {action} was changed since by another session (now {was}),"
                " so it was left as it is"
            )
            return Change(photo_id, action, was, was, source, skipped=why, person=self.person)
        newer = _newer_standing(self.db, decision_id, photo_id, action)
        now = time.time()
        if newer is not None:  # the photo shows that one, and goes on showing it
            self._log(photo_id, action, was, was, source, now)  # for the log, and other apps
            by = "another session" if newer == self.person else newer
            return Change(photo_id, action, was, was, source, decision_id=decision_id,
                          person=self.person, kept_by=by)  # fmt: skip
        value = logged_value(self.db, photo_id, action)
        self.db.execute_sql(
            f"UPDATE photo SET {ACTIONS[action]} = ?, decided_at = ? WHERE id = ?",
            (value, now, photo_id),
        )
        self._log(photo_id, action, was, value, source, now)
        return Change(photo_id, action, was, value, source, decision_id=decision_id,
                      person=self.person)  # fmt: skip


_UNSET = object()


def logged_value(db: SqliteDatabase, photo_id: int, action: str):
    """What the log says the photo's ``action`` field shows: the newest standing decision's
    value, of anyone; with none standing, what the field had before the decisions taken back
    (followed back while each one's ``before`` is the ``after`` of the one before it: a value
    that came from elsewhere ends the chain)."""
    rows = db.execute_sql(
        "SELECT before, after, undone FROM decision"
        f" WHERE photo_id = ? AND action = ? AND source IN {FRESH} ORDER BY id DESC",
        (photo_id, action),
    )
    value = _UNSET
    for before, after, undone in rows:
        if not undone:
            return json.loads(after)
        if value is not _UNSET and json.loads(after) != value:
            break
        value = json.loads(before)
    return None if value is _UNSET else value


def _newer_standing(db: SqliteDatabase, decision_id: int, photo_id: int, action: str):
    """The person (None: unknown) of the newest decision on the photo's field made after
    ``decision_id`` and still standing; None when there is none."""
    row = db.execute_sql(
        "SELECT person FROM decision WHERE photo_id = ? AND action = ? AND id > ?"
        f" AND NOT undone AND source IN {FRESH} ORDER BY id DESC LIMIT 1",
        (photo_id, action, decision_id),
    ).fetchone()
    return None if row is None else (row[0] or _UNKNOWN)


_UNKNOWN = "someone unknown"  # who made a decision logged before people were recorded


def _not_saved(error: BaseException, deadline: float) -> str:
    if is_busy(error):
        return (
            f"the catalogue stayed locked by another program for {deadline:.0f} s, so nothing "
            "was changed; try again once it is free"
        )
    if dialect.server_unreachable(error):
        return (
            f"the catalogue's server cannot be reached ({dialect.first_line(error)}), so nothing "
            "was changed; make it again once the server is back"
        )
    wrapped = error.args[0] if error.args else None  # peewee's errors carry SQLite's first
    cause = wrapped if isinstance(wrapped, BaseException) else error
    return f"the catalogue did not take the change ({cause}), so nothing was changed"
