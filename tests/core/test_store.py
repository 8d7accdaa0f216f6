"""The catalogue: SQLite settings and permissions, schema versions and migrations, on SQLite
and (the tests marked BOTH_BACKENDS) on a PostgreSQL server."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from core.catalogue_location import is_server
from core.store import CatalogueError, dialect, open_catalogue
from core.store.migrations import LATEST, schema_version
from core.store.models import Decision, Event, FileRecord, Photo, Root, SyncRun
from tests.helpers import FIXTURES
from tests.postgres_cluster import BOTH_BACKENDS, connect_directly


def test_new_catalogue_uses_wal_busy_timeout_and_foreign_keys(tmp_path):
    with open_catalogue(tmp_path / "new" / "catalogue.db") as catalogue:
        pragma = lambda name: catalogue.db.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000


@BOTH_BACKENDS
def test_new_catalogue_has_every_table_at_the_latest_schema(catalogue_location):
    with open_catalogue(catalogue_location) as catalogue:
        assert schema_version(catalogue.db) == LATEST
        assert set(catalogue.db.get_tables()) >= {
            "root", "file", "photo", "decision", "event", "sync_run", "darktable_image",
            "artifact", "job", "heartbeat", "meta", "ingest_move", "card", "card_copy",
            "ingest_counter", "sidecar_write", "unreadable_folder",
        }  # fmt: skip
        indexes = {index.name for index in catalogue.db.get_indexes("file")}
        assert {"file_blake3_size", "file_unhashed", "file_not_described"} <= indexes
    with open_catalogue(catalogue_location) as catalogue:  # opened again, not created again
        assert schema_version(catalogue.db) == LATEST


@BOTH_BACKENDS
def test_sizes_nanosecond_times_and_unix_times_are_kept_exactly(catalogue):
    # PostgreSQL's INTEGER and REAL would not hold these (core.store.dialect).
    added_at = 1_796_469_521.783_498_5
    root = Root.create(path="/p", added_at=added_at)
    FileRecord.create(
        root=root, rel_path="a", size=9_000_000_000, mtime_ns=1_796_469_521_784_544_115,
        last_seen=added_at,
    )  # fmt: skip
    record = FileRecord.get()
    assert (record.size, record.mtime_ns) == (9_000_000_000, 1_796_469_521_784_544_115)
    assert Root.get().added_at == added_at


def test_catalogue_is_private_to_its_owner(tmp_path):
    path = tmp_path / "private" / "catalogue.db"
    with open_catalogue(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@BOTH_BACKENDS
def test_foreign_keys_are_enforced(catalogue):
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        FileRecord.create(root=999, rel_path="x", size=1, mtime_ns=1, last_seen=0)


def test_catalogue_from_schema_1_is_upgraded_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((FIXTURES / "catalogue-v1.sql").read_text())
    old.close()
    assert "state_reason" not in _columns(path, "root")

    with open_catalogue(path) as catalogue:
        assert schema_version(catalogue.db) == LATEST
        root = Root.get()
        assert (root.path, root.state, root.state_reason) == ("/photos/library", "online", None)
        assert FileRecord.select().count() == 2
        assert {f.photo.decision for f in FileRecord.select()} == {"approved"}
        assert Decision.get().after == "approved"
        assert SyncRun.get().bytes_hashed == 33_000_000
        assert Event.get().kind == "indexed"
        indexes = {row[1] for row in catalogue.db.execute_sql("PRAGMA index_list('file')")}
        assert {"file_blake3_size", "file_unhashed"} <= indexes
        # Schema 8: the file system recorded at the root's next check that finds it online.
        assert (root.device, root.mount_point) == (None, None)
        assert "unreadable_folder" in catalogue.db.get_tables()
        # The upgraded schema works like a new one.
        root.state_reason = "drive unplugged"
        root.save()
    with open_catalogue(path):
        assert Root.get().state_reason == "drive unplugged"
        assert Photo.get().rating == 4


def test_raws_described_with_their_thumbnails_size_are_described_again(tmp_path):
    from playhouse.migrate import SqliteMigrator

    from core.config import MediaSettings
    from core.media.photos import MediaSync
    from core.store.migrations import STEPS
    from tests.helpers import REPO_CAMERA, scan

    library = tmp_path / "library"
    library.mkdir()
    for name in ("nikon_d7100_truncated.NEF", "kodak_dc240_1999.jpg"):
        (library / name).write_bytes((REPO_CAMERA / name).read_bytes())
    with open_catalogue(tmp_path / "c.db") as catalogue:
        scan(catalogue, library)
        media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "p"), None)
        media.run_until_idle()
        # As an older shootwatch described them: the NEF at its IFD0 thumbnail's size.
        Photo.update(width=160, height=120).where(Photo.format == "tiff-raw").execute()
        step = next(s for s in STEPS.values() if s.__name__ == "_raw_sizes_read_again")
        with catalogue.db.atomic():
            step(SqliteMigrator(catalogue.db))
        # The engine started on the upgraded catalogue.
        MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "p"), None).run_until_idle()
        sizes = {p.format: (p.width, p.height) for p in Photo.select()}
        assert sizes == {"tiff-raw": (6036, 4020), "jpeg": (640, 480)}


def _columns(path: Path, table: str) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    finally:
        connection.close()


@BOTH_BACKENDS
def test_catalogue_from_a_newer_version_is_refused(catalogue_location):
    with open_catalogue(catalogue_location) as catalogue:
        dialect.set_schema_version(catalogue.db, LATEST + 1)
    with pytest.raises(CatalogueError, match="newer shootwatch"):
        open_catalogue(catalogue_location)


@BOTH_BACKENDS
def test_another_programs_database_is_refused_and_left_alone(catalogue_location):
    if not is_server(catalogue_location):
        catalogue_location.parent.mkdir()
    connection = connect_directly(catalogue_location)
    connection.execute("CREATE TABLE images (id INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO images (id) VALUES (7)")
    connection.close()
    with pytest.raises(CatalogueError, match="not a shootwatch catalogue"):
        open_catalogue(catalogue_location)
    connection = connect_directly(catalogue_location)
    try:
        assert connection.execute("SELECT id FROM images").fetchall() == [(7,)]
    finally:
        connection.close()


def test_unreachable_database_server_gives_a_clear_error(postgres_server):
    missing = postgres_server.url("no_such_database")
    with pytest.raises(CatalogueError, match="cannot open the catalogue postgresql://") as error:
        open_catalogue(missing)
    assert '"no_such_database" does not exist' in str(error.value)


def test_file_that_is_not_sqlite_gives_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogueError, match="cannot open the catalogue"):
        open_catalogue(path)


def test_catalogue_in_an_unwritable_place_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(CatalogueError, match="cannot create the catalogue"):
        open_catalogue(blocker / "catalogue.db")


@BOTH_BACKENDS
def test_writer_waits_for_a_brief_lock_instead_of_failing(catalogue):
    root = Root.create(path="/p", added_at=time.time())
    other = connect_directly(catalogue.location)
    other.execute("BEGIN")
    # Another process holds the write lock (SQLite's one, PostgreSQL's on the table)...
    other.execute("LOCK TABLE root IN EXCLUSIVE MODE" if catalogue.path is None else
                  "UPDATE root SET seen_at = NULL")  # fmt: skip
    releaser = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    releaser.start()
    try:
        root.kind = "inbox"
        root.save()  # ...so this write waits (busy timeout) and then succeeds
    finally:
        releaser.join()
        other.close()
    assert Root.get_by_id(root.id).kind == "inbox"
