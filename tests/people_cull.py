"""One person culling a shoot, as a process of its own: ``python3 -m tests.people_cull
CATALOGUE NAME SEED COUNT PAUSE GO`` opens the catalogue and the named pipe GO (the test holds
it open for writing already, so this does not block), says it is ready (the file GO.NAME), reads
the pipe until the test closes its end (every reader sees the end at the same instant: several
are let go at once), then makes COUNT steps of the plan SEED gives (decisions, and now and then
an undo) on the catalogue's photos as NAME, pausing up to PAUSE seconds between steps.

The pipe is opened before saying ready, not after: a person who said ready but had not opened
it yet when the test opened and closed its end would wait for a writer that never comes."""

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
        with open(go) as word:
            Path(f"{go}.{name}").touch()
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
