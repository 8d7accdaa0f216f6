"""The triage queue: the photos a filter shows, in the order they were shot (the camera's wall
clock, then its sequence); where to stand in it when it changes (the photo on screen, else the
nearest by time); the whole set's counts ("37 approved, 12 rejected, 1,459 pending of 1,508");
and the position the app resumes at, kept in the catalogue."""

from __future__ import annotations

import bisect
import contextlib
import heapq
import json
from dataclasses import dataclass

from peewee import DatabaseError, SqliteDatabase

from core.darktable.facts import LABEL_NAMES
from core.store.app_state import TriagePosition, set_triage_position, triage_position
from core.store.photos import (
    QUEUE_FILTERS,
    counted_decision,
    decision_counts,
    triage_queue_entries,
)
from core.store.writing import is_busy

FILTER_HELP = (
    "pending, approved, rejected, unrated, all, label:NAME (red, yellow, green, blue, purple), "
    "folder:PATH"
)
# Filters that choose by decision count over every photo: "pending" is the part of the
# whole set still to do, and the counters are of that whole set.
DECISION_FILTERS = ("all", "pending", "approved", "rejected")


class FilterError(ValueError):
    """A filter that means nothing; the message lists the ones that do."""


@dataclass(frozen=True)
class Filter:
    name: str  # as the photographer typed it
    where: str
    params: tuple = ()
    folder: str | None = None

    @property
    def whole_set(self) -> tuple[str, tuple]:
        """(where, params) of the set the counters count: the filter without its decision."""
        return ("1", ()) if self.name in DECISION_FILTERS else (self.where, self.params)


def parse_filter(text: str) -> Filter:
    text = text.strip()
    if text in QUEUE_FILTERS:
        where, params = QUEUE_FILTERS[text]
        return Filter(text, where, params)
    kind, _, value = text.partition(":")
    if kind == "label" and value in LABEL_NAMES:
        return Filter(text, "(p.labels & ?) != 0", (1 << LABEL_NAMES.index(value),))
    if kind == "folder" and value:
        return Filter(text, "1", (), value)
    raise FilterError(f"{text!r} is not a filter: use {FILTER_HELP}")


@dataclass(frozen=True)
class Counts:
    """Decisions over a filter's whole set (every photo of the shoot, not only those loaded)."""

    pending: int
    approved: int
    rejected: int

    @property
    def total(self) -> int:
        return self.pending + self.approved + self.rejected

    def moved(self, was: str | None, now: str | None) -> Counts:
        """After one photo's change: counted as ``was`` before (None: not counted), as
        ``now`` after."""
        counts = {"pending": self.pending, "approved": self.approved, "rejected": self.rejected}
        if was is not None:
            counts[was] -= 1
        if now is not None:
            counts[now] += 1
        return Counts(**counts)


class Queue:
    """The photos of one filter, as loaded: a photo decided while culling stays in it (the
    photographer can go back to it) until the filter is chosen again; photos that arrive join
    at its end (``add_arrivals``), and one brought back by undo rejoins it (``rejoin``)."""

    def __init__(self, db: SqliteDatabase, filter_text: str = "pending") -> None:
        self.db = db
        self.filter = parse_filter(filter_text)
        self.photo_ids: list[int] = []
        self._wall: dict[int, float | None] = {}  # the camera's wall clock of each member
        self.refresh()

    def refresh(self) -> None:
        f = self.filter
        rows = triage_queue_entries(self.db, f.where, f.params, f.folder)
        self.photo_ids = [photo_id for photo_id, _, _ in rows]
        self._wall = {photo_id: wall for photo_id, _, wall in rows}

    def __contains__(self, photo_id: int) -> bool:
        return photo_id in self._wall

    def counts(self) -> Counts:
        """From the catalogue now: what every session decided counts. It reads the whole
        set (20 ms for 20,000 photos): after one photo's change, ``Counts.moved`` with
        ``counted_as`` before and after is enough."""
        where, params = self.filter.whole_set
        counts = decision_counts(self.db, where, params, self.filter.folder)
        return Counts(counts["pending"], counts["approved"], counts["rejected"])

    def counted_as(self, photo_id: int) -> str | None:
        """The decision the counters count the photo under, None when it is not in the
        whole set (stars or a label can take it in or out of one)."""
        where, params = self.filter.whole_set
        return counted_decision(self.db, photo_id, where, params, self.filter.folder)

    def index_near(self, photo_id: int | None) -> int:
        """Where to stand for ``photo_id``: its own place when it is a member, else the
        member nearest to it by the camera's clock (the later one on a tie, the last one
        for a photo without a capture time); 0 when there is no such photo."""
        if not self.photo_ids or photo_id is None:
            return 0
        if photo_id in self._wall:
            return self.photo_ids.index(photo_id)
        rows = triage_queue_entries(self.db, "p.id = ?", (photo_id,))
        if not rows:
            return 0  # gone from the catalogue
        wall = rows[0][2]
        timed = [i for i, member in enumerate(self.photo_ids) if self._wall[member] is not None]
        if wall is None or not timed:
            return len(self.photo_ids) - 1 if wall is None else 0
        walls = [self._wall[self.photo_ids[i]] for i in timed]
        after = bisect.bisect_left(walls, wall)
        if after == len(timed):
            return timed[-1]
        if after == 0 or walls[after] - wall <= wall - walls[after - 1]:
            return timed[after]
        return timed[after - 1]

    def rejoin(self, photo_id: int) -> int:
        """Bring a photo back into the queue at its place in time (undo made it pending
        again, after a reload had left it out); returns its index."""
        if photo_id not in self._wall:
            members = json.dumps([*self.photo_ids, photo_id])
            rows = triage_queue_entries(self.db, "p.id IN (SELECT value FROM json_each(?))",
                                        (members,))  # fmt: skip
            self.photo_ids = [pid for pid, _, _ in rows]
            self._wall = {pid: wall for pid, _, wall in rows}
        return self.photo_ids.index(photo_id) if photo_id in self._wall else 0

    def add_arrivals(self, index: int = 0) -> list[tuple[int, str]]:
        """Photos of the filter that arrived since it was loaded (a card copied in while
        culling, the first index filling the catalogue) join it; returns (id, decision) of
        each. The photo at ``index`` and every one before it stay where they are: arrivals
        taken after it go to their place in time among the photos after it, earlier ones
        (and those without a capture time) to the end."""
        f = self.filter
        entries = triage_queue_entries(self.db, f.where, f.params, f.folder)
        arrived = [entry for entry in entries if entry[0] not in self._wall]
        if not arrived:
            return []
        here = self._wall.get(self.photo_ids[index]) if self.photo_ids else None
        later = [(pid, wall) for pid, _, wall in arrived
                 if wall is not None and (here is None or wall >= here)]  # fmt: skip
        placed = {pid for pid, _ in later}
        rest = [pid for pid, _, _ in arrived if pid not in placed]
        keep = min(index + 1, len(self.photo_ids))
        tail = [(pid, self._wall[pid]) for pid in self.photo_ids[keep:]]
        merged = heapq.merge(tail, later, key=lambda member: _time_key(member[1]))
        self.photo_ids = [*self.photo_ids[:keep], *(pid for pid, _ in merged), *rest]
        self._wall.update((pid, wall) for pid, _, wall in arrived)
        return [(photo_id, decision) for photo_id, decision, _ in arrived]


def _time_key(wall: float | None) -> tuple[bool, float]:
    return (wall is None, wall or 0.0)


# --- where the photographer stood -------------------------------------------------------------


def saved_position(db: SqliteDatabase) -> TriagePosition | None:
    """The filter and photo the app showed last, whichever process showed it."""
    with contextlib.suppress(DatabaseError):  # a catalogue that cannot be read says so elsewhere
        return triage_position(db)
    return None


def save_position(db: SqliteDatabase, filter_text: str, photo_id: int | None) -> bool:
    """Keep the photo on screen in the catalogue, committed (a killed app resumes there).
    It waits for no one: when the catalogue is busy it returns False, to be tried again."""
    turns = getattr(db, "turns", None)
    turn = turns.first() if turns is not None else contextlib.nullcontext()
    try:
        with turn, db.atomic(lock_type="IMMEDIATE"):
            set_triage_position(db, TriagePosition(filter_text, photo_id))
    except DatabaseError as error:
        if is_busy(error):
            return False
        raise
    return True
