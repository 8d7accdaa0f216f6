"""The demo library: shipped photos and darktable library copied into a folder of its own, then
catalogued by the real parts (root, scan, photos and previews, one darktable read)."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import exifread
import pytest

from core.config import default_catalogue_path, default_preview_cache, load_settings
from core.demo import Demo, DemoError, create_demo
from core.media.cache import PreviewCache
from core.media.photos import preview_cache_dir
from core.store import open_catalogue
from core.store.models import DarktableImage, Event, FileRecord, Photo, Root, SyncRun
from core.triage.bursts import SOFT_FLOOR, burst_place
from core.triage.queue import Queue
from tests.core.test_cli import run
from tests.helpers import REPO, on_disk

SHIPPED = REPO / "core" / "demo"
SHOOTS = ("2024-10-05_mountains", "2024-11-16_city-night", "2024-12-07_home")
# LICENCES.md: darktable imported IMG_0001..IMG_0010 (and a duplicate of IMG_0003) and the six
# city-night photos; IMG_0011 is on disk only, and the home shoot was never imported.
DARKTABLE_IMAGES = 17
PHOTOS = 11 + 6 + 5  # mountains, city night, home; exports belong to their photo
BURST = [f"DSC_{n:04d}.JPG" for n in range(101, 106)]
# rebuild/make_photos.py defocuses the burst as a lens hunting for focus would: its frames from
# the sharpest to the softest, and those under half the sharpest (soft).
BURST_BY_SHARPNESS = ["DSC_0102.JPG", "DSC_0101.JPG", "DSC_0105.JPG", "DSC_0103.JPG",
                      "DSC_0104.JPG"]  # fmt: skip
BURST_SOFT = {"DSC_0103.JPG", "DSC_0104.JPG", "DSC_0105.JPG"}
# A clear ranking: each frame's focus score at least this many times the next one's.
CLEAR_RANKING = 1.5
# What a licence row of LICENCES.md may say, and the EXIF Copyright each photo carries for it.
LICENCES = ("CC0 1.0", "CC BY 4.0", "BSD-3-Clause")


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return create_demo(tmp_path / "demo")


@pytest.fixture
def catalogue(demo: Demo) -> Iterator[None]:
    with open_catalogue(demo.catalogue):
        yield


def _rows(database: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _counts(demo: Demo) -> dict[str, int]:
    with open_catalogue(demo.catalogue):
        return {
            model.__name__: model.select().count()
            for model in (Root, FileRecord, Photo, DarktableImage, SyncRun, Event)
        }


def test_the_demo_holds_the_shipped_photos_and_darktable_library(demo, tmp_path):
    assert demo.folder == (tmp_path / "demo").resolve()
    assert sorted(p.name for p in demo.photos.iterdir()) == list(SHOOTS)
    shipped = on_disk(SHIPPED / "photos")
    assert on_disk(demo.photos) == shipped  # the same bytes: photos, sidecars, exports
    assert len([rel for rel in shipped if rel.endswith(".xmp")]) == DARKTABLE_IMAGES
    assert not list((demo.photos / "2024-12-07_home").glob("*.xmp"))
    # The photographers' credits and licences travel with the copies of their photos.
    assert (demo.folder / "LICENCES.md").read_bytes() == (SHIPPED / "LICENCES.md").read_bytes()
    assert demo.darktable_library.is_file()
    assert demo.darktable_library.with_name("data.db").is_file()
    rolls = _rows(demo.darktable_library, "SELECT folder FROM film_rolls ORDER BY folder")
    assert rolls == [
        (str(demo.photos / "2024-10-05_mountains"),),
        (str(demo.photos / "2024-11-16_city-night"),),
    ]
    assert _rows(demo.darktable_library, "SELECT count(*) FROM images") == [(DARKTABLE_IMAGES,)]


def _licence_rows() -> dict[str, str]:
    """{shipped photo path: its licence} from the table of LICENCES.md."""
    rows = {}
    for line in (SHIPPED / "LICENCES.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`20"):
            rows[cells[0].strip("`")] = cells[3]
    return rows


def test_every_shipped_photo_names_its_source_and_licence_and_carries_it():
    rows = _licence_rows()
    originals = sorted(
        rel for rel in on_disk(SHIPPED / "photos")
        if rel.endswith(".JPG") and "darktable_exported" not in rel
    )  # fmt: skip
    assert len(originals) == PHOTOS
    assert sorted(rows) == originals
    for rel in originals:
        licence = next((known for known in LICENCES if rows[rel].startswith(known)), None)
        assert licence is not None, f"{rel}: {rows[rel]!r} is not a licence the demo may ship"
        with (SHIPPED / "photos" / rel).open("rb") as handle:
            tags = exifread.process_file(handle, details=False)
        assert str(tags["Image Copyright"]) == licence, rel
    for export in (SHIPPED / "photos").glob("*/darktable_exported/*.jpg"):
        assert f"{export.parent.parent.name}/{export.stem}.JPG" in rows  # an export of a photo


def test_the_settings_keep_the_demo_in_its_folder(demo):
    settings = load_settings(demo.config_file)
    assert settings.catalogue == demo.catalogue
    assert settings.darktable.library == demo.darktable_library
    assert settings.darktable.data == demo.darktable_library.with_name("data.db")
    assert settings.darktable.explicit
    assert settings.media.preview_cache == demo.folder / "previews"
    assert settings.ingest.destination == demo.photos
    assert settings.ingest.inboxes == (demo.inbox,) and demo.inbox.is_dir()
    assert not (demo.folder / "shootwatch.toml.building").exists()


def test_a_photo_copied_into_the_demo_inbox_is_filed_into_its_library(demo, capsys):
    from core.cli import main

    copied = demo.inbox / "DC240.JPG"
    shutil.copyfile(REPO / "tests" / "fixtures" / "camera" / "kodak_dc240_1999.jpg", copied)
    old = time.time() - 60
    os.utime(copied, (old, old))
    assert main(["--config", str(demo.config_file), "ingest"]) == 0
    assert "ingested" in capsys.readouterr().out
    assert (demo.photos / "1999" / "1999-05-25" / "DC240.JPG").is_file()


def test_the_catalogue_has_every_photo_described_with_a_preview(demo, catalogue):
    (root,) = Root.select()
    assert (root.path, root.kind, root.state) == (str(demo.photos), "library", "online")
    (sync_run,) = SyncRun.select()
    assert sync_run.status == "completed"
    recorded = {r.rel_path for r in FileRecord.select()}
    assert recorded == set(on_disk(demo.photos))
    records = list(FileRecord.select())
    assert all(r.blake3 and r.photo_id is not None for r in records)  # every file has its photo
    assert all(r.format == "jpeg" for r in records if r.kind == "jpeg")
    assert {r.role for r in records} == {"original", "sidecar", "duplicate_sidecar", "export"}

    photos = list(Photo.select())
    assert len(photos) == PHOTOS
    assert all(p.metadata_at is not None and p.metadata_error is None for p in photos)
    assert {p.camera_model for p in photos} == {"Canon EOS R5", "NIKON Z 6", "X-T5"}
    (located,) = Photo.select().where(Photo.gps_latitude.is_null(False))
    assert (located.gps_latitude, located.gps_longitude) == pytest.approx((42.9503, -2.3372))

    settings = load_settings(demo.config_file)
    cache = PreviewCache(preview_cache_dir(settings.media), 1 << 30)
    assert all(p.preview_at is not None and p.preview_error is None for p in photos)
    assert all(cache.get(p.blake3) is not None for p in photos)
    assert str(cache.root).startswith(str(demo.folder / "previews"))


def test_darktable_state_is_in_the_catalogue(demo, catalogue):
    assert DarktableImage.select().count() == DARKTABLE_IMAGES
    folders = {image.film_roll_folder for image in DarktableImage.select()}
    assert folders == {
        str(demo.photos / "2024-10-05_mountains"),
        str(demo.photos / "2024-11-16_city-night"),
    }
    assert DarktableImage.select().where(DarktableImage.altered).count() == 6  # 2, 3, 4, 12, 14, 17
    not_imported = [e.path for e in Event.select().where(Event.kind == "not_imported")]
    assert [Path(path).name for path in not_imported] == ["IMG_0011.JPG"]


def _capture_times(folder: Path) -> dict[str, float]:
    return {
        Path(record.rel_path).name: record.photo.capture_time
        for record in FileRecord.select().join(Photo)
        if record.role == "original" and Path(record.rel_path).parent.name == folder.name
    }


def test_the_city_night_shoot_opens_with_a_burst_of_five_frames(demo, catalogue):
    """Consecutive frames of one moment, a fraction of a second apart, then a shot 40 s later."""
    times = _capture_times(demo.photos / "2024-11-16_city-night")
    burst = [times[name] for name in BURST]
    gaps = [later - earlier for earlier, later in itertools.pairwise(burst)]
    assert gaps == pytest.approx([0.12] * 4, abs=1e-3)
    assert times["DSC_0106.JPG"] - burst[-1] > 30
    cameras = {p.camera_model for p in Photo.select() if p.capture_time in burst}
    assert cameras == {"NIKON Z 6"}


def test_the_burst_shows_a_lens_hunting_for_focus(demo):
    """Measured as the demo is built (previews, then looks): the five frames are one burst, one
    of them clearly the sharpest, the others ranked with clear gaps between them, and three soft
    by the burst's own measure (under half its sharpest), not by the floor every photo meets."""
    with open_catalogue(demo.catalogue) as opened:
        ids = {
            Path(record.rel_path).name: record.photo_id
            for record in FileRecord.select()
            if record.role == "original" and record.rel_path.startswith("2024-11-16_city-night/")
        }
        places = {name: burst_place(opened.db, ids[name]) for name in BURST}
        assert burst_place(opened.db, ids["DSC_0106.JPG"]) is None
    assert {place.burst_id for place in places.values()} == {ids["DSC_0101.JPG"]}
    scores = {name: place.sharpness for name, place in places.items()}
    print("focus scores:", {name: round(score) for name, score in scores.items()})
    assert sorted(BURST, key=lambda name: places[name].rank) == BURST_BY_SHARPNESS
    assert [places[name].rank for name in BURST_BY_SHARPNESS] == [1, 2, 3, 4, 5]
    for sharper, softer in itertools.pairwise(BURST_BY_SHARPNESS):
        assert scores[sharper] >= CLEAR_RANKING * scores[softer], (sharper, softer, scores)
    assert places["DSC_0102.JPG"].leader == ids["DSC_0102.JPG"]  # the pick: the sharpest
    assert {name for name, place in places.items() if place.soft} == BURST_SOFT
    assert min(scores.values()) > SOFT_FLOOR


def test_triage_opens_on_the_first_photo_of_the_first_shoot(demo):
    """The README's hero: the queue starts at the oldest photo, the mountains' IMG_0001."""
    with open_catalogue(demo.catalogue) as catalogue:
        queue = Queue(catalogue.db, "pending")
        (first,) = FileRecord.select().where(
            (FileRecord.photo == queue.photo_ids[0]) & (FileRecord.role == "original")
        )
        assert first.rel_path == "2024-10-05_mountains/IMG_0001.JPG"


def test_a_second_call_returns_the_same_demo_and_changes_nothing(demo, tmp_path):
    before = _counts(demo)
    config = demo.config_file.read_bytes()
    progress: list[str] = []
    assert create_demo(tmp_path / "demo", progress.append) == demo
    assert progress == []
    assert _counts(demo) == before
    assert demo.config_file.read_bytes() == config


def test_progress_names_each_step(tmp_path):
    progress: list[str] = []
    create_demo(tmp_path / "demo", progress.append)
    assert progress[:3] == [
        "writing the settings",
        "copying photos",
        "copying the darktable library",
    ]
    assert "scanning photos" in progress and progress[-1] == "reading the darktable library"


def test_an_interrupted_build_is_finished_by_the_next_call(tmp_path):
    folder = tmp_path / "demo"

    def interrupt(step: str) -> None:
        if step == "scanning photos":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_demo(folder, interrupt)
    assert not (folder / "shootwatch.toml").exists()
    demo = create_demo(folder)
    assert demo.config_file.exists()
    counts = _counts(demo)
    assert (counts["Root"], counts["Photo"], counts["DarktableImage"]) == (1, PHOTOS, 17)


def test_a_folder_with_other_things_in_it_is_refused(tmp_path):
    folder = tmp_path / "holiday"
    (folder / "IMG_0001.JPG").parent.mkdir()
    (folder / "IMG_0001.JPG").write_bytes(b"not ours")
    with pytest.raises(DemoError, match="not empty"):
        create_demo(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.JPG"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "shootwatch.toml").write_text('catalogue = "/somewhere/else.db"\n')
    with pytest.raises(DemoError, match="not empty"):
        create_demo(other)

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(DemoError, match="not a folder"):
        create_demo(a_file)


def test_any_folder_name_is_written_into_the_settings(tmp_path):
    folder = tmp_path / 'say "cheese" \\ tab\there ünïcode'
    demo = create_demo(folder)
    with demo.config_file.open("rb") as handle:
        written = tomllib.load(handle)
    assert written["catalogue"] == str(folder / "catalogue.db")
    assert written["media"]["preview_cache"] == str(folder / "previews")
    assert load_settings(demo.config_file).darktable.library == demo.darktable_library


def test_the_demo_command_builds_it_without_the_users_catalogue(capsys, tmp_path):
    folder = tmp_path / "my demo"
    code, out, err = run(capsys, "demo", "--no-open", str(folder))
    assert code == 0
    config = folder / "shootwatch.toml"
    assert f"shootwatch --config {shlex.quote(str(config))}" in out
    assert str(folder) in out
    assert "demo: copying photos" in err
    assert not default_catalogue_path().exists()
    assert not default_preview_cache().exists()

    code, out, _ = run(capsys, "--config", str(config), "darktable", "stats", "--json")
    assert code == 0
    shoots = {shoot["shoot"]: shoot for shoot in json.loads(out)["shoots"]}
    assert set(shoots) == set(SHOOTS)
    home = shoots["2024-12-07_home"]
    assert (home["files"], home["in_darktable"]) == (5, 0)
    assert not default_catalogue_path().exists()


def test_the_demo_command_without_a_folder_makes_a_new_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    (made,) = tmp_path.glob("shootwatch-demo-*")
    assert (made / "shootwatch.toml").is_file() and str(made) in out


def test_the_demo_command_refuses_a_foreign_folder(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "demo", "--no-open", str(tmp_path))
    assert code == 2
    assert "shootwatch: error:" in err and "not empty" in err
