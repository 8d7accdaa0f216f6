"""Looks in the media pipeline: each photo measured when its preview is built (inline and in
the media worker processes), the photos of a catalogue from before looks were measured in the
background, a photo that cannot be measured says why, the bursts hook is called with the photos
measured, and ``shootwatch show`` gives them (a whole process, as the user runs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imagehash
import pytest

from core.config import MediaSettings
from core.media.cache import PreviewCache
from core.media.photos import MediaSync, preview_cache_dir
from core.media.pool import MediaPool
from core.store import dialect
from core.store.models import Photo
from core.store.photos import LOOK_COLUMNS
from tests.helpers import REPO, camera_sample, scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

CITY = REPO / "core" / "demo" / "photos" / "2024-11-16_city-night"
BURST = [f"DSC_010{n}.JPG" for n in range(1, 6)]


def shoot(library: Path) -> Path:
    """The demo's city-night shoot (a real burst of five, then one more shot), a camera sample
    that records its AF point when the shared set is here, and a CR3 with no preview in it."""
    folder = library / "2024-11-16"
    shutil.copytree(CITY, folder, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    nikon = camera_sample("nikon_d90.jpg")
    if nikon is not None:
        shutil.copy(nikon, folder / "DSC_0200.JPG")
    shutil.copy(camera_sample("canon_eos_m50_stripped.CR3"), folder / "IMG_0300.CR3")
    return folder


def media(catalogue, tmp_path: Path, pool: MediaPool | None = None) -> MediaSync:
    sync = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), pool)
    sync.follow_file_events()
    return sync


def photos_by_name() -> dict[str, Photo]:
    return {photo.files[0].rel_path.rsplit("/", 1)[-1]: photo for photo in Photo.select()}


def assert_measured(photo: Photo) -> None:
    assert photo.looked_at is not None and photo.look_error is None
    assert len(photo.phash) == 16
    assert photo.sharpness > 100  # the demo's photos are in focus
    assert 0 <= photo.sharp_x <= 1 and 0 <= photo.sharp_y <= 1
    assert 0 <= photo.clipped_highlights < 0.5 and 0 <= photo.clipped_shadows < 0.5


@pytest.mark.parametrize("workers", [0, 2], ids=["inline", "worker processes"])
def test_new_photos_are_measured_when_their_preview_is_built(
    catalogue, library, tmp_path, workers
) -> None:
    shoot(library)
    scan(catalogue, library, workers=1)
    pool = MediaPool(workers) if workers else None
    try:
        counts = media(catalogue, tmp_path, pool).run_until_idle()
    finally:
        if pool is not None:
            pool.close()
    photos = photos_by_name()
    for name in [*BURST, "DSC_0106.JPG"]:
        assert_measured(photos[name])
        assert photos[name].af_x is None  # the demo's JPEGs have no maker notes
    hashes = [imagehash.hex_to_hash(photos[name].phash) for name in BURST]
    assert max(a - b for a in hashes for b in hashes) <= 6  # one burst, one look
    assert imagehash.hex_to_hash(photos["DSC_0106.JPG"].phash) - hashes[0] > 14
    if "DSC_0200.JPG" in photos:  # the Nikon D90 sample: its centre point was used
        assert (photos["DSC_0200.JPG"].af_x, photos["DSC_0200.JPG"].af_y) == (0.5, 0.5)
    cr3 = photos["IMG_0300.CR3"]
    assert cr3.preview_at is None
    assert cr3.looked_at is not None and cr3.phash is None
    assert cr3.look_error.startswith("it has no preview to measure: ")
    assert counts.looked == len(photos) - 1


def test_a_catalogue_from_before_looks_gets_them_from_its_cached_previews(
    catalogue, library, tmp_path
) -> None:
    """Photos with a preview and no looks (a catalogue upgraded to schema 12) are measured in
    the background from their cached previews, which are not built again."""
    shoot(library)
    scan(catalogue, library, workers=1)
    media(catalogue, tmp_path).run_until_idle()
    measured = {name: photo.sharpness for name, photo in photos_by_name().items()}
    assignments = ", ".join(f"{column} = NULL" for column in ("looked_at", *LOOK_COLUMNS))
    catalogue.db.execute_sql(f"UPDATE photo SET {assignments}")
    cache = PreviewCache(preview_cache_dir(MediaSettings(preview_cache=tmp_path / "previews")), 1)
    previews = {photo.blake3: cache.path_for(photo.blake3) for photo in Photo.select()}
    inodes = {key: path.stat().st_ino for key, path in previews.items() if path.exists()}

    counts = media(catalogue, tmp_path).run_until_idle()

    again = photos_by_name()
    assert counts.looked == len(inodes) and counts.described == 0
    for name, photo in again.items():
        if photo.preview_at is not None:
            assert_measured(photo)
            assert photo.sharpness == pytest.approx(measured[name])
        else:  # no preview: not in the backlog of photos to measure
            assert photo.looked_at is None
    assert {key: previews[key].stat().st_ino for key in inodes} == inodes  # not rebuilt


def test_a_photo_whose_preview_cannot_be_measured_says_why_and_the_others_go_on(
    catalogue, library, tmp_path
) -> None:
    shoot(library)
    scan(catalogue, library, workers=1)
    media(catalogue, tmp_path).run_until_idle()
    broken = photos_by_name()["DSC_0103.JPG"]
    cache = PreviewCache(preview_cache_dir(MediaSettings(preview_cache=tmp_path / "previews")), 1)
    cache.path_for(broken.blake3).write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")
    catalogue.db.execute_sql("UPDATE photo SET looked_at = NULL, phash = NULL")

    media(catalogue, tmp_path).run_until_idle()

    photos = photos_by_name()
    error = photos["DSC_0103.JPG"].look_error
    assert error.startswith("its preview could not be measured: ") and "\n" not in error
    assert photos["DSC_0103.JPG"].looked_at is not None  # not tried again and again
    for name in ("DSC_0101.JPG", "DSC_0104.JPG", "DSC_0106.JPG"):
        assert_measured(photos[name])


def test_bursts_are_regrouped_around_the_photos_just_measured(
    catalogue, library, tmp_path, monkeypatch
) -> None:
    """core.triage.bursts.regroup is called with the ids of the photos measured, inside the
    transaction that stored their looks."""
    calls: list[tuple[list[int], float | None, bool]] = []

    def regroup(db, photo_ids: list[int], rules=None) -> None:
        among, ids = dialect.one_of(db, "id", photo_ids)
        looked = db.execute_sql(
            f"SELECT min(looked_at) FROM photo WHERE {among}", (ids,)
        ).fetchone()[0]
        calls.append((list(photo_ids), looked, db.in_transaction()))

    monkeypatch.setattr("core.media.photos.regroup_bursts", regroup)
    shoot(library)
    scan(catalogue, library, workers=1)
    media(catalogue, tmp_path).run_until_idle()
    measured = {photo.id for photo in Photo.select().where(Photo.phash.is_null(False))}
    called = [photo_id for ids, _, _ in calls for photo_id in ids]
    assert sorted(called) == sorted(measured)  # each once; the CR3 with no preview is not
    assert all(looked is not None and in_transaction for _, looked, in_transaction in calls)


def shootwatch(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_show_gives_sharpness_af_point_and_clipping(tmp_path: Path) -> None:
    """``shootwatch add``, ``scan`` then ``show`` as processes: the looks the scan's media
    pass measured, in JSON and in the text."""
    library = tmp_path / "library"
    folder = shoot(library)
    env = {
        **os.environ,
        "SHOOTWATCH_DB": str(tmp_path / "catalogue.db"),
    }
    assert shootwatch("add", str(library), env=env).returncode == 0
    scanned = shootwatch("scan", env=env)
    assert scanned.returncode == 0, scanned.stderr
    assert " measured" in scanned.stderr

    shown = shootwatch("show", str(folder / "DSC_0101.JPG"), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    photo = json.loads(shown.stdout)["photo"]
    assert photo["sharpness"] > 100 and isinstance(photo["looked_at"], float)
    assert photo["af_point"] is None
    assert set(photo["sharp_point"]) == {"x", "y"}
    histogram = photo["histogram"]
    assert histogram["source"] == "preview"
    assert 0 <= histogram["clipped_highlights_percent"] <= 100
    assert 0 < histogram["clipped_shadows_percent"] <= 100  # a night shot

    text = shootwatch("show", str(folder / "DSC_0101.JPG"), env=env)
    assert f"sharpness: {photo['sharpness']:,.0f}" in text.stdout
    assert "AF point: none recorded" in text.stdout
    assert f"{histogram['clipped_shadows_percent']:.2f} % shadows" in text.stdout

    cr3 = shootwatch("show", str(folder / "IMG_0300.CR3"), "--json", env=env)
    photo = json.loads(cr3.stdout)["photo"]
    assert photo["sharpness"] is None and photo["histogram"] is None
    assert photo["look_error"].startswith("it has no preview to measure")
    assert (
        "! not measured: it has no preview"
        in shootwatch("show", str(folder / "IMG_0300.CR3"), env=env).stdout
    )
    if (folder / "DSC_0200.JPG").exists():
        nikon = json.loads(
            shootwatch("show", str(folder / "DSC_0200.JPG"), "--json", env=env).stdout
        )
        assert nikon["photo"]["af_point"] == {"x": 0.5, "y": 0.5}


def test_a_failing_burst_regroup_keeps_the_looks_and_previews(
    catalogue, library, tmp_path, monkeypatch, caplog
) -> None:
    """Bursts are a help: when regrouping fails, its writes are undone and the looks and
    previews of the photos are stored all the same."""

    def regroup(db, photo_ids: list[int], rules=None) -> None:
        db.execute_sql("UPDATE photo SET burst = id")
        raise RuntimeError("a bug in grouping")

    monkeypatch.setattr("core.media.photos.regroup_bursts", regroup)
    shoot(library)
    scan(catalogue, library, workers=1)
    media(catalogue, tmp_path).run_until_idle()
    photos = photos_by_name()
    for name in BURST:
        assert_measured(photos[name])
        assert photos[name].preview_at is not None
        assert photos[name].burst is None  # the failed regroup's write undone
    assert "bursts could not be regrouped" in caplog.text
