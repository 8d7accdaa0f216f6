"""What the triage screen says about one photo: its file, when it was taken, the camera and
exposure, the decision, stars and labels, what darktable knows of it, and its sharpness and
place in its burst; and the shorter facts under each frame of a compare or survey (name,
stars, decision, sharpness and its rank among the frames shown)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from peewee import SqliteDatabase

from core.darktable.facts import LABEL_NAMES
from core.store import dialect
from core.store.photos import FIRST_ORIGINAL_SQL
from core.triage.bursts import BurstPlace, burst_place, sharpness_ranks
from core.triage.people import SeenDecisions


@dataclass(frozen=True)
class DarktableState:
    """What darktable's library says of a photo: its first version's edit, export, stars and
    reject, and how many versions it has."""

    imported: bool  # False: darktable is followed but has no image of this file
    edited: bool = False
    exported: bool = False
    stars: int = 0
    rejected: bool = False
    versions: int = 1

    def words(self, stars_shown: int | None = None) -> str:
        """The state in words: "darktable: edited, exported, 4 ★, 2 versions" or "not in
        darktable". Given the stars the line already shows beside it, darktable's are left out
        when they agree (a reject is always said)."""
        if not self.imported:
            return "not in darktable"
        parts = ["edited" if self.edited else "not edited"]
        if self.exported:
            parts.append("exported")
        if self.rejected:
            parts.append("rejected")
        elif self.stars != stars_shown:
            parts.append(f"{self.stars} ★")
        if self.versions > 1:
            parts.append(f"{self.versions} versions")
        return "darktable: " + ", ".join(parts)


@dataclass(frozen=True)
class PhotoCard:
    photo_id: int
    path: str  # the original, absolute
    rel_path: str  # the original, under its root
    files: int  # files that belong to the photo (original, twin, sidecars, exports)
    capture_time: float | None
    capture_offset: str | None
    camera: str | None
    lens: str | None
    exposure: str | None  # "1/250 s · f/2.8 · 50 mm"
    iso: int | None
    width: int | None
    height: int | None
    decision: str
    rating: int
    labels: int
    darktable_state: DarktableState | None  # None: no darktable library is followed
    damage: str | None = None  # what is wrong with the original shown (a JPEG cut short)
    sidecar_problem: str | None = None  # why its sidecar was left alone (write-back on)
    sharpness: float | None = None  # its focus score (core.media.looks); None: not measured
    burst: BurstPlace | None = None  # its place in its burst: "burst 3 / 7", "sharpest of 7"

    @property
    def darktable(self) -> str:
        """The state in words for the card: "darktable: edited, exported, 4 ★", "not in
        darktable", or "" when no darktable library is followed."""
        return self.darktable_state.words() if self.darktable_state else ""

    @property
    def label_names(self) -> list[str]:
        return [name for bit, name in enumerate(LABEL_NAMES) if self.labels & (1 << bit)]

    @property
    def taken(self) -> str:
        """The capture time as the camera showed it, with its offset when known."""
        if self.capture_time is None:
            return "time unknown"
        if self.capture_offset:
            hours, _, minutes = self.capture_offset.lstrip("+-").partition(":")
            sign = -1 if self.capture_offset.startswith("-") else 1
            shift = sign * (int(hours) * 3600 + int(minutes or 0) * 60)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.capture_time + shift))
            return f"{stamp} {self.capture_offset}"
        # No offset: the camera's wall clock was stored as if it were UTC.
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.capture_time))


def photo_card(db: SqliteDatabase, photo_id: int) -> PhotoCard | None:
    row = db.execute_sql(
        "SELECT p.id, r.path, f.rel_path, p.capture_time, p.capture_offset, p.camera_make,"
        " p.camera_model, p.lens, p.exposure_time, p.aperture, p.focal_length, p.iso, p.width,"
        " p.height, p.orientation, p.decision, p.rating, p.labels,"
        " (SELECT count(*) FROM file m WHERE m.photo_id = p.id), f.error, p.sidecar_problem,"
        " p.sharpness"
        " FROM photo p JOIN file f ON f.photo_id = p.id AND f.role = 'original'"
        " JOIN root r ON r.id = f.root_id WHERE p.id = ? LIMIT 1",
        (photo_id,),
    ).fetchone()
    if row is None:
        return None
    (pid, root, rel, taken, offset, make, model, lens, shutter, aperture, focal, iso, width,
     height, orientation, decision, rating, labels, files, damage, sidecar,
     sharpness) = row  # fmt: skip
    path = os.path.join(root, rel)
    if orientation in (5, 6, 7, 8) and width and height:  # shown upright: sides swap
        width, height = height, width
    return PhotoCard(
        photo_id=pid,
        path=path,
        rel_path=rel,
        files=files,
        capture_time=taken,
        capture_offset=offset,
        camera=camera_name(make, model),
        lens=lens,
        exposure=" · ".join(
            part
            for part in (
                shutter and f"{shutter} s",
                aperture and f"f/{aperture:g}",
                focal and f"{focal:g} mm",
            )
            if part
        )
        or None,
        iso=iso,
        width=width,
        height=height,
        decision=decision,
        rating=rating,
        labels=labels,
        darktable_state=_darktable_state(db, path),
        damage=damage,
        sidecar_problem=sidecar,
        sharpness=sharpness,
        burst=burst_place(db, pid),
    )


@dataclass(frozen=True)
class FrameFacts:
    """What is said under one frame of a compare or survey."""

    photo_id: int
    name: str  # the original's file name
    decision: str
    rating: int
    sharpness: float | None  # Photo.sharpness: higher is sharper; None: not measured yet
    sharpness_rank: int | None  # 1 = the sharpest of the frames measured; None: not measured
    frames: int  # how many frames it is ranked among
    relative_sharpness: float | None  # its sharpness over the sharpest frame's (0-1)


def frame_facts(
    db: SqliteDatabase, photo_ids: Sequence[int], seen: SeenDecisions | None = None
) -> list[FrameFacts]:
    """The facts under each of ``photo_ids`` (a burst, in its order), its sharpness ranked
    among them, its decision the one ``seen`` shows (without it: the photo's own); a photo
    gone from the catalogue is left out."""
    among, ids = dialect.one_of(db, "p.id", photo_ids)
    rows = {
        row[0]: row
        for row in db.execute_sql(
            "SELECT p.id, f.rel_path, p.decision, p.rating, p.sharpness FROM photo p"
            f" LEFT JOIN file f ON f.id = {FIRST_ORIGINAL_SQL} WHERE {among}",
            (ids,),
        )
    }
    sharpness_of = {photo_id: rows[photo_id][4] for photo_id in photo_ids if photo_id in rows}
    ranks = sharpness_ranks(sharpness_of)  # the bursts' own rule: equal scores share a rank
    measured = [value for value in sharpness_of.values() if value is not None]
    sharpest = max(measured) if measured else None
    facts = []
    for photo_id in photo_ids:
        row = rows.get(photo_id)
        if row is None:
            continue
        _, rel_path, decision, rating, sharpness = row
        rank, relative = ranks[photo_id], None
        if sharpness is not None:
            relative = sharpness / sharpest if sharpest and sharpest > 0 else 1.0
        name = os.path.basename(rel_path) if rel_path else f"photo {photo_id}"
        if seen is not None:
            decision = seen.decision(photo_id, decision)
        facts.append(FrameFacts(photo_id, name, decision, rating, sharpness, rank,
                                len(sharpness_of), relative))  # fmt: skip
    return facts


def newest_decision(db: SqliteDatabase) -> int:
    """The id of the newest Decision row (0: none): where following the log starts."""
    return db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM decision").fetchone()[0]


def decisions_since(db: SqliteDatabase, after_id: int, session: str) -> tuple[int, set[int]]:
    """(the newest Decision id, the photos other sessions than ``session`` decided about after
    ``after_id``): the cards to show anew. Cheap when nothing changed (the primary key's end)."""
    rows = db.execute_sql(
        "SELECT id, photo_id, session FROM decision WHERE id > ? ORDER BY id", (after_id,)
    ).fetchall()
    if not rows:
        return after_id, set()
    return rows[-1][0], {photo_id for _, photo_id, who in rows if who != session}


def camera_name(make: str | None, model: str | None) -> str | None:
    """The body as a person names it: "Canon EOS 5D", "NIKON D750"."""
    if model and make and model.lower().startswith(make.split()[0].lower()):
        return model  # "Canon Canon EOS 5D" reads better as "Canon EOS 5D"
    return " ".join(part for part in (make, model) if part) or None


def _darktable_state(db: SqliteDatabase, path: str) -> DarktableState | None:
    folder, name = os.path.split(path)
    rows = db.execute_sql(
        "SELECT altered, exported_at, stars, rejected FROM darktable_image"
        " WHERE film_roll_folder = ? AND filename = ? ORDER BY version",
        (folder, name),
    ).fetchall()
    if not rows:
        followed = db.execute_sql("SELECT 1 FROM darktable_image LIMIT 1").fetchone()
        return DarktableState(imported=False) if followed else None
    altered, exported_at, stars, rejected = rows[0]
    return DarktableState(
        imported=True,
        edited=bool(altered),
        exported=bool(exported_at),
        stars=stars,
        rejected=bool(rejected),
        versions=len(rows),
    )
