"""The media workers are handed the next batch as soon as one comes back, not at the engine's
next tick: a pool fed only at ticks sat idle most of the time (the engine ticks every 0.2 s,
and a batch is about 30 ms of a worker's time), and was slower than one process."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.media.photos import BATCH, PREVIEW_BATCH, MediaSync
from core.media.pool import MediaPool
from core.store.models import FileRecord, Photo
from tests.helpers import scan

SAMPLES = Path(__file__).parents[1] / "fixtures" / "camera"
WITH_PREVIEW = (
    "kodak_dc240_1999.jpg",
    "samsung_galaxy_s_orient6_gps.jpg",
    "gopro_hero4_lightroom.jpg",
)
UNREADABLE = "bad_html_named.JPG"


def fill(library: Path, count: int, folders: int) -> None:
    """``count`` photos (copies of samples with a preview) and one HTML page named .JPG in
    ``folders`` folders."""
    for folder in range(folders):
        (library / f"shoot-{folder:02d}").mkdir()
    for number in range(count):
        sample = SAMPLES / WITH_PREVIEW[number % len(WITH_PREVIEW)]
        folder = library / f"shoot-{number % folders:02d}"
        # Content of its own, so each copy is a photo of its own (the same blake3 is one).
        data = sample.read_bytes() + number.to_bytes(4, "big")
        (folder / f"IMG_{number:05d}.JPG").write_bytes(data)
    (library / "shoot-00" / "IMG_HTML.JPG").write_bytes((SAMPLES / UNREADABLE).read_bytes())


def run_without_ticks(sync: MediaSync) -> None:
    """One tick, then only what the workers send back, as the engine's writer runs it between
    ticks; no second tick, so whatever more the workers get comes from the finished batches."""
    finished: queue.Queue = queue.Queue()
    sync.deliver = finished.put
    sync.tick()
    while sync.busy:
        finished.get(timeout=60)()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    "batches_per_slot", [1, 3], ids=["just over the slots", "three times the slots"]
)
def test_every_file_is_described_from_one_tick(
    catalogue, library, tmp_path, workers, batches_per_slot
) -> None:
    count = workers * 2 * BATCH * batches_per_slot + 1  # more than the slots of one tick
    fill(library, count, folders=3)
    scan(catalogue, library, workers=1)
    # The files as the workers get them: the scan describes what it hashes, and those are
    # grouped without a worker, a few batches a turn; these are to be read.
    catalogue.db.execute_sql("UPDATE file SET description = NULL")
    pool = MediaPool(workers)
    try:
        sync = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), pool)
        sync.follow_file_events()
        sync.previews = False
        run_without_ticks(sync)
    finally:
        pool.close()
    assert sync.counts.described == count + 1
    undescribed = FileRecord.select().where(FileRecord.format.is_null()).count()
    assert undescribed == 0
    html = FileRecord.get(FileRecord.rel_path.endswith("IMG_HTML.JPG"))
    assert html.format == "html" and html.error  # a reason, not a description


@pytest.mark.parametrize("workers", [1, 2])
def test_every_preview_is_built_from_one_tick(catalogue, library, tmp_path, workers) -> None:
    count = workers * 2 * PREVIEW_BATCH * 2 + 1
    fill(library, count, folders=2)
    scan(catalogue, library, workers=1)
    settings = MediaSettings(preview_cache=tmp_path / "previews")
    pool = MediaPool(workers)
    try:
        sync = MediaSync(catalogue.db, settings, pool)
        sync.follow_file_events()
        sync.previews = False
        run_without_ticks(sync)  # described first
        sync.previews = True
        run_without_ticks(sync)
    finally:
        pool.close()
    photos = Photo.select().count()
    assert photos == count
    assert Photo.select().where(Photo.preview_at.is_null()).count() == 0
    assert os.listdir(tmp_path / "previews")
