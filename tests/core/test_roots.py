"""A root's presence and identity: the mount table read in one place, the file system recorded
for a root, and scans that never remove anything from a root that is unmounted or another
drive in its place, on real folders and a real catalogue.

An unmount is made here by recording the mount point the root "had" (its own folder) while the
folder lies on the file system around it: exactly what a scan sees after a real unmount (those
run, with real mounts, in tests/faults/test_root_lifecycle.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from core.scan.ignore import IgnoreRules
from core.scan.mounts import device_name, mount_holding, parse_mountinfo
from core.scan.roots import FolderWatchIds, check_root, identify
from core.store import open_catalogue, queries
from core.store.models import Event, Root, UnreadableFolder
from tests.helpers import REPO, record_ids, root_for, scan, touch_later, write

MOUNTINFO = (
    b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    b"40 27 8:17 / /media/me/My\\040Drive rw - exfat /dev/sdb1 rw\n"
    b"41 27 0:50 / /media/me/My\\040Drive/tab\\011and\\134slash rw - tmpfs none rw\n"
    b"42 27 8:33 / /media/me/My\\040Drive rw shared:7 - ext4 /dev/sdc1 rw\n"
    b"this line is not a mount\n"
)


def test_the_mount_table_is_parsed_with_its_escapes_and_stacked_mounts():
    table = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in table] == [
        "/",
        "/media/me/My Drive",
        "/media/me/My Drive/tab\tand\\slash",
        "/media/me/My Drive",
    ]
    assert (table[1].device, table[1].fs_type, table[1].source) == ("8:17", "exfat", "/dev/sdb1")
    # The last mount on a point hides the ones below it; the innermost point holds a path.
    assert mount_holding("/media/me/My Drive/2024/a.jpg", table).device == "8:33"
    assert mount_holding("/media/me/My Drive/tab\tand\\slash/x", table).fs_type == "tmpfs"
    assert mount_holding("/media/me/My Drivers", table).mount_point == "/"


def test_a_folder_is_identified_by_its_device_and_the_mount_holding_it(tmp_path):
    identity = identify(str(tmp_path))
    assert identity.device == device_name(os.stat(tmp_path).st_dev)
    assert identity.mount_point == mount_holding(str(tmp_path)).mount_point
    assert identify(str(tmp_path / "nothing here")) is None


def test_a_folder_put_in_the_place_of_another_is_told_apart(tmp_path):
    ids = FolderWatchIds()
    try:
        folder = tmp_path / "root"
        folder.mkdir()
        first = ids.watch_id(str(folder))
        assert first is not None and ids.watch_id(str(folder)) == first
        # Renamed away, another folder made in its place (as a mount does): another id.
        folder.rename(tmp_path / "away")
        folder.mkdir()
        second = ids.watch_id(str(folder))
        assert second is not None and second != first
        assert ids.watch_id(str(tmp_path / "not there")) is None
    finally:
        ids.close()


def pretend_mounted(root: Root) -> None:
    """Record the root as if its own folder had been a mount point when it was added."""
    root.device, root.mount_point = "0:999", root.path
    root.save()


def test_an_unmounted_root_goes_offline_even_with_a_stray_file(catalogue, library):
    write(library / "2024" / "a.jpg", "a")
    write(library / "2024" / "b.jpg", "b")
    assert scan(catalogue, library).status == "completed"
    ids = record_ids(library)
    pretend_mounted(root_for(library))
    # What the bare mount point holds after the unmount: nothing of the drive, a stray file.
    for path in library.rglob("*.jpg"):
        path.unlink()
    write(library / "stray.txt", "left in the mount point")

    report = scan(catalogue, library)
    root = Root.get(Root.path == str(library))
    assert report.status == "partial" and report.files_removed == 0
    assert root.state == "offline" and "is not mounted" in root.state_reason
    assert record_ids(library) == ids
    # The watcher's realtime run of the top folder removes nothing either.
    report = scan(catalogue, library, workers=1, kind="realtime", folders=[("", False, ("2024",))])
    assert (report.status, report.files_removed) == ("partial", 0)
    assert record_ids(library) == ids
    assert [e.kind for e in Event.select().where(Event.kind == "removed")] == []


def test_the_same_drive_under_a_new_device_number_comes_back_and_is_recorded(catalogue, library):
    for n in range(20):
        write(library / "shoot" / f"IMG_{n:02d}.jpg", f"photo {n}")
    scan(catalogue, library)
    ids = record_ids(library)
    root = root_for(library)
    now = identify(str(library))
    assert (root.device, root.mount_point) == (now.device, now.mount_point)
    root.device = "0:999"  # plugged in again, numbered anew: all its files are there
    root.save()
    check = check_root(root, IgnoreRules(()))
    assert check.offline_reason is None

    report = scan(catalogue, library)
    assert (report.status, report.files_removed, report.files_added) == ("completed", 0, 0)
    assert Root.get(Root.path == str(library)).device == now.device
    assert record_ids(library) == ids


def test_another_drive_in_the_roots_place_goes_offline_until_accepted(catalogue, library):
    for n in range(20):
        write(library / "shoot" / f"IMG_{n:02d}.jpg", f"photo {n}")
    scan(catalogue, library)
    ids = record_ids(library)
    root = root_for(library)
    root.device = "0:999"
    root.save()
    # Another card with the same folder and names: the files are not these.
    for n in range(20):
        touch_later(write(library / "shoot" / f"IMG_{n:02d}.jpg", f"other card {n}"))

    report = scan(catalogue, library)
    root = Root.get(Root.path == str(library))
    assert (report.status, report.files_removed, report.files_updated) == ("partial", 0, 0)
    assert root.state == "offline" and "another file system" in root.state_reason
    assert "--accept-empty" in root.state_reason
    assert record_ids(library) == ids

    report = scan(catalogue, library, accept_empty=True)
    assert (report.status, report.files_updated) == ("completed", 20)
    assert Root.get(Root.path == str(library)).device == identify(str(library)).device


def test_a_root_from_before_schema_8_gets_its_file_system_recorded_when_seen_online(
    catalogue, library
):
    write(library / "a.jpg", "a")
    Root.create(path=str(library), added_at=time.time())  # as an older catalogue has it
    scan(catalogue, library)
    root = Root.get(Root.path == str(library))
    now = identify(str(library))
    assert (root.device, root.mount_point) == (now.device, now.mount_point)


def test_folders_that_cannot_be_read_are_remembered_until_a_run_reads_them(catalogue, library):
    root = root_for(library)
    queries.note_folders_read(
        root.id, [("", True)], [("2024/b", "permission denied"), ("2024/c", "x")], 1.0
    )
    # Runs of other folders, and of the parent alone, leave them unread.
    queries.note_folders_read(root.id, [("2024/a", True), ("2024", False)], [], 2.0)
    assert [rel for rel, _ in queries.unreadable_folders(root.id)] == ["2024/b", "2024/c"]
    # A run that reads one (the folder itself, or a tree holding it) forgets it...
    queries.note_folders_read(root.id, [("2024/b", True)], [], 3.0)
    assert queries.unreadable_folders(root.id) == [("2024/c", "x")]
    # ...unless it could not read it again.
    queries.note_folders_read(root.id, [("", True)], [("2024/c", "still denied")], 4.0)
    assert queries.unreadable_folders(root.id) == [("2024/c", "still denied")]
    queries.note_folders_read(root.id, [("", True)], [], 5.0)
    assert UnreadableFolder.select().count() == 0


def _cli(catalogue_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--db", str(catalogue_path), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_add_records_the_file_system_and_status_names_unreadable_folders(tmp_path, library):
    catalogue_path = tmp_path / "cli" / "catalogue.db"
    write(library / "2024" / "a" / "A.JPG", "a")
    assert _cli(catalogue_path, "add", str(library)).returncode == 0
    assert _cli(catalogue_path, "scan").returncode == 0
    done = _cli(catalogue_path, "status", "--json")
    assert done.returncode == 0, done.stdout
    (root,) = json.loads(done.stdout)["roots"]
    now = identify(str(library))
    assert (root["device"], root["mount_point"]) == (now.device, now.mount_point)

    # A folder found unreadable by an earlier run, not read since: the last run completed,
    # and status still needs attention.
    with open_catalogue(catalogue_path):
        root_id = Root.get().id
        queries.note_folders_read(root_id, [], [("2024/b", "permission denied")], time.time())
    done = _cli(catalogue_path, "status", "--json")
    status = json.loads(done.stdout)
    assert done.returncode == 1 and not status["healthy"]
    assert status["roots"][0]["last_run"]["status"] == "completed"
    assert any("2024/b: permission denied" in p for p in status["problems"])
