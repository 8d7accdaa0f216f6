"""The part of the triage queue the app opens on (``Queue.opening``), on both back ends: read
through the capture time's index, it is a run of the whole queue in its order, around the
photo the app stands on, whatever the cameras' UTC offsets and however many photos have no
capture time."""

from __future__ import annotations

import pytest

from core.store import queries
from core.store.models import FileRecord, Photo
from core.triage.queue import OPENING_FROM_PHOTOS, Queue

pytestmark = pytest.mark.both_backends


def add_photos(db, count: int, untimed: int) -> None:
    """``count`` photos a minute apart, every fifth with a UTC offset of up to five hours,
    every third rejected, and ``untimed`` more without a capture time; an original each."""
    root, _ = queries.add_root("/photos")
    photos = []
    for n in range(count + untimed):
        photos.append({
            "blake3": f"photo{n}",
            "capture_time": 1_700_000_000.0 + 60 * n if n < count else None,
            "capture_offset": f"{'+-'[n % 2]}0{n % 6}:00" if n < count and n % 5 == 0 else None,
            "decision": "rejected" if n % 3 == 0 else "pending",
            "created_at": 1.0,
        })  # fmt: skip
    with db.atomic():
        for first in range(0, len(photos), 500):
            Photo.insert_many(photos[first : first + 500]).execute()
        ids = [photo_id for (photo_id,) in db.execute_sql("SELECT id FROM photo ORDER BY id")]
        files = [
            {"root": root.id, "rel_path": f"shoot/IMG_{n:05d}.JPG", "size": 1, "mtime_ns": 1,
             "last_seen": 1.0, "kind": "jpeg", "photo": photo_id, "role": "original",
             "format": "jpeg"}
            for n, photo_id in enumerate(ids)
        ]  # fmt: skip
        for first in range(0, len(files), 500):
            FileRecord.insert_many(files[first : first + 500]).execute()


def test_the_part_is_a_run_of_the_whole_queue(catalogue):
    db = catalogue.db
    add_photos(db, OPENING_FROM_PHOTOS + 1_000, untimed=20)
    rejected = db.execute_sql("SELECT id FROM photo WHERE decision = 'rejected'").fetchall()
    for filter_text in ("pending", "all"):
        whole = Queue(db, filter_text)
        ids = whole.photo_ids
        anchors = [None, ids[0], ids[len(ids) // 2], ids[-30], ids[-1], rejected[700][0]]
        for anchor in anchors:
            for reach in (1, 3, 40):
                part = Queue.opening(db, filter_text, anchor, reach)
                shown = part.photo_ids[part.index_near(anchor)]
                assert shown == ids[whole.index_near(anchor)], (filter_text, anchor, reach)
                start = ids.index(part.photo_ids[0])
                assert ids[start : start + len(part.photo_ids)] == part.photo_ids
                here = part.photo_ids.index(shown)
                end = start + len(part.photo_ids)
                assert here >= reach or start == 0
                assert len(part.photo_ids) - here > reach or end == len(ids)
                assert part.whole == (len(part.photo_ids) == len(ids))
                if anchor == ids[len(ids) // 2]:
                    assert not part.whole  # read through the index, not whole
