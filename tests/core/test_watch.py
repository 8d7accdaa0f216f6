"""The watcher's pieces without a watcher: which folders a change names, merging, settling."""

from __future__ import annotations

from pathlib import Path

from core.scan.ignore import IgnoreRules
from core.scan.watch import (
    PendingFolders,
    filesystem_type,
    folders_for_changes,
    limit_message,
    merge_folders,
    plan_folders,
)
from tests.helpers import write


def test_changed_file_names_its_folder_and_a_new_folder_is_surveyed_whole(tmp_path):
    root = tmp_path / "lib"
    write(root / "2024" / "a.JPG")
    write(root / "2025" / "new" / "b.JPG")
    write(root / "2024" / "@eaDir" / "x.jpg")
    changes = [
        root / "2024" / "a.JPG",
        root / "2024" / "gone.JPG",  # deleted: its folder
        root / "2025" / "new",  # a new folder: all of it
        root / "2025" / "new" / "b.JPG",  # covered by the new folder
        root / "2024" / "@eaDir" / "x.jpg",  # ignored
    ]
    folders = folders_for_changes(str(root), [str(p) for p in changes], IgnoreRules())
    assert folders == {("2024", False), ("2025/new", True)}


def test_merging_drops_folders_covered_by_a_whole_survey():
    merged = merge_folders(
        {("new", True), ("new/s1", True), ("new/s1", False), ("new", False), ("other", False)}
    )
    assert merged == {("new", True), ("other", False)}
    assert merge_folders({("", True), ("a", False), ("b", True)}) == {("", True)}


def test_plan_claims_the_current_subfolders_of_a_folder_surveyed_alone(tmp_path):
    root = tmp_path / "lib"
    write(root / "2024" / "d1" / "a.JPG")
    write(root / "2024" / "d2" / "b.JPG")
    write(root / "2024" / ".cache" / "c.JPG")
    plan = plan_folders(str(root), {("2024", False), ("2024/d1", True)}, IgnoreRules())
    assert plan == [("2024", False, ("d1", "d2")), ("2024/d1", True, ())]


def test_pending_folders_keep_the_first_due_time():
    pending = PendingFolders()
    pending.add(1, [("a", False)], due=10.0)
    pending.add(1, [("a", False)], due=12.0)  # a later change does not push it back
    pending.add(2, [("b", True)], due=11.0)
    assert pending.take_due(9.0) == {}
    assert pending.take_due(10.5) == {1: {("a", False)}}
    assert len(pending) == 1
    assert pending.take_due(11.0) == {2: {("b", True)}} and len(pending) == 0


def test_pending_folders_take_the_earlier_due_time_a_sweep_gives():
    """A sweep after a restart names a folder a while after it changed, with an earlier due
    time than the batch that named it since: the earlier one wins."""
    pending = PendingFolders()
    pending.add(1, [("new/shoot-1", True)], due=12.0)  # a batch, after the restart
    pending.add(1, [("new/shoot-1", True)], due=10.0)  # the sweep: it changed before that
    assert pending.take_due(10.5) == {1: {("new/shoot-1", True)}}


def test_filesystem_type_and_limit_message(tmp_path):
    assert filesystem_type(str(tmp_path))  # whatever it is here, it is known
    message = limit_message(8192, 5)
    assert "(8192)" in message and "fs.inotify.max_user_watches" in message
    assert "every 5 minutes" in message


def test_watcher_watches_each_scanned_folder_and_no_ignored_one(tmp_path):
    import threading
    import time

    from core.config import WatchSettings
    from core.scan.watch import Watcher

    root = tmp_path / "lib"
    for folder in ("2024/d1", "2024/@eaDir/x", ".thumbnails/big", "2024/d2"):
        (root / folder).mkdir(parents=True)
    seen: list[str] = []
    swept: list[str] = []
    arrived = threading.Event()

    def on_changes(root_path: str, paths: list[str]) -> None:
        seen.extend(paths)
        if any(p.endswith("IMG.JPG") for p in paths):
            arrived.set()

    watcher = Watcher(
        [str(root)],
        lambda _root: IgnoreRules(),
        WatchSettings(debounce_ms=50),
        on_changes=on_changes,
        on_trouble=lambda kind, error: seen.append(f"trouble {kind}"),
        on_folders=lambda root_path, found: swept.extend(rel for rel, _, _ in found),
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while not watcher.watched and time.monotonic() < deadline:
            time.sleep(0.05)
        relative = {str(p.relative_to(root)) for p in map(Path, watcher.watched) if p != root}
        assert relative == {"2024", "2024/d1", "2024/d2"}  # no @eaDir, no hidden folder

        (root / "2025" / "new").mkdir(parents=True)  # a new folder: the watch restarts
        while str(root / "2025" / "new") not in watcher.watched and time.monotonic() < deadline:
            time.sleep(0.05)
        assert str(root / "2025" / "new") in watcher.watched
        write(root / "2025" / "new" / "IMG.JPG", "in the new folder")
        assert arrived.wait(10)
    finally:
        watcher.stop()
    assert str(root / "2025" / "new" / "IMG.JPG") in seen
    assert not any(s.startswith("trouble") for s in seen)
