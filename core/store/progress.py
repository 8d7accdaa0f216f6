"""Named queries for edit progress and the darktable reports: per shoot (a film roll folder),
how far the edit has got; what is left unfinished; what was exported; edits per hour."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from core.store.dialect import NO_LIMIT, json_value
from core.store.events import EventKind
from core.store.models import DarktableImage
from core.store.queries import RootIndex

IMAGE_KINDS = ("raw", "jpeg", "heif")
SESSION_GAP_SECONDS = 30 * 60  # edits further apart than this belong to different sessions
MIN_SESSION_SECONDS = 5 * 60  # a rate over less than this would be a spike, not a pace


@dataclass(frozen=True)
class ShootProgress:
    folder: str
    files: int | None  # image files on disk there (None: the folder is in no root)
    in_darktable: int  # of those files, the ones darktable has (its files, when not in a root)
    not_imported: int | None  # files on disk darktable does not have
    missing_files: int | None  # darktable's files that are not on disk (orphaned images)
    images: int  # darktable images, duplicates included; the counts below are of these
    edited: int
    to_edit: int  # neither edited nor rejected: what is left to edit
    rated: int  # darktable's own count: one star or more, rejects left out (its "1 star or better")
    rated_by_hand: int  # of those, stars other than the import default or seen changing
    rejected: int
    exported: int
    to_export: int  # edited, never exported
    changed_after_export: int
    edits_per_hour: float | None  # in the current session, when there is one
    last_edit_at: float | None

    @property
    def name(self) -> str:
        return os.path.basename(self.folder) or self.folder

    @property
    def eta_seconds(self) -> float | None:
        """How long what is left to edit takes at the pace of the current session."""
        if not self.edits_per_hour or not self.to_edit:
            return None
        return self.to_edit / self.edits_per_hour * 3600

    @classmethod
    def not_in_darktable(cls, folder: str, files: int) -> ShootProgress:
        """A folder of photos darktable has none of."""
        counts = dict.fromkeys(
            ("images", "edited", "to_edit", "rated", "rated_by_hand", "rejected", "exported",
             "to_export", "changed_after_export"), 0
        )  # fmt: skip
        return cls(folder, files, 0, files, 0, **counts, edits_per_hour=None, last_edit_at=None)

    def as_dict(self) -> dict:
        return {"shoot": self.name, **self.__dict__, "eta_seconds": self.eta_seconds}


def _db():
    return DarktableImage._meta.database


def _count(condition: str) -> str:
    """SQL counting the rows where ``condition`` holds (a sum of booleans is SQLite's only)."""
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _image_files_by_folder(roots: RootIndex) -> dict[str, set[str]]:
    """The names of the image files on disk per absolute folder, from the catalogue."""
    names: dict[str, set[str]] = {}
    rows = _db().execute_sql(
        f"SELECT root_id, rel_path FROM file WHERE kind IN ({', '.join('?' * len(IMAGE_KINDS))})",
        IMAGE_KINDS,
    )
    for root_id, rel_path in rows:
        folder, name = os.path.split(os.path.join(roots.paths[root_id], rel_path))
        names.setdefault(folder, set()).add(name)
    return names


def edit_times() -> list[tuple[float, int]]:
    """(time, darktable id) of every edit event, oldest first."""
    image_id = json_value(_db(), "payload", "darktable_id", "BIGINT")
    rows = _db().execute_sql(
        f"SELECT at, {image_id} FROM event WHERE kind = ? AND source = 'darktable' ORDER BY at",
        (EventKind.EDITED,),
    )
    return [(at, image_id) for at, image_id in rows if image_id is not None]


def session_pace(times: list[float], now: float | None = None) -> tuple[float | None, int]:
    """(edits per hour, edits) of the session going on now: the run of edits without a pause
    longer than SESSION_GAP_SECONDS that reaches the present. (None, 0) when there is none."""
    now = time.time() if now is None else now
    if not times or now - times[-1] > SESSION_GAP_SECONDS:
        return None, 0
    start = len(times) - 1
    while start > 0 and times[start] - times[start - 1] <= SESSION_GAP_SECONDS:
        start -= 1
    edits = len(times) - start
    span = max(now - times[start], MIN_SESSION_SECONDS)
    return edits * 3600 / span, edits


def _edit_times_by_folder() -> dict[str, list[float]]:
    """Per film roll folder, the times of its edits, oldest first: the edits shootwatch saw
    happen and darktable's own last change time of every edited image (so a library only just
    followed has a pace too), each edit once."""
    folder_of = dict(
        _db().execute_sql("SELECT darktable_id, film_roll_folder FROM darktable_image").fetchall()
    )
    seen: dict[str, set[tuple[int, float]]] = {}
    image_id = json_value(_db(), "payload", "darktable_id", "BIGINT")
    changed_at = json_value(_db(), "payload", "changed_at", "DOUBLE PRECISION")
    rows = _db().execute_sql(
        f"SELECT {image_id}, coalesce({changed_at}, at) FROM event"
        " WHERE kind = ? AND source = 'darktable'",
        (EventKind.EDITED,),
    )
    for image_id, at in rows:
        folder = folder_of.get(image_id)
        if folder is not None:
            seen.setdefault(folder, set()).add((image_id, round(at, 3)))
    rows = _db().execute_sql(
        "SELECT darktable_id, film_roll_folder, changed_at FROM darktable_image"
        " WHERE altered AND changed_at IS NOT NULL"
    )
    for image_id, folder, at in rows:
        seen.setdefault(folder, set()).add((image_id, round(at, 3)))
    return {folder: sorted(at for _, at in edits) for folder, edits in seen.items()}


def shoot_progress(now: float | None = None) -> list[ShootProgress]:
    """Every film roll folder darktable has, and every catalogued folder of photos that is not
    an export folder below one, newest activity first."""
    rows = (
        _db()
        .execute_sql(
            f"SELECT film_roll_folder, count(*), {_count('altered')},"
            f" {_count('NOT altered AND NOT rejected')},"
            f" {_count('stars >= 1 AND NOT rejected')},"
            f" {_count('stars >= 1 AND rated_by_hand AND NOT rejected')},"
            f" {_count('rejected')}, {_count('exported_at IS NOT NULL')},"
            f" {_count('altered AND exported_at IS NULL')}, {_count('changed_at > exported_at')}"
            " FROM darktable_image GROUP BY film_roll_folder"
        )
        .fetchall()
    )
    darktable_files: dict[str, set[str]] = {}
    for folder, filename in _db().execute_sql(
        "SELECT film_roll_folder, filename FROM darktable_image"
    ):
        darktable_files.setdefault(folder, set()).add(filename)
    roots = RootIndex().refresh()
    files = _image_files_by_folder(roots)
    edits_by_folder = _edit_times_by_folder()
    shoots = []
    film_rolls = set()
    for (folder, images, edited, to_edit, rated, by_hand, rejected, exported, to_export,
         after) in rows:  # fmt: skip
        film_rolls.add(folder)
        times = edits_by_folder.get(folder, [])
        pace, _ = session_pace(times, now)
        known = darktable_files.get(folder, set())
        if roots.locate(folder + "/")[0] is not None:
            on_disk = files.get(folder, set())
            counts = (
                len(on_disk),
                len(on_disk & known),
                len(on_disk - known),
                len(known - on_disk),
            )
        else:  # not in a root: what is on disk is not known
            counts = (None, len(known), None, None)
        shoots.append(
            ShootProgress(
                folder,
                *counts,
                images=images,
                edited=edited or 0,
                to_edit=to_edit or 0,
                rated=rated or 0,
                rated_by_hand=by_hand or 0,
                rejected=rejected or 0,
                exported=exported or 0,
                to_export=to_export or 0,
                changed_after_export=after or 0,
                edits_per_hour=pace,
                last_edit_at=times[-1] if times else None,
            )
        )
    for folder, names in files.items():
        # A folder below a film roll holds its exports (darktable_exported/ by default).
        if folder in film_rolls or os.path.dirname(folder) in film_rolls:
            continue
        shoots.append(ShootProgress.not_in_darktable(folder, len(names)))
    shoots.sort(key=lambda s: (-(s.last_edit_at or 0), s.folder))
    return shoots


def recent_edits(limit: int) -> list[dict]:
    """The newest edits: the images darktable changed last, by darktable's own change time (so
    a library shootwatch has only just started following has them too), and the edits seen of
    images darktable no longer has; newest first."""
    edits = [
        {
            "at": change["at"],
            "darktable_id": change["darktable_id"],
            "path": change["path"],
            "version": change["version"],
            "altered": change["edited_now"],
            "stars": change["stars"],
            "rejected": change["rejected"],
            "edited_now": change["edited_now"],
            "exported_at": change["exported_at"],
        }
        for change in latest_changes(limit)
    ]
    gone = (
        _db()
        .execute_sql(
            "SELECT at, payload FROM event WHERE kind = ? AND source = 'darktable'"
            f" AND {json_value(_db(), 'payload', 'darktable_id', 'BIGINT')} NOT IN"
            "  (SELECT darktable_id FROM darktable_image)"
            " ORDER BY id DESC LIMIT ?",
            (EventKind.EDITED, limit),
        )
        .fetchall()
    )
    for at, payload in gone:
        data = json.loads(payload or "{}")
        edits.append(
            {
                "at": data.get("changed_at") or at,
                "darktable_id": data.get("darktable_id"),
                "path": None,  # no longer in darktable
                "version": data.get("version"),
                "altered": bool(data.get("altered")),
                "stars": data.get("stars"),
                "rejected": bool(data.get("rejected")),
                "edited_now": False,
                "exported_at": None,
            }
        )
    edits.sort(key=lambda edit: (-edit["at"], edit["darktable_id"] or 0))
    return edits[:limit]


def _image_dicts(where: str, params: tuple, order: str, limit: int = NO_LIMIT) -> list[dict]:
    rows = (
        _db()
        .execute_sql(
            "SELECT darktable_id, film_roll_folder, filename, version, stars, rejected, labels,"
            f" altered, changed_at, exported_at, rated_by_hand FROM darktable_image WHERE {where}"
            f" ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        .fetchall()
    )
    return [
        {
            "darktable_id": image_id,
            "path": os.path.join(folder, filename),
            "shoot": os.path.basename(folder),
            "version": version,
            "stars": stars,
            "rejected": bool(rejected),
            "labels": labels,
            "edited": bool(altered),
            "changed_at": changed_at,
            "exported_at": exported_at,
            "rated_by_hand": bool(by_hand),
        }
        for (image_id, folder, filename, version, stars, rejected, labels, altered, changed_at,
             exported_at, by_hand) in rows
    ]  # fmt: skip


def unfinished(min_stars: int = 1) -> list[dict]:
    """Not rejected, and either edited but not exported since the last change, or rated
    ``min_stars`` or more (darktable's stars, the import default star too) and not edited yet."""
    return _image_dicts(
        "NOT rejected AND ("
        " (altered AND (exported_at IS NULL OR changed_at > exported_at))"
        " OR (NOT altered AND stars >= ?))",
        (max(min_stars, 1),),
        "film_roll_folder, filename, version",
    )


def edited_not_exported(limit: int) -> list[dict]:
    """Edited, not rejected, and not exported since the last change: the newest change first."""
    return _image_dicts(
        "altered AND NOT rejected AND (exported_at IS NULL OR changed_at > exported_at)",
        (),
        "changed_at DESC, darktable_id",
        limit,
    )


def left_to_edit(limit: int) -> list[dict]:
    """Neither edited nor rejected, the best rated first (darktable's stars)."""
    return _image_dicts(
        "NOT altered AND NOT rejected", (), "stars DESC, film_roll_folder, filename, version", limit
    )


def exported_since(since: float) -> list[dict]:
    return _image_dicts("exported_at >= ?", (since,), "exported_at DESC")


def velocity(since: float, bucket_seconds: int = 3600) -> list[tuple[float, int]]:
    """(bucket start, edits) per hour since ``since``, empty hours included."""
    times = [at for at, _ in edit_times() if at >= since]
    if not times:
        return []
    first = int(since // bucket_seconds) * bucket_seconds
    last = int(time.time() // bucket_seconds) * bucket_seconds
    counts = dict.fromkeys(range(first, last + 1, bucket_seconds), 0)
    for at in times:
        counts[int(at // bucket_seconds) * bucket_seconds] += 1
    return sorted(counts.items())


def latest_changes(limit: int) -> list[dict]:
    """The images darktable changed last, by darktable's own change time (so a library
    shootwatch has only just started following has recent edits too)."""
    rows = (
        _db()
        .execute_sql(
            "SELECT changed_at, darktable_id, film_roll_folder, filename, version, stars,"
            " rejected, altered, exported_at FROM darktable_image WHERE changed_at IS NOT NULL"
            " ORDER BY changed_at DESC, darktable_id LIMIT ?",
            (limit,),
        )
        .fetchall()
    )
    return [
        {
            "at": at,
            "darktable_id": image_id,
            "path": os.path.join(folder, filename),
            "version": version,
            "stars": stars,
            "rejected": bool(rejected),
            "edited_now": bool(altered),
            "exported_at": exported_at,
        }
        for at, image_id, folder, filename, version, stars, rejected, altered, exported_at in rows
    ]
