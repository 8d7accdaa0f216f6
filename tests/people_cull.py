"""One person culling a shoot, as a process of its own: ``python3 -m tests.people_cull
CATALOGUE NAME SEED COUNT PAUSE GO`` opens the catalogue, says it is ready (the file GO.NAME),
waits for the word on the named pipe GO (opening it for reading blocks until the test opens it
for writing: several are let go at the same instant), then makes COUNT steps of the plan SEED
gives (decisions, and now and then an undo) on the catalogue's photos as NAME, pausing up to
PAUSE seconds between steps."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

UNDO_EVERY = 7  # every seventh step takes back the person's newest decision


def plan(seed: int, count: int, photo_ids: list[int]) -> list[tuple[int, str] | None]:
    """The steps: (photo id, decision), or None for an undo."""
    rnd = random.Random(seed)
    return [
        None if step % UNDO_EVERY == UNDO_EVERY - 1
        else (rnd.choice(photo_ids), rnd.choice(("approved", "rejected")))
        for step in range(count)
    ]  # fmt: skip


def standing_after(steps: list[tuple[int, str] | None]) -> dict[int, str]:
    """What the person's standing decision on each photo is after ``steps``: undo takes back
    their own newest decision not yet taken back, whatever anyone else did."""
    made: list[tuple[int, str]] = []
    for step in steps:
        if step is None:
            if made:
                made.pop()
        else:
            made.append(step)
    return dict(made)


def main(argv: list[str]) -> int:
    from core.store import open_catalogue
    from core.store.models import Photo
    from core.triage.decisions import Triage

    location, name, seed, count, pause, go = argv
    with open_catalogue(location) as catalogue:
        photo_ids = [photo.id for photo in Photo.select(Photo.id).order_by(Photo.id)]
        steps = plan(int(seed), int(count), photo_ids)
        triage = Triage(catalogue.db, "cli", person=name)
        rnd = random.Random(seed)
        Path(f"{go}.{name}").touch()
        with open(go) as word:
            word.read()
        for step in steps:
            if step is None:
                triage.undo()
            else:
                triage.decide(*step)
            if float(pause):
                time.sleep(rnd.uniform(0, float(pause)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
