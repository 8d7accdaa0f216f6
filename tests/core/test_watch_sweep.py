"""The sweep after a watch restart, over a large watched tree: chains of new folders made at
once or one after another, files written in them before their watch was added and after it,
all of them reported (and recorded, under the engine), and the sweep lists only the changed
part of the tree, never the 20,000-file library around it."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.config import WatchSettings, load_settings
from core.engine import Engine
from core.scan.ignore import IgnoreRules
from core.scan.watch import MTIME_SLACK_NS, Watcher, folders_for_changes
from core.store import open_catalogue
from core.store.models import FileRecord, Root, SyncRun

LIBRARY_FOLDERS = 200
LIBRARY_FILES_PER_FOLDER = 100  # 20,000 files, watched around the new folders
GAPS_MS = [0, 10, 1000]  # between one new folder and the next inside it
DEPTHS = [1, 2, 3, 4]
FILES_PER_FOLDER = 3  # written into each new folder before its watch, and again after
SETTLE = 0.3
QUIET_SECONDS = MTIME_SLACK_NS / 1e9 + 0.2  # older changes are no longer the sweep's concern


def wait_for(condition, timeout: float) -> bool:
    """Poll until ``condition()`` is true; False after ``timeout`` (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@dataclass
class Tree:
    """A root holding a large library, and when anything in it last changed."""

    root: Path
    last_change: float = field(default_factory=time.monotonic)

    def wait_quiet(self) -> None:
        """Until no folder's mtime is recent enough for a sweep to list it: whatever a sweep
        lists after this is in the changed area of the case."""
        time.sleep(max(0.0, self.last_change + QUIET_SECONDS - time.monotonic()))

    def case_folder(self, name: str) -> Path:
        """A folder of its own for a case, in a folder of the library (not the root)."""
        folder = self.root / "library" / "cases" / name
        folder.mkdir(parents=True)
        self.last_change = time.monotonic()
        return folder


def build_tree(root: Path) -> Tree:
    body = bytes(200)
    for folder_number in range(LIBRARY_FOLDERS):
        year = 2000 + folder_number // 50
        day = root / "library" / str(year) / f"{year}-{1 + folder_number % 50:03d}"
        day.mkdir(parents=True)
        for number in range(LIBRARY_FILES_PER_FOLDER):
            unique = (folder_number * LIBRARY_FILES_PER_FOLDER + number).to_bytes(8, "little")
            (day / f"DSC_{number:04d}.JPG").write_bytes(unique + body)
    (root / "library" / "cases").mkdir()
    return Tree(root)


def make_chain(
    parent: Path, depth: int, gap_ms: int, label: str, after_level: dict | None = None
) -> tuple[list[Path], dict]:
    """``depth`` new folders, each inside the one before, ``gap_ms`` apart, with files written
    into each right after it is made (before any watch can be on it); ``after_level``: {level:
    what to call once that level is made}. Returns the folders and {file path: monotonic time
    before it was opened}."""
    folders, written = [], {}
    folder = parent
    for level in range(1, depth + 1):
        folder = folder / f"level-{level}"
        folder.mkdir()
        folders.append(folder)
        for number in range(FILES_PER_FOLDER):
            path = folder / f"{label}_BEFORE_{level}_{number}.JPG"
            written[path] = time.monotonic()
            path.write_bytes(f"{label} before {level} {number}".encode())
        if level in (after_level or {}):
            after_level[level]()
        if gap_ms and level < depth:
            time.sleep(gap_ms / 1000)
    return folders, written


def write_after(folders: list[Path], label: str) -> dict:
    written = {}
    for level, folder in enumerate(folders, start=1):
        for number in range(FILES_PER_FOLDER):
            path = folder / f"{label}_AFTER_{level}_{number}.JPG"
            written[path] = time.monotonic()
            path.write_bytes(f"{label} after {level} {number}".encode())
    return written


# --- the watcher alone: what it reports, and what its sweeps list -----------------------------


@pytest.fixture(scope="module")
def watched_tree(tmp_path_factory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("sweep") / "root")


class Reports:
    """What a real watcher reported, as the engine takes it: the folders each report names,
    (rel_dir, recursive), with the time it came."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules = IgnoreRules()
        self.lock = threading.Lock()
        self.folders: list[tuple[float, str, bool]] = []
        self.trouble: list[str] = []

    def on_changes(self, root_path: str, paths: list[str]) -> None:
        at = time.monotonic()
        named = folders_for_changes(root_path, paths, self.rules)
        with self.lock:
            self.folders += [(at, rel, recursive) for rel, recursive in named]

    def on_folders(self, root_path: str, found: list[tuple[str, bool, int]]) -> None:
        at = time.monotonic()
        with self.lock:
            self.folders += [(at, rel, recursive) for rel, recursive, _changed in found]

    def on_trouble(self, kind: str, error: Exception) -> None:
        self.trouble.append(f"{kind}: {error}")

    def unreported(self, written: dict[Path, float]) -> list[str]:
        """Files no report named after they were written: a survey of what the reports name
        would not find them (the folder of the file, or a folder above it surveyed whole)."""
        with self.lock:
            reports = list(self.folders)
        missed = []
        for path, at in written.items():
            folder = str(path.parent.relative_to(self.root))
            if not any(
                when >= at
                and (
                    (rel == folder and not recursive)
                    or (recursive and (rel == "" or folder == rel or folder.startswith(rel + "/")))
                )
                for when, rel, recursive in reports
            ):
                missed.append(str(path.relative_to(self.root)))
        return missed


class StallOnce:
    """Holds the watcher thread up on the batch that names the trigger folder, as a loaded
    machine does between a batch and the watch's restart: whatever changes meanwhile is in no
    batch (the old watch goes with that batch), and only the sweep after the restart finds it."""

    def __init__(self, reports: Reports) -> None:
        self.reports = reports
        self.stalled = threading.Event()
        self.release = threading.Event()

    def __call__(self, root_path: str, paths: list[str]) -> None:
        self.reports.on_changes(root_path, paths)
        if not self.stalled.is_set() and any(path.endswith("trigger") for path in paths):
            self.stalled.set()
            self.release.wait(30)


def start_watcher(tree: Tree, reports: Reports, on_changes=None) -> Watcher:
    watcher = Watcher(
        [str(tree.root)],
        lambda _root: IgnoreRules(),
        WatchSettings(debounce_ms=50),
        on_changes=on_changes or reports.on_changes,
        on_trouble=reports.on_trouble,
        on_folders=reports.on_folders,
    )
    watcher.start()
    assert wait_for(lambda: watcher.watching, 30)
    return watcher


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("gap_ms", GAPS_MS)
def test_new_folder_chains_are_reported_and_the_sweep_lists_only_them(watched_tree, gap_ms, depth):
    """A chain of new folders, the first ones made while the watch restarts (the watcher held
    up on the batch before), the rest after it: files written into each before its watch is
    added and after are all reported, and the sweeps list only the chain and its parent."""
    tree = watched_tree
    parent = tree.case_folder(f"gap{gap_ms}-depth{depth}")
    tree.wait_quiet()
    reports = Reports(tree.root)
    stall = StallOnce(reports)
    watcher = start_watcher(tree, reports, on_changes=stall)
    started_ns = time.time_ns()
    try:
        assert str(parent) in watcher.watched
        (parent / "trigger").mkdir()
        assert stall.stalled.wait(30)
        label = f"G{gap_ms}D{depth}"
        made_in_the_gap = max(1, depth // 2)
        folders, written = make_chain(
            parent, depth, gap_ms, label, after_level={made_in_the_gap: stall.release.set}
        )
        stall.release.set()
        # Every new folder watched: the watch has restarted with them all.
        assert wait_for(lambda: all(str(f) in watcher.watched for f in folders), 30)
        written |= write_after(folders, label)
        wait_for(lambda: not reports.unreported(written), 30)
        sweeps = [sweep for sweep in watcher.sweeps if sweep.since_ns >= started_ns]
    finally:
        stall.release.set()
        watcher.stop()
        tree.last_change = time.monotonic()
    assert reports.unreported(written) == []
    assert reports.trouble == []
    # The folders made in the gap were in no batch: a sweep found them.
    assert any(str(folders[0]) in sweep.appeared for sweep in sweeps)
    changed_area = {str(parent), str(parent / "trigger")} | {str(folder) for folder in folders}
    listed = {folder for sweep in sweeps for folder in sweep.listed}
    assert listed <= changed_area, sorted(listed - changed_area)[:5]
    # The mtime of each watched folder is read, nothing more of the library.
    assert all(sweep.checked >= LIBRARY_FOLDERS for sweep in sweeps)


def test_a_folder_made_in_the_library_while_the_watch_restarts_is_found_by_the_sweep(
    watched_tree,
):
    """Made in a quiet library folder (not the new one's parent) between the batch that names
    a new folder and the restarted watch: only that folder's mtime says so, and the sweep
    lists that folder and the new one, no other."""
    tree = watched_tree
    parent = tree.case_folder("elsewhere")
    tree.wait_quiet()
    reports = Reports(tree.root)
    elsewhere = tree.root / "library" / "2001" / "2001-007"
    stall = StallOnce(reports)
    watcher = start_watcher(tree, reports, on_changes=stall)
    started_ns = time.time_ns()
    try:
        (parent / "trigger").mkdir()
        assert stall.stalled.wait(30)
        (elsewhere / "late").mkdir()
        written = {elsewhere / "late" / "LATE.JPG": time.monotonic()}
        (elsewhere / "late" / "LATE.JPG").write_bytes(b"written while the watch restarts")
        stall.release.set()
        assert wait_for(lambda: str(elsewhere / "late") in watcher.watched, 30)
        wait_for(lambda: not reports.unreported(written), 30)
        sweeps = [sweep for sweep in watcher.sweeps if sweep.since_ns >= started_ns]
    finally:
        stall.release.set()
        watcher.stop()
        tree.last_change = time.monotonic()
    assert reports.unreported(written) == []
    listed = {folder for sweep in sweeps for folder in sweep.listed}
    expected = {str(parent), str(parent / "trigger"), str(elsewhere), str(elsewhere / "late")}
    assert str(elsewhere) in listed and listed <= expected, sorted(listed - expected)[:5]
    assert any(str(elsewhere / "late") in sweep.appeared for sweep in sweeps)


# --- under the engine: every file recorded without the backstop -------------------------------


@pytest.fixture(scope="module")
def engine_tree(tmp_path_factory) -> Iterator[tuple[Engine, Tree]]:
    base = tmp_path_factory.mktemp("sweep-engine")
    tree = build_tree(base / "root")
    settings = load_settings(None, {"catalogue": str(base / "catalogue.db")})
    settings = dataclasses.replace(
        settings,
        # The backstop is far away: whatever is recorded is the watcher's doing.
        engine=dataclasses.replace(settings.engine, reconcile_hours=24 * 30),
        watch=dataclasses.replace(settings.watch, settle_seconds=SETTLE, debounce_ms=50),
    )
    with open_catalogue(settings.catalogue):
        Root.create(path=str(tree.root), added_at=time.time())
    running = Engine(settings)
    running.start()
    try:
        assert wait_for(lambda: SyncRun.select().where(SyncRun.kind == "startup").count(), 120)
        assert wait_for(lambda: running.watching.watcher and running.watching.watcher.watching, 30)
        yield running, tree
    finally:
        running.stop()


def recorded_under(root: Path, folder: Path) -> set[str]:
    prefix = str(folder.relative_to(root)) + "/"
    rows = FileRecord.select(FileRecord.rel_path).where(FileRecord.rel_path.startswith(prefix))
    return {rel for (rel,) in rows.tuples()}


@pytest.mark.parametrize("depth", [1, 4])
@pytest.mark.parametrize("gap_ms", GAPS_MS)
def test_new_folder_chains_are_recorded_under_the_engine(engine_tree, gap_ms, depth):
    running, tree = engine_tree
    parent = tree.case_folder(f"engine-gap{gap_ms}-depth{depth}")
    tree.wait_quiet()
    watcher = running.watching.watcher
    assert wait_for(lambda: str(parent) in watcher.watched, 30)
    started_ns = time.time_ns()
    label = f"E{gap_ms}D{depth}"
    folders, written = make_chain(parent, depth, gap_ms, label)
    assert wait_for(lambda: all(str(f) in watcher.watched for f in folders), 30)
    written |= write_after(folders, label)
    tree.last_change = time.monotonic()
    expected = {str(path.relative_to(tree.root)) for path in written}
    wait_for(lambda: recorded_under(tree.root, parent) >= expected, 60)
    assert sorted(expected - recorded_under(tree.root, parent)) == []
    assert watcher is running.watching.watcher  # the same watcher: no fallback, no restart
    sweeps = [sweep for sweep in watcher.sweeps if sweep.since_ns >= started_ns]
    assert sweeps, "the watch restarted for the new folders: a sweep follows each restart"
    changed_area = {str(parent)} | {str(folder) for folder in folders}
    listed = {folder for sweep in sweeps for folder in sweep.listed}
    assert listed <= changed_area, sorted(listed - changed_area)[:5]
