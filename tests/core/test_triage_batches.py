"""Decisions for several photos at once (a multi-select, "keep this one, reject the rest of the
burst"): one transaction, one batch in the log, and one undo that gives every photo back exactly
what it had, its sidecar too, while a photo another session changed since is left alone.

Real JPEGs from darktable 4.2's wedding fixture, with darktable's own sidecars, in a real
catalogue filled by a real scan and the media workers; the command line as whole processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.media.photos import MediaSync
from core.store.models import Decision, FileRecord, Photo
from core.triage.decisions import Triage
from tests.helpers import scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

WEDDING = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos" / "2024-06-01_wedding"
RED = 1


def _shoot(catalogue, tmp_path: Path, count: int, sidecars: bool = False) -> list[int]:
    """``count`` photos (copies of the wedding's JPEGs, each made unique), with darktable's
    own sidecar beside each when asked; photo ids in shot order."""
    library = tmp_path / "library"
    library.mkdir()
    sources = sorted(WEDDING.glob("*.JPG"))
    for n in range(count):
        source = sources[n % len(sources)]
        target = library / f"IMG_{n:04d}.JPG"
        target.write_bytes(source.read_bytes() + n.to_bytes(4, "big"))  # a blake3 of its own
        sidecar = source.with_name(source.name + ".xmp")
        if sidecars and sidecar.exists():
            shutil.copy(sidecar, library / f"IMG_{n:04d}.JPG.xmp")
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    return [
        record.photo_id
        for record in FileRecord.select()
        .where(FileRecord.role == "original")
        .order_by(FileRecord.rel_path)
    ]


def _states(photo_ids: list[int]) -> list[tuple[str, int, int]]:
    return [
        (photo.decision, photo.rating, photo.labels)
        for photo in (Photo.get_by_id(photo_id) for photo_id in photo_ids)
    ]


def _varied(triage: Triage, photo_ids: list[int]) -> None:
    """Photos that do not all start alike: some decided, some rated, some labelled."""
    for n, photo_id in enumerate(photo_ids):
        if n % 3 == 1:
            triage.decide(photo_id, "approved")
        if n % 4 == 2:
            triage.rate(photo_id, 1 + n % 5)
        if n % 5 == 3:
            triage.toggle_label(photo_id, RED)


@pytest.mark.parametrize("count", [2, 5, 40])
@pytest.mark.parametrize(
    "make",
    ["decide_many approved", "decide_many rejected", "rate_many 4", "label_many", "keep_one"],
)
def test_one_undo_gives_every_photo_of_a_batch_back_exactly(catalogue, tmp_path, count, make):
    photo_ids = _shoot(catalogue, tmp_path, count)
    triage = Triage(catalogue.db)
    _varied(triage, photo_ids)
    before = _states(photo_ids)
    name, _, value = make.partition(" ")
    if name == "decide_many":
        change = triage.decide_many(photo_ids, value)
    elif name == "rate_many":
        change = triage.rate_many(photo_ids, int(value))
    elif name == "label_many":
        change = triage.label_many(photo_ids, RED)
    else:
        change = triage.keep_one(photo_ids[1], photo_ids)
    made = _states(photo_ids)
    assert len(change.all) == count and made != before
    newest = Decision.select().order_by(Decision.id.desc()).limit(count)
    batches = {row.batch for row in newest}
    assert len(batches) == 1 and None not in batches  # one batch, the rows of this step only
    assert Decision.select().where(Decision.batch.in_(batches)).count() == count
    if name == "keep_one":
        assert [state[0] for state in made] == [
            "approved" if n == 1 else "rejected" for n in range(count)
        ]
    if name == "label_many":  # some had red: now every one has it
        assert all(labels & RED for _, _, labels in made)

    undone = triage.undo()
    assert len(undone.all) == count and not any(each.skipped for each in undone.all)
    # in the order they were made: the app goes to the first (the one kept, for keep_one)
    assert [each.photo_id for each in undone.all] == [each.photo_id for each in change.all]
    assert _states(photo_ids) == before
    redone = triage.redo()
    assert len(redone.all) == count and _states(photo_ids) == made
    triage.undo()
    assert _states(photo_ids) == before
    # The single decisions made before the batch are next, one undo each.
    assert len(triage.undo().all) == 1


def test_labels_for_several_come_off_every_one_when_all_have_them(catalogue, tmp_path):
    photo_ids = _shoot(catalogue, tmp_path, 3)
    triage = Triage(catalogue.db)
    triage.label_many(photo_ids, RED)
    assert [labels for _, _, labels in _states(photo_ids)] == [RED] * 3
    triage.label_many(photo_ids, RED)
    assert [labels for _, _, labels in _states(photo_ids)] == [0] * 3


def test_a_batch_undo_leaves_alone_a_photo_another_session_changed_since(catalogue, tmp_path):
    photo_ids = _shoot(catalogue, tmp_path, 4)
    mine, other = Triage(catalogue.db), Triage(catalogue.db, source="cli")
    mine.decide_many(photo_ids, "rejected")
    other.decide(photo_ids[2], "approved")  # someone else, after the batch
    undone = mine.undo()
    # Taken back in the log, the photo keeps the newer decision, and the undo says so.
    assert [each.photo_id for each in undone.all if each.kept_by] == [photo_ids[2]]
    assert [state[0] for state in _states(photo_ids)] == [
        "pending", "pending", "approved", "pending"
    ]  # fmt: skip


def test_a_decision_after_a_batch_is_undone_first(catalogue, tmp_path):
    photo_ids = _shoot(catalogue, tmp_path, 3)
    triage = Triage(catalogue.db)
    triage.decide_many(photo_ids, "rejected")
    triage.rate(photo_ids[0], 5)
    assert len(triage.undo().all) == 1 and _states(photo_ids)[0] == ("rejected", 0, 0)
    assert len(triage.undo().all) == 3 and _states(photo_ids) == [("pending", 0, 0)] * 3
    assert triage.undo() is None


def test_a_batch_writes_each_sidecar_and_one_undo_gives_each_back_byte_for_byte(
    catalogue, tmp_path
):
    photo_ids = _shoot(catalogue, tmp_path, 6, sidecars=True)
    library = tmp_path / "library"
    sidecars = sorted(library.glob("*.xmp"))
    assert len(sidecars) >= 3  # the wedding has sidecars for most of its photos
    originals = {path: path.read_bytes() for path in sidecars}
    triage = Triage(catalogue.db, write_sidecars=True)
    change = triage.keep_one(photo_ids[0], photo_ids)
    assert change.warning is None
    written = [path for path in sidecars if path.read_bytes() != originals[path]]
    assert len(written) == len(sidecars)
    triage.undo()
    assert {path: path.read_bytes() for path in sidecars} == originals
    # Photos without a sidecar before had one made for them; the undo took it away again.
    assert sorted(library.glob("*.xmp")) == sidecars


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--db", str(db), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip


def test_decide_several_keep_and_undo_as_commands(catalogue, tmp_path):
    photo_ids = _shoot(catalogue, tmp_path, 4)
    paths = [str(tmp_path / "library" / f"IMG_{n:04d}.JPG") for n in range(4)]
    catalogue.db.execute_sql(
        "UPDATE photo SET burst = ? WHERE id IN (?, ?, ?)", (photo_ids[0], *photo_ids[:3])
    )
    done = _cli(catalogue.location, "decide", *paths[:3], "--stars", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rating 0 -> 2") == 3
    kept = _cli(catalogue.location, "keep", paths[1])
    assert kept.returncode == 0, kept.stderr
    assert "decision pending -> approved" in kept.stdout
    assert kept.stdout.count("decision pending -> rejected") == 2
    assert [state[0] for state in _states(photo_ids)] == [
        "rejected", "approved", "rejected", "pending"
    ]  # fmt: skip
    undone = _cli(catalogue.location, "undo")
    assert undone.returncode == 0 and undone.stdout.count("(undo)") == 3
    assert _states(photo_ids) == [("pending", 2, 0)] * 3 + [("pending", 0, 0)]
    undone = _cli(catalogue.location, "undo")
    assert undone.stdout.count("(undo)") == 3 and _states(photo_ids) == [("pending", 0, 0)] * 4
    nowhere = _cli(catalogue.location, "keep", str(tmp_path / "nowhere.jpg"))
    assert nowhere.returncode == 2 and "not in the catalogue" in nowhere.stderr
