"""New-folder bursts under the engine's real watcher: every file is recorded without the
backstop reconcile, however the folders arrive (all at once, or one after another while the
watch restarts for the ones before)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_settings
from core.engine import Engine
from core.store import open_catalogue
from core.store.models import FileRecord, Root, SyncRun
from tests.helpers import catalogued, on_disk

SETTLE = 0.3
LIBRARY_FOLDERS = 40  # folders the watcher already watches, as a library's day folders
LIBRARY_FILES_PER_FOLDER = 25


def wait_for(condition, timeout: float) -> bool:
    """Poll until ``condition()`` is true; False after ``timeout`` (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def build_library(root: Path) -> None:
    for folder in range(LIBRARY_FOLDERS):
        day = root / "2024" / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        day.mkdir(parents=True)
        for number in range(LIBRARY_FILES_PER_FOLDER):
            (day / f"DSC_{number:04d}.JPG").write_bytes(f"{folder} {number}".encode())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    root = tmp_path / "library"
    build_library(root)
    settings = load_settings(None, {"catalogue": str(tmp_path / "catalogue.db")})
    settings = dataclasses.replace(
        settings,
        # The backstop is far away: whatever is recorded is the watcher's doing.
        engine=dataclasses.replace(settings.engine, reconcile_hours=24 * 30),
        watch=dataclasses.replace(settings.watch, settle_seconds=SETTLE, debounce_ms=50),
    )
    with open_catalogue(settings.catalogue):
        Root.create(path=str(root), added_at=time.time())
    running = Engine(settings)
    running.start()
    assert wait_for(lambda: SyncRun.select().where(SyncRun.kind == "startup").count(), 60)
    assert wait_for(lambda: running.states()["watcher"].status == "running", 20)
    assert wait_for(lambda: running.watching.watcher and running.watching.watcher.watching, 20)
    yield running, root
    running.stop()


def write_new_folders(root: Path, folders: int, files: int, gap_ms: int) -> int:
    """``folders`` new folders of ``files`` files each, one after another ``gap_ms`` apart
    (as a copy from a card goes); returns how many files were written."""
    for folder in range(folders):
        shoot = root / "new" / f"shoot-{folder:03d}"
        shoot.mkdir(parents=True)
        for number in range(files):
            with open(shoot / f"DSC_{folder:03d}{number:03d}.NEF", "wb") as handle:
                handle.write(os.urandom(64) + f"{folder} {number}".encode())
        if gap_ms:
            time.sleep(gap_ms / 1000)
    return folders * files


@pytest.mark.parametrize("gap_ms", [0, 20, 100])
@pytest.mark.parametrize("folders", [10, 60, 200])
def test_new_folders_burst_is_recorded_without_the_backstop(engine, folders, gap_ms):
    _running, root = engine
    written = write_new_folders(root, folders, files=10, gap_ms=gap_ms)
    everything = LIBRARY_FOLDERS * LIBRARY_FILES_PER_FOLDER + written
    wait_for(lambda: FileRecord.select().count() >= everything, 60)
    assert catalogued(root) == on_disk(root)


class StallOnNewFolder:
    """A path listener that holds the watcher thread up once, while it handles the batch that
    names a new folder: as a loaded machine does, between the batch and the watch's restart."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stalled = threading.Event()

    def __call__(self, paths: list[str]) -> None:
        if not self.stalled.is_set() and any(p.endswith("stall-here") for p in paths):
            self.stalled.set()
            time.sleep(self.seconds)


@pytest.mark.parametrize("stall_seconds", [0.2, 1.5, 3.0])
@pytest.mark.parametrize("files", [1, 100])
def test_files_written_while_the_watch_restarts_for_a_new_folder_are_recorded(
    engine, stall_seconds, files
):
    """Changes made between a batch that names a new folder and the restarted watch are in
    no batch (the old watch is dropped): the sweep after the restart must find them however
    long the watcher took to get there."""
    running, root = engine
    stall = StallOnNewFolder(stall_seconds)
    running.watching.path_listeners.append(stall)
    new_folder = root / "2024" / "stall-here"  # in a watched folder: its batch names it
    new_folder.mkdir()
    assert stall.stalled.wait(20)
    day = root / "2024" / "2024-01-01"  # a watched folder of the library
    for number in range(files):
        (day / f"LATE_{number:04d}.JPG").write_bytes(f"written during the stall {number}".encode())
        (new_folder / f"NEW_{number:04d}.JPG").write_bytes(b"%d" % number)
    everything = LIBRARY_FOLDERS * LIBRARY_FILES_PER_FOLDER + 2 * files
    wait_for(lambda: FileRecord.select().count() >= everything, stall_seconds + 20)
    assert catalogued(root) == on_disk(root)
