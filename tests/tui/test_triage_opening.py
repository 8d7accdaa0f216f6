"""The app opens on the part of the queue around its photo and reads the whole queue after it
(the triage pane; the part itself: tests/core/test_queue_opening.py): with tens of thousands
of photos in a real catalogue, the photo on screen stays where it is when the whole queue
comes, and keys pressed at any moment of the reading (held, then pressed again in their order)
do what they do on the whole queue; the position and the counts are the whole queue's once it
is there."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from core.store.photos import decision_counts
from core.triage.queue import Queue, save_position
from tests.tui.conftest import Library
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio
SIZE = (120, 36)
MANY = 20_000  # photos added to the library's, well over OPENING_FROM_PHOTOS


def add_photos(library: Library, count: int) -> None:
    """``count`` photo rows (each with an original's file row) taken a second apart after the
    library's own, every third one a rejected."""
    db = library.catalogue.db
    root_id = db.execute_sql("SELECT id FROM root").fetchone()[0]
    start = db.execute_sql("SELECT max(capture_time) FROM photo").fetchone()[0] + 3600
    rows = [
        (f"many{n}", start + n, None, "rejected" if n % 3 == 0 else "pending") for n in range(count)
    ]
    with db.atomic():
        db.execute_sql("CREATE TEMP TABLE added (blake3, taken, offset, decision)")
        for first in range(0, len(rows), 200):
            part = rows[first : first + 200]
            db.execute_sql(
                "INSERT INTO added VALUES " + ",".join(["(?, ?, ?, ?)"] * len(part)),
                [value for row in part for value in row],
            )
        db.execute_sql(
            "INSERT INTO photo (blake3, capture_time, capture_offset, decision, rating, labels,"
            " created_at, metadata_at) SELECT blake3, taken, offset, decision, 0, 0, 1, 1"
            " FROM added"
        )
        db.execute_sql(
            "INSERT INTO file (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen,"
            " scan_generation, kind, photo_id, role, format) SELECT ?, 'many/' || p.blake3 ||"
            " '.JPG', 1, 1, p.blake3, 1, 1, 0, 'jpeg', p.id, 'original', 'jpeg' FROM photo p"
            " JOIN added a ON a.blake3 = p.blake3",
            (root_id,),
        )
        db.execute_sql("DROP TABLE added")


def test_a_small_catalogue_reads_the_whole_queue_at_once(library: Library):
    part = Queue.opening(library.catalogue.db, "pending", None, 3)
    assert part.whole
    assert part.photo_ids == Queue(library.catalogue.db, "pending").photo_ids


async def wait_until(pilot, condition, what: str, seconds: float = 60.0) -> None:
    """Up to a generous deadline: the machine may be loaded (no time is asserted)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what}")
        await pilot.pause(0.01)


def position_line(pane: TriagePane) -> str:
    return str(pane.query_one("#position").render())


async def test_the_photo_stays_when_the_whole_queue_comes(library: Library):
    """Opened on a photo in the middle of 20,000: the same photo once the queue is whole,
    at its place in it, with the whole set's counts."""
    add_photos(library, MANY)
    db = library.catalogue.db
    ids = Queue(db, "pending").photo_ids
    middle = ids[len(ids) // 2]
    save_position(db, "pending", middle)
    app = ShootwatchApp(library.settings, library.catalogue, engine="off")
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TriagePane)
        assert pane.photo_id == middle
        assert pane.reading_queue and len(pane.queue.photo_ids) < len(ids)
        assert "reading the whole queue" in position_line(pane)
        await wait_until(pilot, lambda: not pane.reading_queue, "read the whole queue")
        assert pane.photo_id == middle
        assert pane.queue.photo_ids == ids
        counts = decision_counts(db, "TRUE")
        expected = (
            f"{len(ids) // 2 + 1:,} / {len(ids):,} — {counts['approved']:,} approved,"
            f" {counts['rejected']:,} rejected, {counts['pending']:,} pending of"
            f" {sum(counts.values()):,}"
        )
        assert expected in position_line(pane)


# Keys, where they leave the photographer and what they decide (approved, rejected), as
# positions in the whole queue from the one it opened on ("around") or from its ends.
SEQUENCES = {
    # next, next, approve (and on), back, next, reject (and on), back, back
    "around": (("space", "space", "a", "backspace", "right", "x", "left", "left"), 2, 2, 3),
    # to the last photo and back one, approve (on to the last), to the first and one on
    "ends": (("end", "backspace", "a", "home", "space"), "1", "-2", None),
}


def place(spec: int | str, start: int, count: int) -> int:
    """A position of SEQUENCES: an int counts from the photo opened on, a str from the
    queue's start (or, negative, its end)."""
    if isinstance(spec, str):
        return int(spec) % count
    return start + spec


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
@pytest.mark.parametrize("wait", [0.0, 0.02, 0.1, 0.4, 1.5])
@pytest.mark.parametrize("opened_at", ["first", "middle"])
async def test_keys_pressed_while_the_queue_is_read(
    library: Library, wait: float, opened_at: str, sequence: str
):
    """Keys pressed at several moments of the reading (at once, a few frames in, around the
    first photo drawn, after the whole queue) move and decide exactly as on the whole queue,
    near the photo opened on and at the queue's ends (which the part does not hold)."""
    add_photos(library, MANY)
    db = library.catalogue.db
    ids = Queue(db, "pending").photo_ids
    start = 0 if opened_at == "first" else len(ids) // 2
    save_position(db, "pending", ids[start])
    counts = decision_counts(db, "TRUE")
    keys, ends, approve, reject = SEQUENCES[sequence]
    ends_at = place(ends, start, len(ids))
    expected_decisions = {ids[place(approve, start, len(ids))]: "approved"}
    if reject is not None:
        expected_decisions[ids[place(reject, start, len(ids))]] = "rejected"
    app = ShootwatchApp(library.settings, library.catalogue, engine="off")
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TriagePane)
        await asyncio.sleep(wait)
        held = pane.reading_queue
        for key in keys:
            await pilot.press(key)
        if wait == 0.0:
            assert held  # the keys were pressed while the queue was read
        await wait_until(pilot, lambda: not pane.reading_queue, "read the whole queue")
        await wait_until(pilot, lambda: pane.photo_id == ids[ends_at], "came to the photo")
        await pilot.pause(0.1)
        assert pane.photo_id == ids[ends_at]
        assert pane.index == ends_at
        decided = {
            photo_id: json.loads(after)
            for photo_id, after in db.execute_sql(
                "SELECT photo_id, after FROM decision WHERE action = 'decision'"
            )
        }
        assert decided == expected_decisions
        approved = sum(1 for made in expected_decisions.values() if made == "approved")
        rejected = len(expected_decisions) - approved
        expected = (
            f"{ends_at + 1:,} / {len(ids):,} — {counts['approved'] + approved:,} approved,"
            f" {counts['rejected'] + rejected:,} rejected,"
            f" {counts['pending'] - len(expected_decisions):,} pending of"
            f" {sum(counts.values()):,}"
        )
        assert expected in position_line(pane)
