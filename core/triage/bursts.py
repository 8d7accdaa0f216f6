"""Bursts: consecutive photos of one camera body taken close together in time *and* alike in
look, grouped so the photographer chooses one keeper among them; each photo's place in its
burst (position, size, sharpness rank) and what counts as soft.

A photo joins the burst of the photo its body took just before it when both hold, else it
starts a new one:

- the capture-time gap between them is at most ``triage.burst_gap_seconds`` (2 s): two visits
  to the same spot minutes apart are two bursts, however alike;
- their perceptual hashes (``Photo.phash``, imagehash's 64-bit DCT hash of the preview) differ
  in at most ``triage.burst_hash_distance`` bits (16): a busy minute of different subjects is
  not one burst.

Measured on 21 real photos, the demo's (its burst once) and 4 camera samples (the test prints
its figures): two different photos never came closer than 22 bits (of 210 pairs); the same
photo shifted by 2 % differs by at most 6 bits, shifted 5 % by 16, zoomed in 10 % by 20, turned
2 degrees by 14, a stop brighter by 10, any Gaussian blur (1-6 px) or a stop darker by 2, and
the demo's real burst (five video frames 0.12 s apart) by 0. 16 keeps every shift and
exposure change of a real burst and stays 6 bits from the closest pair of different photos;
only a 10 % zoom between two frames splits a burst.

A photo without a phash yet (not looked at, or its preview could not be read) belongs to no
burst and breaks the chain through it: grouping by time alone would make every busy minute one
burst, the very thing the hash is there to prevent. The media pipeline calls ``regroup`` once
it stores hashes, so a photo joins its burst when it is measured. Photos without a capture
time belong to none. The camera body is the make and model (the catalogue keeps no serial
number): two bodies of one model at one event, shooting the same scene in the same seconds,
may share a burst.

``Photo.burst`` holds the id of the burst's first photo (in shot order); NULL for a photo on
its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from peewee import SqliteDatabase

# The defaults live with the settings they are the defaults of; the measurements are above.
from core.config.settings import DEFAULT_GAP_SECONDS, DEFAULT_HASH_DISTANCE
from core.media.focus_scale import SOFT_BELOW
from core.store.photos import (
    burst_facts,
    burst_leader,
    burst_member_rows,
    burst_members,
    set_bursts,
    shots_of_bodies,
)

# Float capture times (sub-seconds) are not exact: 31.12 - 29.12 may come out a hair over 2.
_TIME_SLACK = 1e-6

# Soft: below half its burst's sharpest, or below the absolute floor wherever it is. Within a
# burst the frames share subject and light, so a ratio compares like with like (the focus score
# also grows with contrast and noise, so no one number suits every scene); a photo on its own,
# or a burst where every frame missed, is judged by the floor alone: the focus score's own
# "soft whatever the subject" (core.media.focus_scale.SOFT_BELOW).
SOFT_RATIO = 0.5
SOFT_FLOOR = SOFT_BELOW


@dataclass(frozen=True)
class BurstRules:
    gap_seconds: float = DEFAULT_GAP_SECONDS
    hash_distance: int = DEFAULT_HASH_DISTANCE

    @classmethod
    def of(cls, settings) -> BurstRules:
        """From the settings (a ``core.config.Settings``)."""
        return cls(settings.triage.burst_gap_seconds, settings.triage.burst_hash_distance)


DEFAULT_RULES = BurstRules()


@dataclass(frozen=True)
class Shot:
    """What grouping needs of one photo."""

    photo_id: int
    wall: float | None  # the camera's wall clock, seconds (core.store.photos.WALL_CLOCK_SQL)
    body: str  # the camera body: "make|model"
    phash: str | None  # 16 hex digits


def hash_distance(a: str, b: str) -> int:
    """The number of bits in which two perceptual hashes (hex) differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def group_shots(shots: Sequence[Shot], rules: BurstRules = BurstRules()) -> dict[int, int | None]:
    """{photo id: burst id (its burst's first photo), or None on its own} of ``shots``, given
    in shot order."""
    previous: dict[str, Shot] = {}  # each body's last shot
    burst_of: dict[int, int] = {}  # photo -> the first photo of the chain it is in
    sizes: dict[int, int] = {}
    for shot in shots:
        before = previous.get(shot.body)
        previous[shot.body] = shot
        if shot.wall is None or shot.phash is None:
            continue
        if before is not None and _joins(before, shot, rules):
            first = burst_of[before.photo_id]
        else:
            first = shot.photo_id
        burst_of[shot.photo_id] = first
        sizes[first] = sizes.get(first, 0) + 1
    return {
        shot.photo_id: (first if (first := burst_of.get(shot.photo_id)) and sizes[first] > 1
                        else None)
        for shot in shots
    }  # fmt: skip


def _joins(before: Shot, shot: Shot, rules: BurstRules) -> bool:
    return (
        before.wall is not None
        and before.phash is not None
        and shot.wall - before.wall <= rules.gap_seconds + _TIME_SLACK
        and hash_distance(before.phash, shot.phash) <= rules.hash_distance
    )


def regroup(
    db: SqliteDatabase, photo_ids: Iterable[int], rules: BurstRules = BurstRules()
) -> list[int]:
    """Group again the photos around ``photo_ids`` (every photo of their bodies within a chain
    of gaps no longer than ``rules.gap_seconds``, and the photos of their bursts so far) and
    write ``Photo.burst`` where it changed. Returns the photos whose burst changed. The caller
    holds the transaction (the engine's writer, or ``db.atomic()``)."""
    wanted = set(photo_ids)
    if not wanted:
        return []
    facts = burst_facts(db, wanted)
    old_bursts = {fact.burst for fact in facts.values() if fact.burst is not None}
    if old_bursts:  # a photo that moved away in time (its EXIF read anew) leaves its burst
        wanted |= set(burst_facts(db, (), bursts=old_bursts))
        facts = burst_facts(db, wanted)
    around: dict[str, list[float]] = {}
    for fact in facts.values():
        if fact.wall is not None:
            around.setdefault(fact.body, []).append(fact.wall)
    margin = max(60.0, 30 * rules.gap_seconds)
    while True:
        shots, cut = _shots_around(db, around, margin, rules)
        if not cut:
            break
        margin *= 8  # a chain reached the edge of what was read: read further
    grouped = group_shots(shots, rules)
    for photo_id in facts:  # no capture time (or no original) now: on its own
        grouped.setdefault(photo_id, None)
    stored = {pid: fact.burst for pid, fact in burst_facts(db, grouped).items()}
    changed = [(burst, pid) for pid, burst in grouped.items() if stored.get(pid, burst) != burst]
    set_bursts(db, changed)
    return [pid for _, pid in changed]


def _shots_around(
    db: SqliteDatabase, around: dict[str, list[float]], margin: float, rules: BurstRules
) -> tuple[list[Shot], bool]:
    """The shots of the chains (runs of gaps within the rule) holding the ``around`` times of
    each body, read within ``margin`` seconds of them; and whether a chain may go on past what
    was read."""
    chosen: list[Shot] = []
    cut = False
    for body, walls in around.items():
        low, high = min(walls) - margin, max(walls) + margin
        rows = [Shot(*row) for row in shots_of_bodies(db, [body], low, high)]
        chains: list[list[Shot]] = []
        for shot in rows:
            if chains and shot.wall - chains[-1][-1].wall <= rules.gap_seconds + _TIME_SLACK:
                chains[-1].append(shot)
            else:
                chains.append([shot])
        for chain in chains:
            start, end = chain[0].wall, chain[-1].wall
            if any(start - _TIME_SLACK <= wall <= end + _TIME_SLACK for wall in walls):
                chosen.extend(chain)
                if start - low <= rules.gap_seconds or high - end <= rules.gap_seconds:
                    cut = True
    return chosen, cut


def regroup_all(db: SqliteDatabase, rules: BurstRules = BurstRules()) -> list[int]:
    """Group every photo of the catalogue again (after the rules changed); as ``regroup``."""
    shots = [Shot(*row) for row in shots_of_bodies(db, None, None, None)]
    grouped = group_shots(shots, rules)
    stored = {pid: fact.burst for pid, fact in burst_facts(db, grouped).items()}
    changed = [(burst, pid) for pid, burst in grouped.items() if stored.get(pid) != burst]
    set_bursts(db, changed)
    return [pid for _, pid in changed]


# --- a photo's place in its burst ------------------------------------------------------------


@dataclass(frozen=True)
class BurstPlace:
    """Where a photo stands in its burst: "burst 3 / 7", "sharpest of 7"."""

    burst_id: int
    position: int  # 1-based, in shot order
    size: int
    rank: int | None  # 1 = the sharpest; None while its sharpness is not measured
    measured: int  # members with a sharpness
    leader: int  # the pick: the approved one, else the sharpest, else the first
    sharpness: float | None
    sharpest: float | None  # the burst's highest sharpness

    @property
    def rank_words(self) -> str:
        """ "sharpest of 7", "3rd sharpest of 7"; "" while not measured."""
        return rank_words(self.rank, self.size)

    @property
    def relative_sharpness(self) -> float | None:
        """Its sharpness as a fraction of the burst's sharpest (0-1)."""
        if self.sharpness is None or not self.sharpest:
            return None
        return max(0.0, min(1.0, self.sharpness / self.sharpest))

    @property
    def soft(self) -> bool:
        return is_soft(self.sharpness, self.sharpest)

    def as_dict(self) -> dict:
        return {
            "id": self.burst_id,
            "position": self.position,
            "size": self.size,
            "rank": self.rank,
            "leader": self.leader,
        }


def is_soft(sharpness: float | None, sharpest: float | None) -> bool:
    """Soft: below ``SOFT_RATIO`` of its burst's sharpest (``sharpest``, None on its own), or
    below ``SOFT_FLOOR``. Not measured is not soft."""
    if sharpness is None:
        return False
    if sharpness < SOFT_FLOOR:
        return True
    return sharpest is not None and sharpness < SOFT_RATIO * sharpest


def rank_words(rank: int | None, size: int) -> str:
    """ "sharpest of 7", "3rd sharpest of 7"; "" for no rank (not measured)."""
    if rank is None:
        return ""
    return f"sharpest of {size}" if rank == 1 else f"{ordinal(rank)} sharpest of {size}"


def ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def sharpness_ranks(sharpness: dict[int, float | None]) -> dict[int, int | None]:
    """{photo: rank by sharpness, 1 the sharpest} of a burst's members; None when unmeasured.
    Equal scores share a rank."""
    measured = sorted({value for value in sharpness.values() if value is not None}, reverse=True)
    rank_of = {}
    for value in measured:
        rank_of[value] = 1 + sum(1 for other in sharpness.values()
                                 if other is not None and other > value)  # fmt: skip
    return {pid: (None if value is None else rank_of[value]) for pid, value in sharpness.items()}


def burst_place(db: SqliteDatabase, photo_id: int) -> BurstPlace | None:
    """The photo's place in its burst; None when it is in none."""
    fact = burst_facts(db, [photo_id]).get(photo_id)
    if fact is None or fact.burst is None:
        return None
    members = burst_members(db, photo_id)
    if photo_id not in members or len(members) < 2:
        return None
    member_facts = burst_facts(db, members)
    sharpness = {pid: member_facts[pid].sharpness for pid in members}
    ranks = sharpness_ranks(sharpness)
    measured = [value for value in sharpness.values() if value is not None]
    return BurstPlace(
        burst_id=fact.burst,
        position=members.index(photo_id) + 1,
        size=len(members),
        rank=ranks[photo_id],
        measured=len(measured),
        leader=burst_leader(db, fact.burst) or members[0],
        sharpness=sharpness[photo_id],
        sharpest=max(measured) if measured else None,
    )


# --- bursts listed (``shootwatch bursts``) ----------------------------------------------------


@dataclass(frozen=True)
class BurstMember:
    photo_id: int
    path: str  # the original, absolute
    position: int  # 1-based, in shot order
    wall: float | None  # the camera's wall clock
    decision: str
    rating: int
    labels: int
    sharpness: float | None
    rank: int | None  # by sharpness, 1 the sharpest
    leader: bool
    soft: bool


@dataclass(frozen=True)
class Burst:
    burst_id: int
    camera_make: str | None
    camera_model: str | None
    members: tuple[BurstMember, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def leader(self) -> BurstMember:
        return next((m for m in self.members if m.leader), self.members[0])


def bursts_in(
    db: SqliteDatabase, folder: str | None = None, burst_ids: Sequence[int] | None = None
) -> list[Burst]:
    """The bursts with photos under ``folder`` (or ``burst_ids``), each with every member
    (also those outside the folder), in the order they were shot."""
    chosen = {row.burst for row in burst_member_rows(db, folder, burst_ids)}
    rows = burst_member_rows(db, None, sorted(chosen)) if chosen else []
    by_burst: dict[int, list] = {}
    for row in rows:
        by_burst.setdefault(row.burst, []).append(row)
    found = []
    for burst_id, members in by_burst.items():
        members.sort(key=lambda row: (row.wall is None, row.wall or 0.0))
        if len(members) < 2:
            continue  # what is left of a burst whose other photos went: no burst to show
        ranks = sharpness_ranks({row.photo_id: row.sharpness for row in members})
        measured = [row.sharpness for row in members if row.sharpness is not None]
        sharpest = max(measured) if measured else None
        leader = burst_leader(db, burst_id)
        found.append(
            Burst(
                burst_id,
                members[0].camera_make,
                members[0].camera_model,
                tuple(
                    BurstMember(
                        photo_id=row.photo_id,
                        path=os.path.join(row.root, row.rel_path),
                        position=position,
                        wall=row.wall,
                        decision=row.decision,
                        rating=row.rating,
                        labels=row.labels,
                        sharpness=row.sharpness,
                        rank=ranks[row.photo_id],
                        leader=row.photo_id == leader,
                        soft=is_soft(row.sharpness, sharpest),
                    )
                    for position, row in enumerate(members, start=1)
                ),
            )
        )
    found.sort(key=lambda burst: (burst.members[0].wall is None, burst.members[0].wall or 0.0))
    return found
