"""Photos in the catalogue: real camera files scanned, described, grouped into photos (RAW+JPEG
twins, sidecars, duplicate sidecars, exports), identity kept across moves and edits, previews
built; and the same through a running engine."""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.engine import Engine
from core.media.photos import MediaSync
from core.store.models import FileRecord, Photo, Root
from tests.core.test_engine import add_root, settings_for
from tests.helpers import scan, wait_until
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

SAMPLES = Path(__file__).parents[1] / "fixtures" / "camera"
REPO = Path(__file__).parents[2]
SIDECAR = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos" / "2024-06-01_wedding"


def _shoot(library: Path) -> Path:
    shoot = library / "2024" / "2024-06-01"
    (shoot / "darktable_exported").mkdir(parents=True)
    shutil.copy(SAMPLES / "nikon_d7100_truncated.NEF", shoot / "DSC_0001.NEF")
    shutil.copy(SAMPLES / "nikon_d70s_jpeg_named.NEF", shoot / "DSC_0001.JPG")
    shutil.copy(SIDECAR / "IMG_0002.JPG.xmp", shoot / "DSC_0001.NEF.xmp")
    shutil.copy(SIDECAR / "IMG_0003_01.JPG.xmp", shoot / "DSC_0001_01.NEF.xmp")
    shutil.copy(SAMPLES / "sony_slt-a58_small.jpg", shoot / "darktable_exported" / "DSC_0001.jpg")
    shutil.copy(SAMPLES / "bad_html_named.JPG", shoot / "DSC_0002.JPG")
    shutil.copy(SAMPLES / "samsung_galaxy_s_orient6_gps.jpg", shoot / "DSC_0003.JPG")
    shutil.copy(SAMPLES / "bad_zero_bytes.CR2", shoot / "DSC_0004.CR2")
    return shoot


def _media(catalogue, tmp_path: Path) -> MediaSync:
    sync = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    sync.follow_file_events()
    return sync


def _roles() -> dict[str, tuple[str | None, int | None]]:
    return {f.rel_path.split("/", 1)[-1]: (f.role, f.photo_id) for f in FileRecord.select()}


def test_raw_jpeg_sidecars_and_exports_make_one_photo(catalogue, library, tmp_path):
    _shoot(library)
    scan(catalogue, library, workers=1)
    _media(catalogue, tmp_path).run_until_idle()
    roles = _roles()
    photo = roles["2024-06-01/DSC_0001.NEF"][1]
    assert photo is not None
    assert roles == {
        "2024-06-01/DSC_0001.NEF": ("original", photo),
        "2024-06-01/DSC_0001.JPG": ("twin", photo),
        "2024-06-01/DSC_0001.NEF.xmp": ("sidecar", photo),
        "2024-06-01/DSC_0001_01.NEF.xmp": ("duplicate_sidecar", photo),
        "2024-06-01/darktable_exported/DSC_0001.jpg": ("export", photo),
        "2024-06-01/DSC_0002.JPG": (None, None),  # an HTML page
        "2024-06-01/DSC_0003.JPG": ("original", roles["2024-06-01/DSC_0003.JPG"][1]),
        "2024-06-01/DSC_0004.CR2": (None, None),  # empty
    }
    assert Photo.select().count() == 2
    raw = Photo.get_by_id(photo)
    assert (raw.camera_model, raw.format, raw.iso) == ("NIKON D7100", "tiff-raw", 100)
    assert raw.metadata_at is not None and raw.preview_at is not None
    html = FileRecord.get(FileRecord.rel_path.endswith("DSC_0002.JPG"))
    assert (html.kind, html.format) == ("other", "html") and "HTML page" in html.error
    empty = FileRecord.get(FileRecord.rel_path.endswith("DSC_0004.CR2"))
    assert empty.format == "empty" and "empty" in empty.error
    phone = Photo.get_by_id(roles["2024-06-01/DSC_0003.JPG"][1])
    assert phone.orientation == 6 and phone.gps_latitude is None  # 0/0 GPS is no GPS
    assert (tmp_path / "previews" / "1600" / raw.blake3[:2] / f"{raw.blake3}.jpg").is_file()


def test_a_moved_shoot_keeps_its_photos_and_decisions(catalogue, library, tmp_path):
    shoot = _shoot(library)
    scan(catalogue, library, workers=1)
    media = _media(catalogue, tmp_path)
    media.run_until_idle()
    before = _roles()
    photo = Photo.get_by_id(before["2024-06-01/DSC_0001.NEF"][1])
    photo.decision = "approved"
    photo.save()
    shoot.rename(library / "2024" / "2024-06-01_wedding")
    scan(catalogue, library, workers=1)
    media.run_until_idle()
    after = {name.replace("2024-06-01_wedding", "2024-06-01"): v for name, v in _roles().items()}
    assert after == before
    assert Photo.get_by_id(photo.id).decision == "approved"
    assert Photo.select().count() == 2


def test_an_edited_original_keeps_its_photo(catalogue, library, tmp_path):
    shoot = library / "shoot"
    shoot.mkdir()
    original = shoot / "IMG_1.JPG"
    shutil.copy(SAMPLES / "kodak_dc240_1999.jpg", original)
    scan(catalogue, library, workers=1)
    media = _media(catalogue, tmp_path)
    media.run_until_idle()
    photo = Photo.get()
    photo.rating = 4
    photo.save()
    time.sleep(0.01)
    with original.open("ab") as handle:  # an editor rewrote it in place
        handle.write(b"\0" * 10)
    scan(catalogue, library, workers=1)
    media.run_until_idle()
    again = Photo.get()
    assert again.id == photo.id and again.rating == 4 and again.blake3 != photo.blake3
    assert again.metadata_at is not None  # read again for the new content


def test_the_same_photo_in_two_places_is_one_photo(catalogue, library, tmp_path):
    for folder in ("card", "backup"):
        (library / folder).mkdir()
        shutil.copy(SAMPLES / "kodak_dc240_1999.jpg", library / folder / "IMG_1.JPG")
    scan(catalogue, library, workers=1)
    _media(catalogue, tmp_path).run_until_idle()
    assert Photo.select().count() == 1
    assert {role for role, _ in _roles().values()} == {"original"}


def test_a_photo_without_a_usable_preview_says_why(catalogue, library, tmp_path):
    (library / "s").mkdir()
    shutil.copy(SAMPLES / "canon_eos_m50_stripped.CR3", library / "s" / "IMG_1.CR3")
    scan(catalogue, library, workers=1)
    _media(catalogue, tmp_path).run_until_idle()
    photo = Photo.get()
    assert photo.preview_at is None and photo.preview_error
    assert photo.camera_model == "Canon EOS M50"


def test_the_engine_describes_groups_and_previews_new_photos(tmp_path, library):
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings, media=MediaSettings(preview_cache=tmp_path / "previews")
    )
    add_root(settings, library)
    engine = Engine(settings, with_darktable=False)
    engine.start()
    try:
        wait_until(lambda: engine.states()["watcher"].status == "running")
        time.sleep(0.3)
        _shoot(library)
        wait_until(
            lambda: Photo.select().where(Photo.preview_at.is_null(False)).count() == 2,
            timeout=60,
        )
        roles = _roles()
        assert roles["2024-06-01/DSC_0001.JPG"][0] == "twin"
        assert roles["2024-06-01/darktable_exported/DSC_0001.jpg"][0] == "export"
        assert "files described" in engine.states()["media"].task
    finally:
        engine.stop()


@pytest.mark.parametrize("first", ["photo", "export", "both"])
def test_a_year_folder_gets_a_photo_of_its_own_and_claims_its_export(
    catalogue, library, tmp_path, first
):
    """One MediaSync for the whole run, as in the engine: a year folder seen with no file of
    its own above its days is not read again for every day's batch, yet a photo copied into
    it later (before, after or with its export below it) is its own and claims its export."""
    day = library / "2024" / "2024-06-01"
    day.mkdir(parents=True)
    for n, sample in enumerate(("sony_slt-a58_small.jpg", "kodak_dc240_1999.jpg")):
        shutil.copy(SAMPLES / sample, day / f"DSC_{n:04d}.JPG")
    scan(catalogue, library, workers=1)
    media = _media(catalogue, tmp_path)
    media.run_until_idle()
    year = library / "2024"
    steps = {
        "photo": [["DSC_0009.JPG"], ["darktable_exported/DSC_0009.jpg"]],
        "export": [["darktable_exported/DSC_0009.jpg"], ["DSC_0009.JPG"]],
        "both": [["DSC_0009.JPG", "darktable_exported/DSC_0009.jpg"]],
    }[first]
    sources = {
        "DSC_0009.JPG": SAMPLES / "olympus_pen_e-p3.jpg",
        "darktable_exported/DSC_0009.jpg": SAMPLES / "sony_dsc-hx5v_gps.jpg",
    }
    for names in steps:
        for name in names:
            (year / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sources[name], year / name)
        scan(catalogue, library, workers=1)
        media.follow_file_events()
        media.run_until_idle()
    roles = _roles()
    photo = roles["DSC_0009.JPG"][1]
    assert roles["DSC_0009.JPG"] == ("original", photo) and photo is not None
    assert roles["darktable_exported/DSC_0009.jpg"] == ("export", photo)
    assert roles["2024-06-01/DSC_0000.JPG"][0] == "original"


def _dated_copies(folder: Path, first: datetime.datetime, count: int) -> None:
    """Copies of a real camera JPEG taken a minute apart from ``first`` (its EXIF dates)."""
    sample = (SAMPLES / "sony_slt-a58_small.jpg").read_bytes()
    folder.mkdir(parents=True)
    for n in range(count):
        when = (first + datetime.timedelta(minutes=n)).strftime("%Y:%m:%d %H:%M:%S").encode()
        (folder / f"DSC_{n:04d}.JPG").write_bytes(sample.replace(b"2023:10:28 21:42:29", when))


def test_previews_are_built_for_the_shoot_on_screen_first_then_newest_first(
    catalogue, library, tmp_path
):
    shoots = {"2019-01-01": 2019, "2021-06-01": 2021, "2020-03-01": 2020}
    for name, year in shoots.items():
        _dated_copies(library / name, datetime.datetime(year, 1, 1, 12), 12)
    scan(catalogue, library, workers=1)
    media = _media(catalogue, tmp_path)
    while media.counts.described < 36:
        media.tick()

    def previewed() -> list[str]:
        query = Photo.select().where(Photo.preview_at.is_null(False))
        return sorted(FileRecord.get(FileRecord.photo == p).rel_path for p in query)

    media.tick()  # one batch of previews, in-process
    newest = [f"2021-06-01/DSC_{n:04d}.JPG" for n in range(11, 3, -1)]
    assert previewed() == sorted(newest)
    media.focus = (Root.get().id, "2019-01-01")  # the app shows a photo of that shoot
    media.tick()
    on_screen = [f"2019-01-01/DSC_{n:04d}.JPG" for n in range(11, 3, -1)]
    assert previewed() == sorted(newest + on_screen)
    media.run_until_idle()
    assert len(previewed()) == 36 and media.focus is None


# An app on another machine than the engine's: tells the shoot on screen through the
# catalogue on the server, from a process of its own (as the app's engine link does).
TELL_FROM_ANOTHER_APP = """
import sys, threading
from core.config import load_settings
from core.store import open_catalogue
from tui.engine_link import EngineLink

settings = load_settings(sys.argv[1])
catalogue = open_catalogue(settings.catalogue)
assert EngineLink(settings, "auto", catalogue.db).focus(sys.argv[2])
for thread in threading.enumerate():
    if thread is not threading.current_thread():
        thread.join(60)
"""


@pytest.mark.parametrize("catalogue_backend", ["postgresql"])
@pytest.mark.parametrize("batches_before", [0, 1, 2])
@pytest.mark.parametrize("on_screen", ["2019-01-01", "2020-03-01"])
def test_an_app_on_another_machine_tells_the_shoot_on_screen_through_the_catalogue(
    catalogue, catalogue_location, library, tmp_path, batches_before, on_screen
):
    """No socket reaches an engine on another machine: the app writes the shoot on screen to
    the catalogue, and the engine's media component builds that shoot's previews next."""
    shoots = {"2019-01-01": 2019, "2021-06-01": 2021, "2020-03-01": 2020}
    for name, year in shoots.items():
        _dated_copies(library / name, datetime.datetime(year, 1, 1, 12), 12)
    scan(catalogue, library, workers=1)
    media = _media(catalogue, tmp_path)
    while media.counts.described < 36:
        media.tick()

    def previewed() -> set[str]:
        query = Photo.select().where(Photo.preview_at.is_null(False))
        return {FileRecord.get(FileRecord.photo == p).rel_path for p in query}

    for _ in range(batches_before):  # newest first, while no app has told anything
        media.tick()
    before = previewed()
    assert len(before) == 8 * batches_before
    config = tmp_path / "app.toml"
    config.write_text(f'catalogue = "{catalogue_location}"\n')
    told = subprocess.run(
        [sys.executable, "-c", TELL_FROM_ANOTHER_APP, str(config), str(library / on_screen)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert told.returncode == 0, told.stderr
    wanted = {f"{on_screen}/DSC_{n:04d}.JPG" for n in range(12)} - before
    media.tick()  # reads what the app told, then builds
    media.tick()
    assert previewed() - before == wanted
    media.run_until_idle()
    assert len(previewed()) == 36


def test_an_app_elsewhere_asks_the_running_engine_for_the_shoot_on_screen(tmp_path, library):
    """The focus goes over the engine's socket, as an app attached from another process
    sends it."""
    from core.engine.control import ask

    settings = settings_for(tmp_path)
    add_root(settings, library)
    engine = Engine(settings, with_darktable=False)
    engine.start()
    try:
        wait_until(lambda: engine.media.sync is not None)
        root = Root.get()
        folder = str(library / "2024")
        assert ask(settings.catalogue, {"command": "focus", "folder": folder}) == {"ok": True}
        assert engine.media.sync.focus == (root.id, "2024")
        outside = {"command": "focus", "folder": str(tmp_path)}
        assert ask(settings.catalogue, outside) == {"ok": False}
    finally:
        engine.stop()
