"""``shootwatch bursts [PATH]``: the bursts of a shoot (or of one photo), each with its photos
in the order they were shot, their sharpness and its rank, their decisions, and the pick."""

from __future__ import annotations

import os
import time
from typing import TextIO

from core.cli import output
from core.cli.invocation import EXIT_OK, Invocation, UsageError
from core.cli.triage import photo_of
from core.darktable.facts import label_names
from core.store import queries
from core.store.photos import photos_without_hash
from core.store.writing import run_transaction
from core.triage.bursts import (
    Burst,
    BurstPlace,
    BurstRules,
    burst_place,
    bursts_in,
    rank_words,
    regroup_all,
)
from core.triage.card import camera_name


def bursts(run: Invocation) -> int:
    db = run.catalogue.db
    if run.args.regroup:
        rules = BurstRules.of(run.settings)
        changed = run_transaction(db, lambda: regroup_all(db, rules))
        if not run.args.json:
            run.out.write(f"grouped again: {output.count(len(changed))} photos changed burst\n")
    folder, burst_ids = None, None
    if run.args.path is not None:
        path = os.path.realpath(os.path.expanduser(run.args.path))
        if os.path.isdir(path):
            if queries.root_for_path(path) is None:
                raise UsageError(f"{run.args.path} is not inside a root: add it first with "
                                 "'shootwatch add PATH'")  # fmt: skip
            folder = path
        else:
            place = burst_place(db, photo_of(run.args.path))
            burst_ids = [place.burst_id] if place is not None else []
    found = bursts_in(db, folder, burst_ids) if burst_ids != [] else []
    waiting = photos_without_hash(db, folder) if burst_ids is None else 0
    if run.args.json:
        output.print_json(
            {"bursts": [burst_dict(burst) for burst in found], "photos_not_measured": waiting},
            run.out,
        )
        return EXIT_OK
    _write(found, waiting, run)
    return EXIT_OK


def burst_dict(burst: Burst) -> dict:
    return {
        "id": burst.burst_id,
        "size": burst.size,
        "camera": _camera(burst),
        "taken": _taken(burst.members[0].wall),
        "leader": {"id": burst.leader.photo_id, "path": burst.leader.path},
        "photos": [
            {
                "id": member.photo_id,
                "path": member.path,
                "position": member.position,
                "taken": _taken(member.wall),
                "decision": member.decision,
                "rating": member.rating,
                "labels": label_names(member.labels),
                "sharpness": member.sharpness,
                "rank": member.rank,
                "leader": member.leader,
                "soft": member.soft,
            }
            for member in burst.members
        ],
    }


def place_dict(place: BurstPlace | None) -> dict | None:
    """A photo's burst as ``show --json`` gives it: {id, position, size, rank, leader}."""
    return place.as_dict() if place is not None else None


def _write(found: list[Burst], waiting: int, run: Invocation) -> None:
    out: TextIO = run.out
    for burst in found:
        out.write(
            f"burst {burst.burst_id}: {burst.size} photos, {_taken(burst.members[0].wall)}, "
            f"{output.shown(_camera(burst))}; pick "
            f"{output.shown(os.path.basename(burst.leader.path))}\n"
        )
        rows = [
            (
                "*" if member.leader else "",
                f"{member.position}/{burst.size}",
                member.path,
                member.decision,
                "★" * member.rating or "-",
                "-" if member.sharpness is None else f"{member.sharpness:.4g}",
                (rank_words(member.rank, burst.size) or "not measured")
                + (" (soft)" if member.soft else ""),
            )
            for member in burst.members
        ]
        output.table(rows, ("", "#", "PHOTO", "DECISION", "STARS", "SHARPNESS", "RANK"), out)
        out.write("\n")
    if not found:
        out.write("no bursts\n")
    if waiting:
        out.write(
            f"{output.count(waiting)} photos not measured yet (no perceptual hash): they join "
            "their bursts once the engine has looked at them\n"
        )
    elif found:
        bursts_said = "1 burst" if len(found) == 1 else f"{len(found)} bursts"
        out.write(f"{bursts_said}, {sum(b.size for b in found)} photos\n")


def _camera(burst: Burst) -> str:
    return camera_name(burst.camera_make, burst.camera_model) or "camera unknown"


def _taken(wall: float | None) -> str | None:
    """The camera's wall clock to the hundredth: a burst's frames are fractions apart."""
    if wall is None:
        return None
    seconds, hundredths = divmod(round(wall * 100), 100)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(seconds))}.{hundredths:02d}"
