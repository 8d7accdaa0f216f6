"""The reconciler on real folder trees and a real catalogue file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from core.config import ScanSettings
from core.scan.ignore import IgnoreRules
from core.scan.reconcile import ScanError, SurveyPool, plan_surveys, reconcile_roots
from core.store.models import Event, FileRecord, Root, SyncRun
from tests.helpers import (
    b3,
    catalogued,
    on_disk,
    record_ids,
    root_for,
    run_cli_without_file_permissions_bypass,
    scan,
    touch_later,
    write,
)
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def events(kind: str) -> list[Event]:
    return list(Event.select().where(Event.kind == kind).order_by(Event.id))


def make_shoot(library: Path, days: int = 3, per_day: int = 4) -> None:
    for day in range(1, days + 1):
        for n in range(per_day):
            write(library / "2024" / f"2024-05-0{day}" / f"IMG_{day}{n:03d}.CR2", f"raw {day} {n}")


@pytest.mark.parametrize("workers", [1, 2])
def test_first_scan_records_every_file_with_its_blake3(catalogue, library, workers):
    make_shoot(library)
    write(library / "loose.jpg", "at the top")

    report = scan(catalogue, library, workers=workers)

    assert report.status == "completed"
    assert report.files_added == report.files_scanned == report.files_hashed == 13
    assert catalogued(library) == on_disk(library)
    record = FileRecord.get(FileRecord.rel_path == "2024/2024-05-01/IMG_1000.CR2")
    assert record.blake3 == b3(library / record.rel_path)
    assert record.kind == "raw" and record.error is None
    assert FileRecord.get(FileRecord.rel_path == "loose.jpg").kind == "jpeg"
    # The first index of a root is one summary event, not one per file.
    assert [e.kind for e in Event.select()] == ["indexed"]
    assert json.loads(events("indexed")[0].payload)["files"] == 13


def test_unchanged_tree_hashes_nothing_and_writes_no_events(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    event_count = Event.select().count()

    report = scan(catalogue, library)

    assert (report.files_scanned, report.files_hashed, report.bytes_hashed) == (12, 0, 0)
    assert report.files_added == report.files_updated == report.files_removed == 0
    assert Event.select().count() == event_count


def test_modified_file_is_hashed_again(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    target = library / "2024" / "2024-05-02" / "IMG_2001.CR2"
    record_id = record_ids(library)["2024/2024-05-02/IMG_2001.CR2"]
    target.write_bytes(b"edited in place, longer than before")
    touch_later(target)

    report = scan(catalogue, library)

    assert (report.files_updated, report.files_hashed, report.files_added) == (1, 1, 0)
    record = FileRecord.get_by_id(record_id)
    assert record.blake3 == b3(target) and record.size == target.stat().st_size
    assert [e.path for e in events("modified")] == ["2024/2024-05-02/IMG_2001.CR2"]


def test_deleted_file_is_removed_with_an_event(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    gone = library / "2024" / "2024-05-03" / "IMG_3002.CR2"
    digest = b3(gone)
    gone.unlink()

    report = scan(catalogue, library)

    assert report.files_removed == 1 and report.status == "completed"
    assert "2024/2024-05-03/IMG_3002.CR2" not in catalogued(library)
    (event,) = events("removed")
    assert event.path == "2024/2024-05-03/IMG_3002.CR2"
    assert json.loads(event.payload)["blake3"] == digest


def test_renamed_file_keeps_its_record(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    before = record_ids(library)["2024/2024-05-01/IMG_1001.CR2"]
    (library / "2024" / "2024-05-01" / "IMG_1001.CR2").rename(
        library / "2024" / "2024-05-01" / "wedding-first-kiss.CR2"
    )

    report = scan(catalogue, library)

    assert (report.files_moved, report.files_added, report.files_removed) == (1, 0, 0)
    assert record_ids(library)["2024/2024-05-01/wedding-first-kiss.CR2"] == before
    (event,) = events("moved")
    assert json.loads(event.payload) == {"from": "2024/2024-05-01/IMG_1001.CR2"}


def test_renamed_folder_moves_every_file_and_keeps_identity(catalogue, library):
    for n in range(60):
        write(library / "2024" / "2024-06-01" / f"DSC_{n:04d}.NEF", f"frame {n}")
    write(library / "2024" / "2024-06-02" / "other.NEF", "another day")
    scan(catalogue, library)
    before = record_ids(library)

    (library / "2024" / "2024-06-01").rename(library / "2024" / "2024-06-01 wedding")
    report = scan(catalogue, library)

    assert (report.files_moved, report.files_added, report.files_removed) == (60, 0, 0)
    after = record_ids(library)
    for n in range(60):
        name = f"DSC_{n:04d}.NEF"
        assert after[f"2024/2024-06-01 wedding/{name}"] == before[f"2024/2024-06-01/{name}"]
    assert catalogued(library) == on_disk(library)


def test_renamed_file_keeps_its_record_when_a_new_file_takes_its_old_name(catalogue, library):
    # A keeper is renamed, then the next card brings a new IMG_0001.JPG into the same folder.
    write(library / "card" / "IMG_0001.JPG", "first shoot")
    scan(catalogue, library)
    keeper = record_ids(library)["card/IMG_0001.JPG"]
    (library / "card" / "IMG_0001.JPG").rename(library / "card" / "keeper.JPG")
    write(library / "card" / "IMG_0001.JPG", "second shoot, same camera counter")
    touch_later(library / "card" / "IMG_0001.JPG")

    report = scan(catalogue, library)

    assert (report.files_moved, report.files_added, report.files_updated) == (1, 1, 0)
    ids = record_ids(library)
    assert ids["card/keeper.JPG"] == keeper and ids["card/IMG_0001.JPG"] != keeper
    assert catalogued(library) == on_disk(library)


def test_swapped_names_swap_records(catalogue, library):
    write(library / "a.JPG", "picture a")
    write(library / "b.JPG", "picture b, longer")
    scan(catalogue, library)
    before = record_ids(library)
    (library / "a.JPG").rename(library / "tmp")
    (library / "b.JPG").rename(library / "a.JPG")
    (library / "tmp").rename(library / "b.JPG")

    report = scan(catalogue, library)

    assert (report.files_moved, report.files_added, report.files_removed) == (2, 0, 0)
    assert record_ids(library) == {"a.JPG": before["b.JPG"], "b.JPG": before["a.JPG"]}
    assert catalogued(library) == on_disk(library)


def test_a_copy_is_added_and_the_original_stays(catalogue, library):
    write(library / "a" / "IMG_1.JPG", "same picture")
    scan(catalogue, library)
    original = record_ids(library)["a/IMG_1.JPG"]
    shutil.copy2(library / "a" / "IMG_1.JPG", library / "a" / "IMG_1 copy.JPG")

    report = scan(catalogue, library)

    assert (report.files_added, report.files_moved) == (1, 0)
    assert record_ids(library)["a/IMG_1.JPG"] == original


def test_whole_folder_deleted_deep_in_the_tree_is_removed(catalogue, library):
    # Records below a folder that no longer exists are found through the parent's survey.
    for year in range(2015, 2025):
        for day in range(3):
            write(library / str(year) / f"{year}-01-0{day + 1}" / "IMG.CR2", f"{year} {day}")
    scan(catalogue, library)
    shutil.rmtree(library / "2019")
    shutil.rmtree(library / "2021" / "2021-01-02")

    report = scan(catalogue, library)

    assert report.files_removed == 4
    assert catalogued(library) == on_disk(library)


def test_missing_root_goes_offline_keeps_records_and_comes_back(catalogue, tmp_path):
    library = tmp_path / "external-drive"
    make_shoot(library)
    scan(catalogue, library)
    before = catalogued(library)
    library.rename(tmp_path / "unplugged")

    report = scan(catalogue, library)

    assert report.status == "partial" and "missing" in report.error
    assert report.files_removed == 0
    assert catalogued(library) == before
    root = Root.get(Root.path == str(library))
    assert root.state == "offline" and "unplugged" in root.state_reason
    assert [e.kind for e in events("root_offline")] == ["root_offline"]

    (tmp_path / "unplugged").rename(library)
    report = scan(catalogue, library)

    assert report.status == "completed" and report.files_hashed == 0
    assert catalogued(library) == before
    assert Root.get(Root.path == str(library)).state == "online"
    assert len(events("root_online")) == 1


def test_root_that_is_suddenly_empty_goes_offline_and_keeps_records(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    before = catalogued(library)
    # What an unmounted drive looks like: the mount point is still there, with nothing in it.
    shutil.rmtree(library)
    library.mkdir()

    report = scan(catalogue, library)

    assert report.status == "partial" and "empty" in report.error
    assert report.files_removed == 0 and catalogued(library) == before
    assert Root.get(Root.path == str(library)).state == "offline"

    report = scan(catalogue, library, accept_empty=True)

    assert report.status == "completed" and report.files_removed == 12
    assert catalogued(library) == {}


def test_root_replaced_by_a_file_goes_offline(catalogue, tmp_path):
    library = tmp_path / "lib"
    make_shoot(library)
    scan(catalogue, library)
    shutil.rmtree(library)
    write(library, "not a folder")

    report = scan(catalogue, library)

    assert report.status == "partial" and "not a folder" in report.error
    assert len(catalogued(library)) == 12


def test_unreadable_root_goes_offline_and_keeps_records(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    before = catalogued(library)
    library.chmod(0)
    try:
        result = run_cli_without_file_permissions_bypass(
            "--db", str(catalogue.location), "scan", "--json", str(library)
        )
    finally:
        library.chmod(0o755)

    assert result.returncode == 1, result.stderr
    (report,) = json.loads(result.stdout)
    assert report["status"] == "partial" and "permission denied" in report["error"]
    assert catalogued(library) == before
    assert Root.get(Root.path == str(library)).state == "offline"


def test_unreadable_folder_makes_the_scan_partial_and_removes_nothing(catalogue, library):
    make_shoot(library)
    scan(catalogue, library)
    (library / "2024" / "2024-05-01" / "IMG_1000.CR2").unlink()  # really deleted
    locked = library / "2024" / "2024-05-02"
    locked.chmod(0)
    try:
        result = run_cli_without_file_permissions_bypass(
            "--db", str(catalogue.location), "scan", "--json"
        )
    finally:
        locked.chmod(0o755)

    assert result.returncode == 1, result.stderr
    (report,) = json.loads(result.stdout)
    assert report["status"] == "partial"
    assert "2024/2024-05-02: permission denied" in report["error"]
    assert report["files_removed"] == 0
    assert len(catalogued(library)) == 12  # nothing removed, not even the deleted file
    (event,) = events("unreadable")
    assert event.path == "2024/2024-05-02"

    report = scan(catalogue, library)  # readable again: now the deletion is taken
    assert report.status == "completed" and report.files_removed == 1


def test_unreadable_file_is_recorded_with_its_reason_and_the_scan_goes_on(catalogue, library):
    make_shoot(library)
    secret = write(library / "2024" / "2024-05-01" / "locked.CR2", "no entry")
    root_for(library)
    secret.chmod(0)
    try:
        result = run_cli_without_file_permissions_bypass(
            "--db", str(catalogue.location), "scan", "--json", str(library)
        )
    finally:
        secret.chmod(0o644)

    assert result.returncode == 1, result.stderr  # done, but a file needs attention
    (report,) = json.loads(result.stdout)
    assert report["status"] == "completed"
    assert report["files_added"] == 13 and report["files_unreadable"] == 1
    record = FileRecord.get(FileRecord.rel_path == "2024/2024-05-01/locked.CR2")
    assert record.blake3 is None and record.error == "permission denied"
    assert events("unreadable")[0].path == "2024/2024-05-01/locked.CR2"

    # Readable again: the next scan hashes it although its size and mtime did not change.
    report = scan(catalogue, library)
    record = FileRecord.get_by_id(record.id)
    assert report.files_updated == 1 and record.blake3 == b3(secret) and record.error is None


def test_file_growing_while_hashed_is_never_recorded_half_written(catalogue, library):
    growing = write(library / "card" / "VID_0001.MP4", os.urandom(1 << 20))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "with open(sys.argv[1], 'ab', buffering=0) as f:\n"
            "    while True:\n"
            "        f.write(b'x' * 65536); time.sleep(0.002)\n",
            str(growing),
        ]
    )
    try:
        while growing.stat().st_size < 24 << 20:  # big enough that one hash takes a while
            time.sleep(0.01)
        report = scan(catalogue, library, hash_retries=2)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()

    record = FileRecord.get(FileRecord.rel_path == "card/VID_0001.MP4")
    if record.blake3 is not None:
        # The writer was held up (a loaded machine) for as long as one whole hash: what was
        # recorded is then the file as it stood, its first record.size bytes, never a mix.
        with growing.open("rb") as handle:
            assert record.blake3 == blake3.blake3(handle.read(record.size)).hexdigest()
    else:
        assert "kept changing while being hashed" in record.error
        assert report.files_unreadable == 1

    report = scan(catalogue, library)  # the copy has finished
    record = FileRecord.get_by_id(record.id)
    assert record.blake3 == b3(growing) and record.size == growing.stat().st_size
    assert record.error is None


def test_large_files_hash_in_workers_forked_after_a_large_hash(catalogue, library):
    # blake3's process-wide thread pool does not survive a fork: hashing a large file here
    # first, then in the scan's forked workers, must not deadlock.
    from core.scan.hashing import LARGE_FILE_BYTES, hash_file

    first = write(library / "a" / "VID_1.MOV", os.urandom(LARGE_FILE_BYTES + 1))
    second = write(library / "b" / "VID_2.MOV", os.urandom(LARGE_FILE_BYTES + 2))
    assert hash_file(str(first)).blake3 == b3(first)

    report = scan(catalogue, library, workers=2)

    assert report.files_hashed == 2 and catalogued(library) == on_disk(library)
    assert b3(second) == catalogued(library)["b/VID_2.MOV"][1]


def test_ignore_rules_leave_out_builtin_and_user_patterns(catalogue, library):
    kept = [
        "2024/IMG_0001.CR2",
        "2024/IMG_0001.CR2.xmp",
        "2024/notes.txt",
    ]
    left_out = [
        ".hidden/IMG.CR2",
        "2024/.IMG_0002.CR2",
        "2024/IMG_0003.CR2~",
        "2024/IMG_0004.CR2.tmp",
        "2024/IMG_0005.CR2.part",
        "2024/.DS_Store",
        "2024/Thumbs.db",
        "2024/@eaDir/IMG_0001.CR2/SYNOPHOTO_THUMB_XL.jpg",
        "2024/old.bak",
        "Exports/web/IMG_0001.jpg",
    ]
    for rel in kept + left_out:
        write(library / rel, rel)

    report = scan(catalogue, library, ignore=("*.bak", "Exports/"))

    assert sorted(catalogued(library)) == sorted(kept)
    assert report.files_scanned == len(kept)


def test_new_ignore_pattern_drops_the_records_it_now_covers(catalogue, library):
    write(library / "keep" / "a.CR2", "a")
    write(library / "Exports" / "a.jpg", "export")
    scan(catalogue, library)

    report = scan(catalogue, library, ignore=("Exports/",))

    assert report.files_removed == 1 and sorted(catalogued(library)) == ["keep/a.CR2"]


def test_catalogue_inside_a_root_is_not_catalogued(tmp_path):
    from core.store import open_catalogue

    library = tmp_path / "photos"
    write(library / "IMG_1.JPG", "photo")
    with open_catalogue(library / "catalogue.db") as inside:
        scan(inside, library)
        scan(inside, library)  # the WAL and shm files exist by now
        assert sorted(catalogued(library)) == ["IMG_1.JPG"]


def test_symlinks_fifos_and_sockets_are_passed_over(catalogue, library, tmp_path):
    write(library / "real.JPG", "real")
    outside = write(tmp_path / "outside" / "elsewhere.JPG", "outside")
    (library / "link.JPG").symlink_to(outside)
    (library / "loop").symlink_to(library)
    os.mkfifo(library / "pipe.JPG")

    report = scan(catalogue, library)

    assert report.status == "completed"
    assert sorted(catalogued(library)) == ["real.JPG"]


def test_name_that_is_not_utf8_is_reported_not_recorded(catalogue, library):
    write(library / "ok.JPG", "fine")
    raw_library = os.fsencode(library)
    with open(os.path.join(raw_library, b"bad-\xff.JPG"), "wb") as handle:
        handle.write(b"bytes")
    os.makedirs(os.path.join(raw_library, b"2024", b"folder-\xfe"))
    with open(os.path.join(raw_library, b"2024", b"folder-\xfe", b"IMG.JPG"), "wb") as handle:
        handle.write(b"inside a folder with a bad name")

    report = scan(catalogue, library)

    assert report.status == "completed" and report.files_unreadable == 2
    assert sorted(catalogued(library)) == ["ok.JPG"]
    reasons = {e.path: json.loads(e.payload)["reason"] for e in events("unreadable")}
    assert reasons == {
        "bad-\\xff.JPG": "name is not valid UTF-8: rename the file to record it",
        "2024/folder-\\xfe": "folder name is not valid UTF-8: rename it to record its files",
    }


def test_sync_runs_are_recorded_with_their_counts(catalogue, library):
    make_shoot(library, days=1, per_day=3)
    scan(catalogue, library)
    (library / "2024" / "2024-05-01" / "IMG_1000.CR2").unlink()
    scan(catalogue, library)

    runs = list(SyncRun.select().order_by(SyncRun.id))
    assert [(r.kind, r.status, r.files_added, r.files_removed) for r in runs] == [
        ("manual", "completed", 3, 0),
        ("manual", "completed", 0, 1),
    ]
    recorded = [r.duration for r in runs]
    assert None not in recorded
    assert all(r.finished_at >= r.started_at for r in runs)
    assert runs[0].bytes_hashed == sum(len(f"raw 1 {n}") for n in range(3))


def test_several_roots_share_one_pool(catalogue, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    make_shoot(first)
    write(second / "x" / "IMG.JPG", "second root")
    roots = [root_for(first), root_for(second)]

    reports = reconcile_roots(catalogue, roots, ScanSettings(workers=2))

    assert [r.files_added for r in reports] == [12, 1]
    assert catalogued(first) == on_disk(first) and catalogued(second) == on_disk(second)


def test_a_worker_that_dies_fails_the_scan_and_removes_nothing(catalogue, library):
    make_shoot(library)
    with SurveyPool(2) as pool:
        scan(catalogue, library, pool=pool)
        before = catalogued(library)
        (library / "2024" / "2024-05-01" / "IMG_1000.CR2").unlink()
        victim = next(iter(pool._executor._processes.values()))
        victim.kill()
        victim.join()

        with pytest.raises(ScanError, match="worker stopped unexpectedly"):
            scan(catalogue, library, pool=pool)

    assert catalogued(library) == before
    last = SyncRun.select().order_by(SyncRun.id.desc()).get()
    assert last.status == "failed" and "worker stopped unexpectedly" in last.error


def test_plan_splits_a_root_into_folder_surveys(library):
    make_shoot(library, days=3)
    write(library / "top.jpg", "top")
    write(library / ".hidden" / "x.jpg", "hidden")

    plan = plan_surveys(str(library), IgnoreRules(), target=8)

    assert plan == [
        ("", False, ("2024",)),
        ("2024", False, ("2024-05-01", "2024-05-02", "2024-05-03")),
        ("2024/2024-05-01", False, ()),
        ("2024/2024-05-02", False, ()),
        ("2024/2024-05-03", False, ()),
    ]


def test_a_rename_seen_in_two_batches_is_still_moves(catalogue, library):
    """The watcher may report a renamed folder's new name before its old one: the new folder's
    scan finds content whose records point at files now gone, and moves them."""
    from core.scan.reconcile import reconcile_root

    old = library / "2024" / "2024-06-02"
    for n in range(20):
        write(old / f"DSC_{n:04d}.NEF", f"frame {n}")
    scan(catalogue, library)
    before = record_ids(library)
    old.rename(library / "2024" / "2024-06-02 wedding")
    root = Root.get()
    settings = ScanSettings(workers=1)
    report = reconcile_root(
        catalogue, root, settings, kind="realtime", folders=[("2024/2024-06-02 wedding", True, ())]
    )
    assert (report.files_moved, report.files_added, report.files_removed) == (20, 0, 0)
    report = reconcile_root(
        catalogue, root, settings, kind="realtime", folders=[("2024/2024-06-02", True, ())]
    )
    assert (report.files_moved, report.files_added, report.files_removed) == (0, 0, 0)
    after = record_ids(library)
    assert sorted(after.values()) == sorted(before.values())  # the same records, moved
    assert Event.select().where(Event.kind == "moved").count() == 20
    # A copy is not a move: the original stays where it is.
    shutil.copytree(library / "2024" / "2024-06-02 wedding", library / "copy")
    report = reconcile_root(
        catalogue, root, settings, kind="realtime", folders=[("copy", True, ())]
    )
    assert (report.files_moved, report.files_added) == (0, 20)
