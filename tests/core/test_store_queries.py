"""The store's own writes and named queries, on both back ends: file records written many at a
time (moved by a swap, deleted), photos created, heartbeats, unreadable folders and the followed
darktable library replaced in place, darktable snapshot rows inserted or updated."""

from __future__ import annotations

import os
import time

import pytest

from core.store import open_catalogue, queries, snapshot
from core.store.models import CatalogueFact, FileRecord, Heartbeat, Root, UnreadableFolder
from core.store.photos import create_photo, file_id, photo_by_blake3
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _root() -> Root:
    return Root.create(path="/photos", kind="library", added_at=time.time())


def _record(root: Root, rel_path: str, size: int) -> tuple:
    # (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation, kind, error)
    now = time.time()
    return (root.id, rel_path, size, time.time_ns(), f"b3-{rel_path}", now, now, 1, "image", None)


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
                record.hashed_at, time.time(), 2, record.kind, None, record_id)  # fmt: skip

    with db.atomic():  # a swap: each takes the path the other leaves
        queries.move_files(db, [moved(a, "b.JPG"), moved(b, "a.JPG")])
    assert (file_id(db, root.id, "b.JPG"), file_id(db, root.id, "a.JPG")) == (a, b)
    assert FileRecord.get_by_id(a).size == 10

    with db.atomic():
        queries.update_files(db, [("a.JPG", 21, 7, "b3-new", 1.5, 2.5, 3, "image", None, b)])
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
