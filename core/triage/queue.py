"""The triage queue: the photos a filter shows, in the order they were shot (the camera's wall
clock, then its sequence); where to stand in it when it changes (the photo on screen, else the
nearest by time); the whole set's counts ("37 approved, 12 rejected, 1,459 pending of 1,508");
and the position the app resumes at, kept in the catalogue."""

from __future__ import annotations

import bisect
import calendar
import contextlib
import heapq
import itertools
import re
import shlex
import time
from dataclasses import dataclass

from peewee import DatabaseError, SqliteDatabase

from core.darktable.facts import LABEL_NAMES
from core.store import dialect
from core.store.app_state import TriagePosition, set_triage_position, triage_position
from core.store.photos import (
    CAMERA_SQL,
    CAPTURED_BETWEEN_SQL,
    EDITED_SQL,
    IS_LEADER_SQL,
    QUEUE_FILTERS,
    SOFT_SQL,
    UNTIMED_SQL,
    burst_facts,
    burst_representatives,
    capture_span,
    counted_decision,
    decision_counts,
    decisions_of,
    is_leader,
    largest_clock_offset,
    photos_at_most,
    queue_members,
    triage_queue_entries,
)
from core.store.writing import is_busy
from core.triage.bursts import SOFT_FLOOR, SOFT_RATIO
from core.triage.people import SeenDecisions

FILTER_HELP = (
    "pending, approved, rejected, unrated, all, label:NAME (red, yellow, green, blue, purple), "
    "folder:PATH, stars>=N (or stars=N, stars<=N; 0-5), camera:BODY (a model or make, in "
    "quotes when it has spaces), edited (in darktable), leaders (burst picks and photos on "
    "their own), soft (out of focus) and sort:sharpness, combined with spaces as in: "
    'pending stars>=3 camera:"NIKON D750"'
)
# Filters that choose by decision: "pending" is the part of the whole set still to do, and the
# counters are of that whole set (the filter without its decision).
DECISION_FILTERS = ("all", "pending", "approved", "rejected")
_STARS = re.compile(r"stars(>=|<=|=)([0-5])")
# The part of the queue the app opens on is read around its photo's time, ten minutes either
# side first, four times as far each time that holds too few photos; past a century, whole.
OPENING_SECONDS = 600.0
# Below this many photos the whole queue is read at once (10 ms for 5,000).
OPENING_FROM_PHOTOS = 5_000
OPENING_MOST_SECONDS = 100 * 365 * 86400.0


class FilterError(ValueError):
    """A filter that means nothing; the message lists the ones that do."""


@dataclass(frozen=True)
class Filter:
    name: str  # as the photographer typed it
    # (where, params) of each word but the decision, the folder, the sort and ``leaders``
    conditions: tuple[tuple[str, tuple], ...] = ()
    folder: str | None = None
    sharpest_first: bool = False  # inside a burst, the sharpest first (sort:sharpness)
    decision: str | None = None  # the decision it chooses by (pending, approved, ...), if any
    leaders: bool = False  # burst picks and photos on their own (whose picks: ``picks``)

    def whole_set(self, picks: tuple[str, tuple] = (IS_LEADER_SQL, ())) -> tuple[str, tuple]:
        """(where, params) of the set the counters count: the filter without its decision.
        ``picks``: (where, params) of the photos that lead their bursts (core.store.photos
        ``is_leader``), by the photos' own decisions unless told."""
        conditions = [*self.conditions, picks] if self.leaders else self.conditions
        where = " AND ".join(f"({where})" for where, _ in conditions) or "TRUE"
        return where, tuple(param for _, params in conditions for param in params)

    def chosen(self, picks: tuple[str, tuple] = (IS_LEADER_SQL, ())) -> tuple[str, tuple]:
        """(where, params) of the photos it shows, by the photos' own decisions (``picks`` as
        for ``whole_set``)."""
        where, params = self.whole_set(picks)
        if self.decision is None:
            return where, params
        term, term_params = QUEUE_FILTERS[self.decision]
        return f"({term}) AND {where}", (*term_params, *params)


def parse_filter(text: str) -> Filter:
    """A filter from its words, each a condition, all of them holding: ``pending stars>=3
    camera:"NIKON D750"``. Raises FilterError, a sentence listing what is valid."""
    text = text.strip()
    try:
        words = shlex.split(text)
    except ValueError:  # a quote left open
        raise FilterError(
            f"{text!r} is not a filter (a quote is not closed): use {FILTER_HELP}"
        ) from None
    if not words:
        raise FilterError(f"an empty filter shows nothing: use {FILTER_HELP}")
    decision: str | None = None
    conditions: list[tuple[str, tuple]] = []
    folder = None
    sharpest_first = leaders = False
    for word in words:
        if word in DECISION_FILTERS:
            if decision is not None:
                raise FilterError(
                    f"{text!r} names two decisions: a photo has one; use one of "
                    f"{', '.join(DECISION_FILTERS)} with {FILTER_HELP}"
                )
            decision = word
        elif word.startswith("folder:") and len(word) > len("folder:"):
            if folder is not None:
                raise FilterError(f"{text!r} names two folders: use one folder:PATH")
            folder = word.removeprefix("folder:")
        elif word == "sort:sharpness":
            sharpest_first = True
        elif word == "leaders":  # which frame leads goes by the decisions a view shows
            leaders = True
        else:
            conditions.append(_condition(word, text))
    return Filter(text, tuple(conditions), folder, sharpest_first, decision, leaders)


def _condition(word: str, text: str) -> tuple[str, tuple]:
    """(where, params) of one word of a filter that is not a decision, a folder or a sort."""
    if word in QUEUE_FILTERS:  # unrated
        return QUEUE_FILTERS[word]
    kind, _, value = word.partition(":")
    if kind == "label" and value in LABEL_NAMES:
        return "(p.labels & ?) != 0", (1 << LABEL_NAMES.index(value),)
    if kind == "camera" and value.strip():
        return CAMERA_SQL, (value.strip(),) * 3
    stars = _STARS.fullmatch(word)
    if stars:
        return f"p.rating {stars[1]} ?", (int(stars[2]),)
    if word == "edited":
        return EDITED_SQL, ()
    if word == "soft":
        return SOFT_SQL, (SOFT_FLOOR, SOFT_RATIO)
    what = repr(word) if word == text else f"{word!r} in {text!r}"
    raise FilterError(f"{what} is not a filter: use {FILTER_HELP}")


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
    at its end (``add_arrivals``), and one brought back by undo rejoins it (``rejoin``).

    ``collapsed``: each burst shows as one entry, the one of its photos in the filter that
    leads it (the approved one, by the view's decisions, else the sharpest, else the first:
    core.store.photos LEADER_ORDER_SQL), at that photo's place in time. The filter's
    ``sort:sharpness`` puts the sharpest of each burst first, in the burst's place.

    ``seen``: whose decisions the filter's decision, its ``leaders`` picks and the counters go
    by (a person's view, blind: that person's standing decisions, core.triage.people); without
    it, or in everyone's view, each photo's own."""

    def __init__(
        self,
        db: SqliteDatabase,
        filter_text: str = "pending",
        collapsed: bool = False,
        seen: SeenDecisions | None = None,
        load: bool = True,
    ) -> None:
        self.db = db
        self.filter = parse_filter(filter_text)
        self.collapsed = collapsed
        self.seen = seen if seen is not None and not seen.everyone else None
        self.photo_ids: list[int] = []
        self._wall: dict[int, float | None] = {}  # the camera's wall clock of each member
        # False for a part of the queue (``opening``): its members are a run of the whole
        # queue's, in its order, but the whole queue has more.
        self.whole = True
        if load:
            self.refresh()

    @classmethod
    def opening(
        cls,
        db: SqliteDatabase,
        filter_text: str,
        photo_id: int | None,
        reach: int,
        collapsed: bool = False,
    ) -> Queue:
        """The part of the queue the app opens on, read through the capture time's index:
        ``photo_id`` (or the photo ``index_near`` would stand on for it; the first photo for
        None) and at least ``reach`` members either side of it, in the whole queue's order.
        With 100,000 photos the whole queue takes a quarter of a second to read; this part,
        a few milliseconds. The whole queue when the part reaches both ends, for a catalogue
        of fewer than OPENING_FROM_PHOTOS, and where a part cannot be had this way (collapsed
        bursts and the sharpest first need whole bursts; a photo without a capture time sorts
        among the last)."""
        queue = cls(db, filter_text, collapsed, load=False)
        if collapsed or queue.filter.sharpest_first or photos_at_most(db) < OPENING_FROM_PHOTOS:
            queue.refresh()
            return queue
        span = capture_span(db)
        if photo_id is None:
            wall = span.first
        else:
            rows = triage_queue_entries(db, "p.id = ?", (photo_id,))
            wall = rows[0][2] if rows else span.first
        if wall is None or span.first is None:
            queue.refresh()
            return queue
        # A photo's wall clock is its capture time moved by its UTC offset: photos whose
        # capture time is more than the largest offset outside the range read have wall
        # clocks outside the part kept, so that part is in the whole queue's order.
        offset = largest_clock_offset(db)
        seconds = OPENING_SECONDS
        while seconds < OPENING_MOST_SECONDS:
            low, high = wall - seconds - offset, wall + seconds + offset
            below = span.first < low
            above = span.last > high
            f = queue.filter
            where, params = f.chosen()  # everyone's decisions: the view the app opens on
            rows = triage_queue_entries(db, f"({where}) AND {CAPTURED_BETWEEN_SQL}",
                                        (*params, low, high), f.folder)  # fmt: skip
            kept = [row for row in rows
                    if (not below or row[2] >= wall - seconds)
                    and (not above or row[2] <= wall + seconds)]  # fmt: skip
            before = sum(1 for row in kept if row[2] < wall)
            after = sum(1 for row in kept if row[2] > wall)
            if (before >= reach or not below) and (after >= reach or not above):
                if not above and span.untimed:  # the photos without a capture time end it
                    kept += triage_queue_entries(db, f"({where}) AND {UNTIMED_SQL}",
                                                 params, f.folder)  # fmt: skip
                queue.photo_ids = [member for member, _, _ in kept]
                queue._wall = {member: member_wall for member, _, member_wall in kept}
                queue.whole = not below and not above
                if queue.whole or photo_id is None or photo_id in queue:
                    return queue
                # Not a member: index_near would look for a member of its burst, anywhere
                # in the whole queue; without a burst, the nearest in time is in this part.
                fact = burst_facts(db, [photo_id]).get(photo_id)
                if fact is None or fact.burst is None:
                    return queue
                break
            seconds *= 4
        queue.refresh()
        return queue

    def _where(self) -> tuple[str, tuple]:
        """(where, params) of the filter, its decision and bursts' picks the view's."""
        f = self.filter
        if self.seen is None:
            return f.chosen()
        where, params = self._whole_set()
        if f.decision in (None, "all"):
            return where, params
        term, term_params = self.seen.where(f.decision)
        return f"({term}) AND {where}", (*term_params, *params)

    def _whole_set(self) -> tuple[str, tuple]:
        """(where, params) of the set the counters count, its bursts' picks the view's."""
        return self.filter.whole_set(self._picks())

    def _picks(self) -> tuple[str, tuple]:
        """(where, params) of the photos leading their bursts by the view's decisions, with
        the ones ``seen`` already holds as parameters (no query more); the photos' own when
        the filter has no ``leaders`` (then unused)."""
        if not self.filter.leaders:
            return IS_LEADER_SQL, ()
        return is_leader(self.db, self.seen.decided() if self.seen is not None else None)

    def refresh(self) -> None:
        rows = self._arranged(triage_queue_entries(self.db, *self._where(), self.filter.folder))
        self.photo_ids = [photo_id for photo_id, _, _ in rows]
        self._wall = {photo_id: wall for photo_id, _, wall in rows}

    def _arranged(self, rows: list[tuple], keep: frozenset[int] = frozenset()) -> list[tuple]:
        """Rows in shot order, collapsed and sorted as asked (``keep``: never left out)."""
        if not (self.collapsed or self.filter.sharpest_first) or not rows:
            return rows
        ids = [row[0] for row in rows]
        facts = burst_facts(self.db, ids)
        if self.collapsed:
            decided = self.seen.decided() if self.seen is not None else None
            chosen = set(burst_representatives(self.db, ids, decided).values()) | keep
            rows = [row for row in rows if facts[row[0]].burst is None or row[0] in chosen]
        if self.filter.sharpest_first:
            arranged: list[tuple] = []
            for burst, run in itertools.groupby(rows, key=lambda row: facts[row[0]].burst):
                run = list(run)
                if burst is not None:  # sorted is stable: unmeasured ones keep shot order
                    run.sort(key=lambda row: _sharpest_first(facts[row[0]].sharpness))
                arranged.extend(run)
            rows = arranged
        return rows

    def __contains__(self, photo_id: int) -> bool:
        return photo_id in self._wall

    def counts(self) -> Counts:
        """From the catalogue now: what every session decided counts. It reads the whole
        set (20 ms for 20,000 photos): after one photo's change, ``Counts.moved`` with
        ``counted_as`` before and after is enough."""
        where, params = self._whole_set()
        if self.seen is not None:  # the view's decisions: the set's ids, counted by them
            counts = dict.fromkeys(("pending", "approved", "rejected"), 0)
            for photo_id in queue_members(self.db, where, params, self.filter.folder):
                counts[self.seen.decision(photo_id, "pending")] += 1
        else:
            counts = decision_counts(self.db, where, params, self.filter.folder)
        return Counts(counts["pending"], counts["approved"], counts["rejected"])

    def counted_as(self, photo_id: int) -> str | None:
        """The decision the counters count the photo under, None when it is not in the
        whole set (stars or a label can take it in or out of one)."""
        where, params = self._whole_set()
        counted = counted_decision(self.db, photo_id, where, params, self.filter.folder)
        if counted is None or self.seen is None:
            return counted
        return self.seen.decision(photo_id, counted)

    def index_near(self, photo_id: int | None) -> int:
        """Where to stand for ``photo_id``: its own place when it is a member, else the
        member of its burst when the queue has one (a collapsed burst), else the member
        nearest to it by the camera's clock (the later one on a tie, the last one for a photo
        without a capture time); 0 when there is no such photo."""
        if not self.photo_ids or photo_id is None:
            return 0
        if photo_id in self._wall:
            return self.photo_ids.index(photo_id)
        mate = self._burst_mate(photo_id)
        if mate is not None:  # hidden in a collapsed burst: the burst's entry
            return self.photo_ids.index(mate)
        rows = triage_queue_entries(self.db, "p.id = ?", (photo_id,))
        if not rows:
            return 0  # gone from the catalogue
        return self.index_at(rows[0][2])

    def _burst_mate(self, photo_id: int) -> int | None:
        """A member of the queue in the photo's burst, if any."""
        fact = burst_facts(self.db, [photo_id]).get(photo_id)
        if fact is None or fact.burst is None:
            return None
        mates = burst_facts(self.db, (), bursts=[fact.burst])
        return next((mate for mate in self.photo_ids if mate in mates), None)

    def index_at(self, wall: float | None) -> int:
        """The member nearest to ``wall`` (the camera's clock, seconds) in time: the later
        one on a tie; the last member for None."""
        if not self.photo_ids:
            return 0
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
            among, members = dialect.one_of(self.db, "p.id", [*self.photo_ids, photo_id])
            rows = triage_queue_entries(self.db, among, (members,))
            rows = self._arranged(rows, keep=frozenset(self.photo_ids) | {photo_id})
            self.photo_ids = [pid for pid, _, _ in rows]
            self._wall = {pid: wall for pid, _, wall in rows}
        return self.photo_ids.index(photo_id) if photo_id in self._wall else 0

    def next_pending(self, index: int, step: int) -> int | None:
        """The index of the nearest pending member after ``index`` (``step`` 1) or before it
        (-1), by the decisions now; None when there is none that way."""
        decisions = decisions_of(self.db, self.photo_ids)
        at = index + step
        while 0 <= at < len(self.photo_ids):
            photo_id = self.photo_ids[at]
            shown = decisions.get(photo_id)
            if shown is not None and self._seen(photo_id, shown) == "pending":
                return at
            at += step
        return None

    def _seen(self, photo_id: int, shown: str) -> str:
        return shown if self.seen is None else self.seen.decision(photo_id, shown)

    def wall_of(self, photo_id: int) -> float | None:
        return self._wall.get(photo_id)

    def add_arrivals(self, index: int = 0) -> list[tuple[int, str]]:
        """Photos of the filter that arrived since it was loaded (a card copied in while
        culling, the first index filling the catalogue) join it; returns (id, decision) of
        each. The photo at ``index`` and every one before it stay where they are: arrivals
        taken after it go to their place in time among the photos after it, earlier ones
        (and those without a capture time) to the end."""
        entries = triage_queue_entries(self.db, *self._where(), self.filter.folder)
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
        return [(photo_id, self._seen(photo_id, decision)) for photo_id, decision, _ in arrived]


def _time_key(wall: float | None) -> tuple[bool, float]:
    return (wall is None, wall or 0.0)


def _sharpest_first(sharpness: float | None) -> tuple[bool, float]:
    return (sharpness is None, -(sharpness or 0.0))


class MomentError(ValueError):
    """A time to jump to that cannot be read; the message says what can."""


MOMENT_HELP = "a time such as 21:46, 21:46:31 or 2024-11-16 21:46 (the camera's clock)"
_MOMENT = re.compile(
    r"(?:(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+|$))?(?:(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?)?"
)


def parse_moment(text: str, day_of: float | None) -> float:
    """A moment on the camera's wall clock (seconds, as the queue keeps it) from what the
    photographer typed: a date and time, or a time on the day of ``day_of`` (the photo on
    screen). Raises MomentError."""
    match = _MOMENT.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise MomentError(f"{text.strip()!r} is not a time: type {MOMENT_HELP}.")
    year, month, day, hour, minute, second = match.groups()
    if year is None:
        if day_of is None:
            raise MomentError(
                f"{text.strip()!r} has no date and this photo has no capture time: type "
                f"{MOMENT_HELP}."
            )
        year, month, day = time.gmtime(day_of)[:3]
    try:
        moment = calendar.timegm(
            (int(year), int(month), int(day), int(hour or 0), int(minute or 0), 0, 0, 0, 0)
        )
        if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour or 0) < 24
                and int(minute or 0) < 60 and float(second or 0) < 61):  # fmt: skip
            raise ValueError
    except ValueError:
        raise MomentError(f"{text.strip()!r} is not a time: type {MOMENT_HELP}.") from None
    return moment + float(second or 0)


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
