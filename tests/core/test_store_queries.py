"""The store's own writes and named queries, on both back ends: file records written many at a
time (moved by a swap, deleted), photos created, heartbeats, unreadable folders and the followed
darktable library replaced in place, darktable snapshot rows inserted or updated, a folder's
files two levels deep, rows selected by lists of any length, jobs requeued, burst facts, edit
progress and the darktable reports."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.store import open_catalogue, photos, progress, queries, snapshot
from core.store.events import EventKind, EventReader, insert_events, record_event
from core.store.jobs import requeue_jobs
from core.store.models import (
    CatalogueFact,
    FileRecord,
    Heartbeat,
    Job,
    Photo,
    Root,
    UnreadableFolder,
)
from core.store.photos import create_photo, file_id, photo_by_blake3
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _root() -> Root:
    return Root.create(path="/photos", kind="library", added_at=time.time())


def _record(root: Root, rel_path: str, size: int) -> tuple:
    # (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation, kind, error,
    # description)
    now = time.time()
    return (root.id, rel_path, size, time.time_ns(), f"b3-{rel_path}", now, now, 1, "image", None,
            None)  # fmt: skip


def test_file_records_are_written_moved_by_a_swap_and_deleted(catalogue):
    root = _root()
    db = catalogue.db
    with db.atomic():
        queries.insert_files(db, [_record(root, "a.JPG", 10), _record(root, "b.JPG", 20)])
    a, b = file_id(db, root.id, "a.JPG"), file_id(db, root.id, "b.JPG")
    assert a is not None and b is not None and a != b

    def moved(record_id: int, rel_path: str) -> tuple:
        record = FileRecord.get_by_id(record_id)
        return (root.id, rel_path, record.size, record.mtime_ns, record.blake3,
                record.hashed_at, time.time(), 2, record.kind, None, None, record_id)  # fmt: skip

    with db.atomic():  # a swap: each takes the path the other leaves
        queries.move_files(db, [moved(a, "b.JPG"), moved(b, "a.JPG")])
    assert (file_id(db, root.id, "b.JPG"), file_id(db, root.id, "a.JPG")) == (a, b)
    assert FileRecord.get_by_id(a).size == 10

    with db.atomic():
        queries.update_files(db, [("a.JPG", 21, 7, "b3-new", 1.5, 2.5, 3, "image", None, None, b)])
        queries.delete_files(db, [a])
    assert [(r.id, r.rel_path, r.size, r.blake3) for r in FileRecord.select()] == [
        (b, "a.JPG", 21, "b3-new")
    ]


def test_a_photo_created_is_found_by_its_id_and_its_content(catalogue):
    with catalogue.db.atomic():
        first = create_photo(catalogue.db, "b3-one", time.time())
        second = create_photo(catalogue.db, "b3-two", time.time())
    assert second > first > 0
    assert photo_by_blake3(catalogue.db, "b3-two") == second
    assert photo_by_blake3(catalogue.db, "b3-none") is None


def test_a_heartbeat_replaces_the_last_one_of_its_component(catalogue):
    queries.save_heartbeat("watcher", "ok", None, None)
    queries.save_heartbeat("media", "ok", "previews", None)
    queries.save_heartbeat("watcher", "degraded", "sweep", "inotify limit")
    beats = {beat.component: (beat.status, beat.task, beat.error) for beat in queries.heartbeats()}
    assert beats == {
        "watcher": ("degraded", "sweep", "inotify limit"),
        "media": ("ok", "previews", None),
    }
    assert Heartbeat.select().count() == 2


def test_an_unreadable_folder_is_noted_again_in_place_and_forgotten_once_read(catalogue):
    root = _root()
    queries.note_folders_read(root.id, [], [("2024", "permission denied")], now=1.0)
    queries.note_folders_read(root.id, [], [("2024", "I/O error"), (".", "gone")], now=2.0)
    assert sorted(queries.unreadable_folders(root.id)) == [("", "gone"), ("2024", "I/O error")]
    assert UnreadableFolder.select().count() == 2
    queries.note_folders_read(root.id, [("2024", True)], [], now=3.0)
    assert queries.unreadable_folders(root.id) == [("", "gone")]


def test_following_another_darktable_library_replaces_the_snapshot(catalogue):
    db = catalogue.db
    assert snapshot.followed_library() is None
    assert snapshot.follow_library(db, "/home/me/.config/darktable/library.db") == 0
    columns = [name.strip() for name in snapshot.SNAPSHOT_COLUMNS.split(",")]

    def image(darktable_id: int, stars: int) -> tuple:
        values = {
            "darktable_id": darktable_id, "film_roll_folder": "/photos/2024", "filename":
            f"IMG_{darktable_id}.CR3", "version": 0, "stars": stars, "rejected": False,
            "labels": 0, "tags": "[]", "internal_tags": "[]", "altered": False,
            "history_end": 0, "imported_at": 1.0, "changed_at": 2.0, "exported_at": None,
            "signature": f"sig-{stars}", "rated_by_hand": True, "exif": None, "seen_at": 3.0,
            "sidecar_at": None,
        }  # fmt: skip
        return tuple(values[name] for name in columns)

    with db.atomic():
        snapshot.save_images(db, [image(1, 1), image(2, 2)])
        snapshot.save_images(db, [image(2, 5)])  # the same image, changed: updated in place
    stars = {row[0]: row[columns.index("stars")] for row in snapshot.load_snapshot(db)}
    assert stars == {1: 1, 2: 5}
    with db.atomic():
        snapshot.delete_images(db, [1])
    assert [row[0] for row in snapshot.load_snapshot(db)] == [2]

    assert snapshot.follow_library(db, "/mnt/other/library.db") == 1
    assert snapshot.followed_library() == "/mnt/other/library.db"
    assert CatalogueFact.select().count() == 1


@pytest.fixture
def catalogue_sorting_by_language(request, catalogue_backend, catalogue_location):
    """A catalogue whose database sorts text by English rules (case and accents second) when
    it is on a server: SQLite has no such setting."""
    if catalogue_backend == "sqlite":
        location = catalogue_location
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"english_{os.getpid()}"
        location = server.create_database(
            name, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
        request.addfinalizer(lambda: server.drop_database(name))
    with open_catalogue(location) as opened:
        yield opened


def test_paths_sort_byte_by_byte_whatever_the_servers_language(catalogue_sorting_by_language):
    """The store finds the files under a folder by a range of paths ("a/" < path < "a0", as
    "0" follows "/"): sorted by a language's rules, "A/y" and "á/w" would fall in it too."""
    db = catalogue_sorting_by_language.db
    root = _root()
    names = ("a/x", "A/y", "á/w", "a0", "ab/z")
    with db.atomic():
        queries.insert_files(db, [_record(root, name, 1) for name in names])
    under_a = db.execute_sql(
        "SELECT rel_path FROM file WHERE rel_path > ? AND rel_path < ? ORDER BY rel_path",
        ("a/", "a0"),
    ).fetchall()
    assert under_a == [("a/x",)]
    ordered = [row[0] for row in db.execute_sql("SELECT rel_path FROM file ORDER BY rel_path")]
    assert ordered == sorted(names, key=lambda name: name.encode())


def _files(root: Root, *names: str, role: str | None = None) -> dict[str, int]:
    db = Root._meta.database
    with db.atomic():
        queries.insert_files(db, [_record(root, name, 1) for name in names])
    if role is not None:
        FileRecord.update(role=role).where(FileRecord.rel_path.in_(names)).execute()
    return {r.rel_path: r.id for r in FileRecord.select().where(FileRecord.rel_path.in_(names))}


def test_a_folders_files_are_read_two_levels_deep(catalogue):
    db, root = catalogue.db, _root()
    _files(root, "top.jpg", "2024/a.jpg", "2024/x/b.jpg", "2024/x/y/c.jpg", "2024b/d.jpg")
    _files(root, "2024/exports/a.jpg", role="export")

    def names(rows) -> list[str]:
        return sorted(row[1] for row in rows)

    assert names(photos.folder_files(db, root.id, "2024")) == [
        "2024/a.jpg", "2024/exports/a.jpg", "2024/x/b.jpg"
    ]  # fmt: skip
    assert names(photos.own_files_and_exports(db, root.id, "2024")) == [
        "2024/a.jpg", "2024/exports/a.jpg"
    ]  # fmt: skip
    assert names(photos.folder_listing(db, root.id, "")) == ["2024/a.jpg", "2024b/d.jpg", "top.jpg"]
    assert names(photos.files_directly_in(db, root.id, "2024")) == ["2024/a.jpg"]
    assert names(photos.files_directly_in(db, root.id, "")) == ["top.jpg"]


def test_lists_of_any_length_select_their_rows(catalogue):
    db, root = catalogue.db, _root()
    ids = _files(root, "a.jpg", "b.jpg", "c.jpg")
    chosen = photos.files_by_id(db, [ids["a.jpg"], ids["c.jpg"], 10**12])
    assert sorted(row[1] for row in chosen) == ["a.jpg", "c.jpg"]
    assert photos.files_by_id(db, []) == []
    assert [row[1] for row in photos.files_at(db, root.id, ["b.jpg", "nowhere.jpg"])] == ["b.jpg"]
    many = [f"b3-{n}" for n in range(5000)]  # past SQLite's 999 parameters, as one
    with db.atomic():
        made = [create_photo(db, digest, 1.0) for digest in many[:3]]
    assert photos.photo_ids_of(db, many) == made
    assert photos.decisions_of(db, made[:2]) == {made[0]: "pending", made[1]: "pending"}
    Photo.update(xmp_read_at=1.0).where(Photo.id == made[0]).execute()
    assert photos.xmp_not_read(db, made) == set(made[1:])
    assert photos.photo_lost_its_original(db, made[0], [], ["junk"])  # no file has its content
    FileRecord.update(blake3=many[0]).where(FileRecord.id == ids["a.jpg"]).execute()
    assert not photos.photo_lost_its_original(db, made[0], [ids["b.jpg"]], ["junk"])
    assert photos.photo_lost_its_original(db, made[0], [ids["a.jpg"]], ["junk"])
    Photo.update(rating=3).where(Photo.id == made[1]).execute()
    with db.atomic():
        assert photos.delete_untouched_photos_without_files(db, made) == 2  # not the rated one
    assert [p.id for p in Photo.select()] == [made[1]]


def test_failed_jobs_of_some_photos_go_back_to_the_queue(catalogue):
    db = catalogue.db
    with db.atomic():
        first, second = create_photo(db, "b3-1", 1.0), create_photo(db, "b3-2", 1.0)
    for photo in (first, second):
        Job.create(photo=photo, stage="thumb", status="failed", queued_at=1.0, attempts=3)
    assert requeue_jobs(db, photo_ids=[second]) == 1
    assert {job.photo_id: job.status for job in Job.select()} == {
        first: "failed", second: "pending"
    }  # fmt: skip
    assert requeue_jobs(db, photo_ids=[]) == 0


def test_burst_facts_read_the_cameras_wall_clock(catalogue):
    db = catalogue.db
    with db.atomic():
        east = create_photo(db, "b3-east", 1.0)
        plain = create_photo(db, "b3-plain", 1.0)
    Photo.update(capture_time=10_000.0, capture_offset="+02:00", camera_model="Z 8",
                 burst=east).where(Photo.id == east).execute()  # fmt: skip
    Photo.update(capture_time=10_000.0, camera_make="NIKON").where(Photo.id == plain).execute()
    facts = photos.burst_facts(db, [plain], bursts=[east])
    assert (facts[east].wall, facts[east].body, facts[east].burst) == (17_200.0, "|Z 8", east)
    assert (facts[plain].wall, facts[plain].body) == (10_000.0, "NIKON|")


def test_edit_progress_counts_and_reports(catalogue):
    db = catalogue.db
    columns = [name.strip() for name in snapshot.SNAPSHOT_COLUMNS.split(",")]
    shoot = "/photos/2024-06-01"

    def image(darktable_id: int, **given) -> tuple:
        values = {
            "darktable_id": darktable_id, "film_roll_folder": shoot,
            "filename": f"IMG_{darktable_id}.CR3", "version": 0, "stars": 1, "rejected": False,
            "labels": 0, "tags": "[]", "internal_tags": "[]", "altered": False,
            "history_end": 0, "imported_at": 1.0, "changed_at": None, "exported_at": None,
            "signature": "s", "rated_by_hand": False, "exif": None, "seen_at": 1.0,
            "sidecar_at": None, **given,
        }  # fmt: skip
        return tuple(values[name] for name in columns)

    now = 1_800_000_000.0
    with db.atomic():
        snapshot.save_images(db, [
            image(1, altered=True, changed_at=now - 60, exported_at=now - 120),  # changed since
            image(2, altered=True, changed_at=now - 30, stars=3, rated_by_hand=True),
            image(3, rejected=True),
            image(4, stars=0),
        ])  # fmt: skip
        insert_events(db, [
            (now - 60, EventKind.EDITED, "darktable", None, None, None,
             json.dumps({"darktable_id": 1, "changed_at": now - 60})),
            (now - 30, EventKind.EDITED, "darktable", None, None, None,
             json.dumps({"darktable_id": 2})),
            (now - 10, EventKind.EDITED, "darktable", None, None, None,
             json.dumps({"darktable_id": 99, "changed_at": now - 10, "stars": 2})),
        ])  # fmt: skip
    (shot,) = progress.shoot_progress(now)
    assert (shot.images, shot.edited, shot.to_edit, shot.rated, shot.rated_by_hand) == (
        4,
        2,
        1,
        2,
        1,
    )
    assert (shot.rejected, shot.exported, shot.to_export, shot.changed_after_export) == (1, 1, 1, 1)
    assert shot.last_edit_at == now - 30 and shot.edits_per_hour is not None
    assert progress.edit_times() == [(now - 60, 1), (now - 30, 2), (now - 10, 99)]
    assert [edit["darktable_id"] for edit in progress.recent_edits(10)] == [99, 2, 1]
    assert [i["darktable_id"] for i in progress.unfinished(min_stars=0)] == [1, 2]
    assert [i["darktable_id"] for i in progress.edited_not_exported(10)] == [2, 1]
    assert [i["darktable_id"] for i in progress.left_to_edit(10)] == [4]


def test_shots_of_bodies_come_in_the_order_they_were_shot(catalogue):
    db, root = catalogue.db, _root()
    ids = _files(root, "z/DSC_0002.NEF", "a/DSC_0001.NEF", "b/IMG_0005.CR3", "c/none.jpg",
                 role="original")  # fmt: skip
    with db.atomic():
        made = {name: create_photo(db, f"b3-{name}", 1.0) for name in ids}
    bodies = {"z/DSC_0002.NEF": "NIKON", "a/DSC_0001.NEF": "NIKON", "b/IMG_0005.CR3": "Canon"}
    for name, photo in made.items():
        FileRecord.update(photo=photo).where(FileRecord.id == ids[name]).execute()
        Photo.update(capture_time=500.0, camera_make=bodies.get(name, "Sony"),
                     phash="ab").where(Photo.id == photo).execute()  # fmt: skip
    FileRecord.update(role="jpeg").where(FileRecord.id == ids["c/none.jpg"]).execute()
    shots = photos.shots_of_bodies(db, ["NIKON|", "Canon|"], 400.0, 600.0)
    # One wall clock: by the original's file name, whatever its folder.
    assert shots == [
        (made["a/DSC_0001.NEF"], 500.0, "NIKON|", "ab"),
        (made["z/DSC_0002.NEF"], 500.0, "NIKON|", "ab"),
        (made["b/IMG_0005.CR3"], 500.0, "Canon|", "ab"),
    ]
    assert photos.shots_of_bodies(db, None, 600.0, None) == []
    assert [shot[0] for shot in photos.shots_of_bodies(db, None, None, None)] == [
        made[n] for n in ("a/DSC_0001.NEF", "z/DSC_0002.NEF", "b/IMG_0005.CR3")
    ]  # no original on disk: c/none.jpg is left out


def test_a_camera_is_found_by_model_make_and_model_or_make_in_any_case(catalogue):
    db = catalogue.db
    with db.atomic():
        photo = create_photo(db, "b3-r5", 1.0)
    Photo.update(camera_make="Canon", camera_model="Canon EOS R5").where(
        Photo.id == photo
    ).execute()
    for name in ("canon eos r5", "CANON Canon EOS R5", "canon"):
        found = db.execute_sql(f"SELECT p.id FROM photo p WHERE {photos.CAMERA_SQL}", (name,) * 3)
        assert [row[0] for row in found] == [photo], name
    missing = db.execute_sql(f"SELECT p.id FROM photo p WHERE {photos.CAMERA_SQL}", ("EOS",) * 3)
    assert missing.fetchall() == []


def test_a_read_only_connection_of_its_own_reads_records_and_events_and_writes_nothing(
    catalogue,
):
    """What scan workers and event followers read through, beside the catalogue's own
    connection: only what was committed, and never a write."""
    root = _root()
    ids = _files(root, "2024/a.jpg", "2024/b.jpg", "2024/sub/c.jpg", "2025/d.jpg")
    FileRecord.update(blake3=None).where(FileRecord.id == ids["2024/b.jpg"]).execute()
    record_event(EventKind.ADDED, "reconcile", root=root, path="2024/a.jpg")
    reader = queries.open_read_only(str(catalogue.location))
    try:
        known, unhashed = queries.load_known_files(reader, root.id, "2024", False, ["sub"])
        assert sorted(known) == ["2024/a.jpg", "2024/b.jpg"] and unhashed == {"2024/b.jpg"}
        known, _ = queries.load_known_files(reader, root.id, "2024", True)
        assert sorted(known) == ["2024/a.jpg", "2024/b.jpg", "2024/sub/c.jpg"]
        contents = queries.recorded_contents(reader, [ids["2024/a.jpg"], ids["2025/d.jpg"]])
        assert contents == {ids["2024/a.jpg"]: ("b3-2024/a.jpg", 1),
                            ids["2025/d.jpg"]: ("b3-2025/d.jpg", 1)}  # fmt: skip
        events = EventReader(reader)
        assert [event.path for event in events.read()] == ["2024/a.jpg"]
        with catalogue.db.atomic():
            record_event(EventKind.REMOVED, "reconcile", root=root, path="2024/a.jpg")
            assert events.read() == []  # not committed yet
        assert [event.kind for event in events.read()] == [EventKind.REMOVED]
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            reader.execute("DELETE FROM file")
    finally:
        reader.close()
    assert FileRecord.select().count() == 4
