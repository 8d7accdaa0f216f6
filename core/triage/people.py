"""People's decisions merged on demand: per photo, each person's standing decision, whether
they agree, and the conflicts (approved by one, rejected by another) until one is settled.

- A person's standing decision on a photo is their newest one not taken back
  (``core.store.people.standing_decisions``); "pending" is no decision.
- A photo is in conflict when the people whose decisions count disagree: approved by one,
  rejected by another.
- Whose decisions a screen shows (``seen_decision``): everyone's (what the photo shows, the
  newest standing decision of anyone), one person's (theirs, "pending" when they have none),
  or blind: the person's own only, nothing of anyone else's. ``SeenDecisions`` is that rule
  for a whole screen: the card, the counters, the decision filters, the thumbnails' marks
  and compare and survey all read a photo's decision from it, so a view shows one person's
  decisions everywhere or nowhere.
- Settling a conflict is a decision like any other, made with ``Triage.resolve`` (source
  "resolve", with who made it): it stands over every decision made before it, so only it and
  the decisions made after it count. Someone deciding otherwise after it makes a conflict
  again; taking the resolution back (undo) brings the old one back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from peewee import Database

from core.store.dialect import one_of
from core.store.people import (
    RESOLVE,
    StandingDecision,
    original_paths,
    people,
    person_standing,
    standing_decisions,
)

DECIDED = ("approved", "rejected")  # "pending" is not a decision one can disagree with
UNKNOWN_PERSON = "unknown"  # how a decision logged before people were recorded is shown
EVERYONE, BLIND = "everyone", "blind"  # views of whose decisions; any other is a person's


@dataclass(frozen=True)
class PersonDecision:
    person: str  # UNKNOWN_PERSON for decisions logged before people were recorded
    decision: str
    at: float
    resolved: bool  # made to settle a conflict
    counts: bool  # not settled by a resolution made after it


@dataclass(frozen=True)
class PhotoDecisions:
    """One photo's standing decisions, one per person, oldest first."""

    photo_id: int
    path: str | None  # the original, absolute; None when it has none on file
    decisions: tuple[PersonDecision, ...]

    @property
    def in_conflict(self) -> bool:
        return len({each.decision for each in self.decisions if each.counts}) > 1

    @property
    def resolved_by(self) -> str | None:
        """Who settled the photo's conflict (the resolution that counts), if anyone did."""
        return next((each.person for each in self.decisions if each.resolved and each.counts), None)

    def of(self, person: str) -> str | None:
        """``person``'s standing decision on the photo, or None."""
        return next((each.decision for each in self.decisions if each.person == person), None)


def shown_person(person: str | None) -> str:
    return UNKNOWN_PERSON if person is None else person


def decisions_by_photo(db: Database) -> list[PhotoDecisions]:
    """Every photo someone decided, with each person's standing decision."""
    by_photo: dict[int, list[StandingDecision]] = {}
    for standing in standing_decisions(db):
        by_photo.setdefault(standing.photo_id, []).append(standing)
    paths = original_paths(db, list(by_photo))
    return [_merged(photo_id, rows, paths.get(photo_id)) for photo_id, rows in by_photo.items()]


def photo_decisions(db: Database, photo_id: int) -> PhotoDecisions:
    """One photo's standing decisions, one per person (none: nobody decided it)."""
    rows = standing_decisions(db, photo_id)
    return _merged(photo_id, rows, None)


def views(db: Database, me: str) -> list[str]:
    """The views of whose decisions, in the order a key goes through them: everyone's,
    mine, each other person's, blind."""
    others = [shown_person(name) for name in people(db) if shown_person(name) != me]
    return [EVERYONE, me, *others, BLIND]


def whose_decisions(view: str, me: str) -> str | None:
    """The person whose standing decisions a screen in ``view`` shows (``me`` when blind);
    None for everyone's view (what each photo shows)."""
    if view == EVERYONE:
        return None
    return me if view == BLIND else view


def seen_decision(photo: PhotoDecisions, view: str, me: str, shown: str) -> str:
    """The decision a screen in ``view`` shows for the photo: ``shown`` (the photo's own) for
    everyone's, else the person's standing decision (``me`` when blind), "pending" without."""
    whose = whose_decisions(view, me)
    return shown if whose is None else photo.of(whose) or "pending"


class SeenDecisions:
    """The decision a screen shows for each photo, in the view chosen (``seen_decision``'s
    rule), for every part of the screen at once. In a person's view (blind: mine) it holds
    that person's standing decisions, read in one query at each ``refresh`` (the view
    chosen, a decision made, others' decisions seen coming in), never one per photo; in
    everyone's view it reads nothing and gives each photo's own decision back."""

    def __init__(self, db: Database, me: str) -> None:
        self.db = db
        self.me = me
        self.view = EVERYONE
        self._standing: dict[int, str] = {}

    @property
    def everyone(self) -> bool:
        return self.view == EVERYONE

    @property
    def whose(self) -> str | None:
        """The person whose decisions are shown (None: everyone's)."""
        return whose_decisions(self.view, self.me)

    def show(self, view: str) -> None:
        self.view = view
        self.refresh()

    def refresh(self) -> None:
        whose = self.whose
        if whose is None:
            self._standing = {}
            return
        self._standing = person_standing(self.db, None if whose == UNKNOWN_PERSON else whose)

    def as_now(self) -> SeenDecisions:
        """These decisions as they are now: a later ``refresh`` leaves the copy as it is."""
        return copy.copy(self)

    def decision(self, photo_id: int, shown: str) -> str:
        """What the screen shows as the photo's decision; ``shown``: the photo's own."""
        if self.view == EVERYONE:
            return shown
        standing = self._standing.get(photo_id, "pending")
        return standing if standing in DECIDED else "pending"

    def where(self, decision: str) -> tuple[str, tuple]:
        """(SQL over ``p``, its parameters) for the photos this person's view shows as
        ``decision`` (pending, approved, rejected): from the one set of ids already read."""
        if decision == "pending":
            among, ids = one_of(self.db, "p.id", self._ids(DECIDED))
            return f"NOT ({among})", (ids,)
        among, ids = one_of(self.db, "p.id", self._ids((decision,)))
        return among, (ids,)

    def decided(self) -> tuple[list[int], list[int]]:
        """(the photos approved, those rejected) in this person's view."""
        return self._ids(("approved",)), self._ids(("rejected",))

    def _ids(self, decisions: tuple[str, ...]) -> list[int]:
        return sorted(pid for pid, decision in self._standing.items() if decision in decisions)


def people_words(photo: PhotoDecisions, view: str) -> str | None:
    """Who decided what on the photo, for a screen ("approved by ann, rejected by bob —
    conflict"); None when blind, or when fewer than two people decided and nobody settled."""
    if view == BLIND or (len(photo.decisions) < 2 and photo.resolved_by is None):
        return None
    words = ", ".join(
        f"{each.decision} by {each.person}" + (" (settling)" if each.resolved else "")
        for each in photo.decisions
        if each.counts
    )
    if photo.in_conflict:
        return f"{words} — conflict"
    return f"{words} — settled by {photo.resolved_by}" if photo.resolved_by else words


def conflicts(db: Database) -> list[PhotoDecisions]:
    """The photos people disagree on, in the order they were first decided."""
    return [photo for photo in decisions_by_photo(db) if photo.in_conflict]


def _merged(photo_id: int, rows: Iterable[StandingDecision], path: str | None) -> PhotoDecisions:
    rows = list(rows)
    settled_at = max((row.id for row in rows if row.source == RESOLVE), default=0)
    return PhotoDecisions(
        photo_id,
        path,
        tuple(
            PersonDecision(
                shown_person(row.person),
                row.decision,
                row.at,
                resolved=row.source == RESOLVE,
                counts=row.id >= settled_at,
            )
            for row in rows
            if row.decision in DECIDED
        ),
    )
