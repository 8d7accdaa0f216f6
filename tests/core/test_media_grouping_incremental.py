"""Grouping a batch of described files looks at the photos those files can be part of, not the
whole folder: a real tree of camera files (RAW+JPEG twins, sidecars, duplicates' sidecars,
Adobe-style sidecars, exports in subfolders, subfolders that are not exports, junk named like
photos, names differing in case or outside ASCII, a year folder with photos of its own) is
described in batches of 1, 7, 64 and all files, in random orders, and after every batch the
catalogue is exactly what regrouping every folder whole makes of it."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.media.describe import describe_files
from core.media.photos import MediaSync
from core.store.models import FileRecord, Photo, Root
from core.store.writing import run_transaction
from tests.helpers import scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

SAMPLES = Path(__file__).parents[1] / "fixtures" / "camera"
SIDECARS = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos"
SIDECAR = SIDECARS / "2024-06-01_wedding" / "IMG_0002.JPG.xmp"

RAW = "fujifilm_s5pro_stripped.RAF"
JPEG = "sony_slt-a58_small.jpg"
JUNK = "bad_html_named.JPG"


def _write(path: Path, sample: str, number: int) -> None:
    """A copy of a sample with bytes of its own after it: another picture, by its content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((SAMPLES / sample).read_bytes() + number.to_bytes(8, "little") * 4)


def _sidecar(path: Path, number: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SIDECAR.read_bytes() + f"<!-- {number} -->\n".encode())


def _build(library: Path) -> None:
    """Every pairing rule of core.media.grouping, and the names that look alike."""
    day = library / "2024" / "2024-06-01"
    count = 0

    def picture(path: Path, sample: str) -> None:
        nonlocal count
        count += 1
        _write(path, sample, count)

    def sidecar(path: Path) -> None:
        nonlocal count
        count += 1
        _sidecar(path, count)

    for number in range(1, 13):
        name = f"IMG_{number:04d}"
        if number % 4 != 0:
            picture(day / f"{name}.RAF", RAW)
        if number % 3 != 0:
            picture(day / f"{name}.JPG", JPEG)
        if number % 2:
            sidecar(day / f"{name}.RAF.xmp")
        if number in (1, 5, 8):
            sidecar(day / f"{name}_01.RAF.xmp")  # a duplicate's sidecar
            sidecar(day / f"{name}_02.RAF.xmp")
    picture(day / "IMG.RAF", RAW)  # every IMG_NNNN.RAF.xmp may be a duplicate's sidecar of it
    sidecar(day / "IMG_0002.xmp")  # Adobe-style
    picture(day / "img_0004.jpg", JPEG)  # IMG_0004's twin, in other case
    picture(day / "IMG_0005_01.JPG", JPEG)  # a photo whose own name has a version's suffix
    sidecar(day / "IMG_0005_01.JPG.xmp")
    picture(day / "IMG_0007.JPG", JUNK)  # an HTML page named like a photo (RAF stays alone)
    (day / "IMG_0010.CR2").write_bytes(b"")  # empty
    picture(day / "Été_0001.RAF", RAW)
    picture(day / "ÉTÉ_0001.JPG", JPEG)  # the same stem, in Python's lower case
    sidecar(day / "été_0001.RAF.xmp")
    for name in ("IMG_0001.jpg", "IMG_0001_01.jpg", "IMG_0002.jpg", "IMG_0005_01.jpg"):
        picture(day / "darktable_exported" / name, JPEG)
    picture(day / "darktable_exported" / "été_0001.jpg", JPEG)
    for name in ("IMG_0001.jpg", "DSC_0099.jpg"):  # one matches no photo: no exports
        picture(day / "mixed" / name, JPEG)
    picture(day / "raws" / "IMG_0002.RAF", RAW)  # a RAW: no exports
    picture(day / "raws" / "IMG_0002.jpg", JPEG)
    picture(day / "web" / "IMG_0003.jpg", JPEG)  # IMG_0003 is a RAW alone: an export of it
    # A year folder with photos of its own, whose subfolder holds their exports.
    year = library / "2024"
    for number in (1, 2):
        picture(year / f"SUMMER_{number}.JPG", JPEG)
    picture(year / "summer_web" / "SUMMER_1.jpg", JPEG)
    picture(year / "summer_web" / "SUMMER_2_01.jpg", JPEG)
    picture(library / "ROOT_1.JPG", JPEG)
    sidecar(library / "ROOT_1.JPG.xmp")


def _state() -> tuple[dict[str, tuple], int]:
    files = {f.rel_path: (f.photo_id, f.role) for f in FileRecord.select()}
    return files, Photo.select().count()


def _regroup_every_folder(media: MediaSync, root_id: int) -> None:
    folders = {os.path.dirname(f.rel_path) for f in FileRecord.select()}
    for folder in sorted(folders):
        run_transaction(media.db, lambda folder=folder: media.regroup(root_id, folder))


@pytest.mark.parametrize("batch", [1, 7, 64, 10_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_group_as_the_whole_folder_does(catalogue, library, tmp_path, batch, seed):
    _build(library)
    scan(catalogue, library, workers=1)
    root = Root.get()
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    files = [(f.id, str(library / f.rel_path)) for f in FileRecord.select()]
    random.Random(seed).shuffle(files)
    described = {d.path: d for d in describe_files([path for _, path in files])}
    for start in range(0, len(files), batch):
        chunk = files[start : start + batch]
        media.apply_descriptions(
            [described[path] for _, path in chunk], {path: file_id for file_id, path in chunk}
        )
        after_batch = _state()
        _regroup_every_folder(MediaSync(catalogue.db, media.settings), root.id)
        now = _state()
        changed = {k: (v, now[0].get(k)) for k, v in after_batch[0].items() if now[0].get(k) != v}
        assert now == after_batch, f"after files {start}..{start + len(chunk)}: {chunk} {changed}"
    files_now, _photos = _state()
    roles = {path: role for path, (_, role) in files_now.items()}
    day = "2024/2024-06-01/"
    # The rules themselves, once all is described (the same whatever the batches were).
    assert roles[day + "IMG_0001.RAF"] == "original"
    assert roles[day + "IMG_0001.JPG"] == "twin"
    assert roles[day + "IMG_0001.RAF.xmp"] == "sidecar"
    assert roles[day + "IMG_0001_01.RAF.xmp"] == "duplicate_sidecar"
    assert roles[day + "IMG_0002.xmp"] == "sidecar"
    assert roles[day + "img_0004.jpg"] == "twin"
    assert roles[day + "IMG_0005_01.JPG.xmp"] == "sidecar"
    assert roles[day + "IMG_0007.JPG"] is None
    assert roles[day + "ÉTÉ_0001.JPG"] == "twin"
    assert roles[day + "darktable_exported/IMG_0001_01.jpg"] == "export"
    assert roles[day + "darktable_exported/été_0001.jpg"] == "export"
    assert roles[day + "mixed/IMG_0001.jpg"] == "original"  # its own photo
    assert roles[day + "raws/IMG_0002.jpg"] == "twin"
    assert roles[day + "web/IMG_0003.jpg"] == "export"
    assert roles["2024/summer_web/SUMMER_2_01.jpg"] == "export"
    assert roles["ROOT_1.JPG.xmp"] == "sidecar"
    assert files_now[day + "IMG_0001_01.RAF.xmp"][0] == files_now[day + "IMG_0001.RAF"][0]


def test_a_sidecar_touched_alone_finds_its_photo(catalogue, library, tmp_path):
    """A sidecar described on its own (a file event: darktable wrote it) is placed by the
    photos of the names it can belong to, which were grouped long before."""
    _build(library)
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    pictures = [(f.id, str(library / f.rel_path)) for f in FileRecord.select()]
    media.apply_descriptions(describe_files([p for _, p in pictures]), {p: i for i, p in pictures})
    day = library / "2024" / "2024-06-01"
    _sidecar(day / "IMG_0002_01.RAF.xmp", 999)
    _sidecar(day / "IMG_0005.JPG.xmp", 998)
    scan(catalogue, library, workers=1)
    new = [
        (f.id, str(library / f.rel_path))
        for f in FileRecord.select().where(FileRecord.rel_path.endswith(".xmp"))
        if f.rel_path.endswith(("IMG_0002_01.RAF.xmp", "IMG_0005.JPG.xmp"))
    ]
    media.apply_descriptions(describe_files([p for _, p in new]), {p: i for i, p in new})
    files_now, _ = _state()
    duplicate = files_now["2024/2024-06-01/IMG_0002_01.RAF.xmp"]
    assert duplicate == (files_now["2024/2024-06-01/IMG_0002.RAF"][0], "duplicate_sidecar")
    sidecar = files_now["2024/2024-06-01/IMG_0005.JPG.xmp"]
    assert sidecar == (files_now["2024/2024-06-01/IMG_0005.JPG"][0], "sidecar")
    before = _state()
    _regroup_every_folder(MediaSync(catalogue.db, media.settings), Root.get().id)
    assert _state() == before
