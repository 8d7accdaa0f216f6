"""The watcher's pieces without a watcher: which folders a change names, merging, settling."""

from __future__ import annotations

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
    assert pending.next_due() == 11.0 and len(pending) == 1


def test_filesystem_type_and_limit_message(tmp_path):
    assert filesystem_type(str(tmp_path))  # whatever it is here, it is known
    message = limit_message(8192, 5)
    assert "(8192)" in message and "fs.inotify.max_user_watches" in message
    assert "every 5 minutes" in message
