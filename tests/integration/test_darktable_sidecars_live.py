"""Sidecar write-back through the REAL darktable: shootwatch decides about photos (some with
darktable's own sidecars, from the 4.2 fixture), writes the decisions into their sidecars, and
then darktable 4.2 imports the folder headless (Xvfb, darktable_import.lua) into a new library.
What darktable's library.db says afterwards (stars, reject, every colour label) must be what
the catalogue says; and darktable's own rewrite of each sidecar reads back the same.

Run it with

    SHOOTWATCH_REQUIRE_DARKTABLE=1 python3 -m pytest tests/integration -k sidecars

It needs darktable (4.2), xvfb-run and xauth; without them it is skipped, unless
SHOOTWATCH_REQUIRE_DARKTABLE=1 is set (CI sets it): then it fails and says what is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.darktable.facts import is_rejected, label_bits, stars
from core.darktable.sidecar import read_sidecar
from core.media.photos import MediaSync
from core.store.models import FileRecord, Photo
from core.triage.decisions import Triage
from tests.helpers import scan

REQUIRE_ENV = "SHOOTWATCH_REQUIRE_DARKTABLE"
REQUIRED = os.environ.get(REQUIRE_ENV) == "1"
TOOLS = ("darktable", "xvfb-run", "xauth")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
WEDDING = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos" / "2024-06-01_wedding"
IMPORT_SCRIPT = Path(__file__).with_name("darktable_import.lua")
DARKTABLE_LIMIT = 90.0  # the import of six photos takes a few seconds; a start this slow hung
RED, YELLOW, GREEN, BLUE, PURPLE = 1, 2, 4, 8, 16

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING) and not REQUIRED,
        reason=f"needs {', '.join(MISSING)} (set {REQUIRE_ENV}=1 to fail instead of skipping)",
    ),
]


def darktable_import(folder: Path, home: Path) -> sqlite3.Connection:
    """darktable imports ``folder`` into a new library under ``home``, reading the sidecars,
    and quits; the library, opened read-only. Tried twice: darktable 4.2 under Xvfb now and
    then hangs while it starts (see test_darktable_live)."""
    library = home / "config" / "library.db"
    for attempt in (1, 2):
        out = home / f"run-{attempt}"
        out.mkdir(parents=True)
        (home / "config").mkdir(exist_ok=True)
        command = [
            "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
            "darktable",
            "--library", str(library),
            "--configdir", str(home / "config"),
            "--cachedir", str(home / "cache"),
            "--disable-opencl",
            "--conf", "lua/_scripts_install/dont_show=TRUE",
            "--conf", "write_sidecar_files=on import",
            "--luacmd", f"dofile('{IMPORT_SCRIPT}')",
        ]  # fmt: skip
        environment = dict(os.environ, SHOOTWATCH_DT_OUT=str(out), SHOOTWATCH_DT_IMPORT=str(folder))
        with (out / "darktable.log").open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                start_new_session=True,
            )  # fmt: skip
            try:
                process.wait(timeout=DARKTABLE_LIMIT)
            except subprocess.TimeoutExpired:
                pass
            finally:
                _end(process)
        done = out / "done"
        if done.exists():
            assert done.read_text() == "ok", (out / "darktable.log").read_text()[-2000:]
            return sqlite3.connect(f"file:{library}?mode=ro", uri=True)
        for stale in (home / "config").glob("*.lock"):
            stale.unlink()
    raise AssertionError("darktable did not import the folder (hung twice while starting)")


def _end(process: subprocess.Popen) -> None:
    """Whatever is left of the process group this test started (xvfb-run, Xvfb, darktable)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def darktable_view(library: sqlite3.Connection) -> dict[str, tuple[bool, int | None, int]]:
    """filename -> (rejected, stars or None when rejected, label bits), as library.db says."""
    view = {}
    for image_id, filename, flags in library.execute("SELECT id, filename, flags FROM images"):
        colors = [c for (c,) in library.execute(
            "SELECT color FROM color_labels WHERE imgid = ?", (image_id,)
        )]  # fmt: skip
        rejected = is_rejected(flags)
        view[filename] = (rejected, None if rejected else stars(flags), label_bits(colors))
    return view


def catalogue_view() -> dict[str, tuple[bool, int | None, int]]:
    view = {}
    for record in FileRecord.select().where(FileRecord.role == "original"):
        photo = Photo.get_by_id(record.photo_id)
        rejected = photo.decision == "rejected"
        view[record.rel_path] = (rejected, None if rejected else photo.rating, photo.labels)
    return view


@pytest.mark.parametrize("names", ["darktable", "both"])
def test_darktable_imports_what_shootwatch_wrote(catalogue, tmp_path: Path, names: str):
    if MISSING:
        pytest.fail(
            f"{REQUIRE_ENV}=1 but {', '.join(MISSING)} not found on PATH: install darktable, "
            "xvfb and xauth (Debian: apt-get install darktable xvfb xauth)"
        )
    library = tmp_path / "photos"
    library.mkdir()
    for number in range(1, 7):
        shutil.copy(WEDDING / f"IMG_000{number}.JPG", library)
    for number in (2, 3, 4, 5, 6):  # IMG_0001 has none: shootwatch makes it
        shutil.copy(WEDDING / f"IMG_000{number}.JPG.xmp", library)
    # IMG_0006's was touched by another tool: an xmp:Label beside darktable's (no) labels
    sidecar = library / "IMG_0006.JPG.xmp"
    sidecar.write_bytes(
        sidecar.read_bytes().replace(b"xmp:Rating=", b'xmp:Label="Red"\n   xmp:Rating=')
    )
    for path in library.iterdir():
        path.chmod(0o644)
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    photo = {
        r.rel_path: r.photo_id for r in FileRecord.select().where(FileRecord.role == "original")
    }

    triage = Triage(catalogue.db, write_sidecars=True, sidecar_names=names)
    assert triage.rate(photo["IMG_0001.JPG"], 4).warning is None  # a new sidecar
    triage.toggle_label(photo["IMG_0001.JPG"], RED)
    triage.toggle_label(photo["IMG_0001.JPG"], BLUE)
    triage.decide(photo["IMG_0002.JPG"], "approved")  # darktable's 4 stars and red stay
    triage.decide(photo["IMG_0003.JPG"], "rejected")
    triage.decide(photo["IMG_0004.JPG"], "rejected")
    triage.decide(photo["IMG_0004.JPG"], "approved")  # its 5 stars back
    triage.toggle_label(photo["IMG_0004.JPG"], PURPLE)  # green, blue and purple
    before_undo = (library / "IMG_0005.JPG.xmp").read_bytes()
    triage.rate(photo["IMG_0005.JPG"], 2)
    triage.undo()
    assert (library / "IMG_0005.JPG.xmp").read_bytes() == before_undo
    assert not (library / "IMG_0005.xmp").exists()  # made by the rating, gone with its undo
    triage.toggle_label(photo["IMG_0006.JPG"], YELLOW)  # red (its xmp:Label) and yellow
    expected = catalogue_view()
    assert expected == {
        "IMG_0001.JPG": (False, 4, RED | BLUE),
        "IMG_0002.JPG": (False, 4, RED),
        "IMG_0003.JPG": (True, None, YELLOW),
        "IMG_0004.JPG": (False, 5, GREEN | BLUE | PURPLE),
        "IMG_0005.JPG": (False, 0, PURPLE),
        "IMG_0006.JPG": (False, 2, RED | YELLOW),
    }
    assert stat_mode(library / "IMG_0001.JPG.xmp") == 0o644
    adobe = sorted(path.name for path in library.glob("IMG_000?.xmp"))
    # No IMG_0002.xmp: its approval alone (a pick) makes no sidecar; its darktable one has it
    assert adobe == ([f"IMG_000{n}.xmp" for n in (1, 3, 4, 6)] if names == "both" else [])
    picks = {"IMG_0002.JPG": 3, "IMG_0003.JPG": 1, "IMG_0004.JPG": 3}  # digiKam's PickLabel
    assert {name: read_sidecar(library / f"{name}.xmp").pick for name in expected} == {
        name: picks.get(name) for name in expected
    }

    darktable = darktable_view(darktable_import(library, tmp_path / "darktable"))
    assert darktable == expected
    # darktable rewrote each sidecar on import ("on import"): shootwatch reads the same back
    for name, (rejected, rating, labels) in expected.items():
        state = read_sidecar(library / f"{name}.xmp")
        assert (state.rejected, state.darktable_labels) == (rejected, labels), name
        if not rejected:
            assert state.rating == rating, name
        # darktable keeps a field it does not know (digiKam's pick) when it rewrites its sidecar
        assert state.pick == picks.get(name), name


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
