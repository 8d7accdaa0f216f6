"""The darktable snapshot and its smart events: polls of a real library copy changed the way
darktable changes it, sidecars seen through the catalogue's file events, and the correlations
between the files on disk and what darktable has."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

import core.darktable.poller as poller
from core.darktable.facts import darktable_time
from core.darktable.library import LibraryPaths, change_stamp
from core.darktable.poller import LibraryReader
from core.darktable.sync import DarktableSync
from core.store.models import DarktableImage, Event
from tests.darktable_fixture import DarktableCopy, copy_fixture
from tests.helpers import scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


@pytest.fixture
def darktable(tmp_path: Path) -> DarktableCopy:
    return copy_fixture(tmp_path)


@pytest.fixture
def synced(catalogue, darktable):
    """The fixture library read and applied once, its photos a catalogued root."""
    scan(catalogue, darktable.photos, workers=1)
    reader = LibraryReader(darktable.paths)
    sync = DarktableSync(catalogue.db)
    sync.follow_file_events()  # start following the event log from here
    report = sync.apply(reader.read())
    assert report.first_sync and report.new == 17
    return reader, sync


def _events(*kinds: str) -> list[Event]:
    query = Event.select().where(Event.source == "darktable").order_by(Event.id)
    if kinds:
        query = query.where(Event.kind.in_(kinds))
    return list(query)


def _poll(reader: LibraryReader, sync: DarktableSync):
    read = reader.read()
    return None if read is None else sync.apply(read)


def test_orphans_already_there_at_the_first_sync_are_reported_once(catalogue, darktable):
    """A photo deleted while darktable still has it, and a sidecar whose photo is gone, before
    shootwatch ever followed the library: reported by the first sync, and only once."""
    darktable.street("DSC_0106.JPG").unlink()  # darktable image 16 has no file now
    stray = darktable.wedding("IMG_0098.JPG.xmp")  # a sidecar left by a photo deleted long ago
    shutil.copy(darktable.wedding("IMG_0001.JPG.xmp"), stray)
    # Lightroom's kind names its photo's stem only: IMG_0002.JPG is there, so it is not orphaned
    shutil.copy(darktable.wedding("IMG_0002.JPG.xmp"), darktable.wedding("IMG_0002.xmp"))
    scan(catalogue, darktable.photos, workers=1)
    reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
    assert sync.apply(reader.read()).first_sync
    assert sync.find_orphans() == 3
    orphaned = _events("darktable_orphaned")
    assert [json.loads(e.payload)["darktable_id"] for e in orphaned] == [16]
    assert orphaned[0].path == "2024-07-15_street/DSC_0106.JPG"
    assert sorted(e.path for e in _events("sidecar_orphaned")) == [
        "2024-06-01_wedding/IMG_0098.JPG.xmp",
        "2024-07-15_street/DSC_0106.JPG.xmp",
    ]
    # the next full read, or the next start of the engine, says nothing new
    assert sync.find_orphans() == 0
    again = DarktableSync(catalogue.db)
    again.apply(LibraryReader(darktable.paths).read())
    assert again.find_orphans() == 0


def test_a_film_roll_folder_that_is_gone_is_not_a_folder_of_orphans(catalogue, darktable):
    """A folder whose files are all gone (an unmounted drive, a renamed folder) is not
    reported photo by photo."""
    shutil.rmtree(darktable.photos / "2024-07-15_street")
    (darktable.photos / "2024-07-15_street").mkdir()  # an empty mount point
    scan(catalogue, darktable.photos, workers=1)
    sync = DarktableSync(catalogue.db)
    sync.apply(LibraryReader(darktable.paths).read())
    assert sync.find_orphans() == 0


def test_first_sync_is_one_event_and_a_full_snapshot(synced):
    assert DarktableImage.select().count() == 17
    events = _events()
    assert [event.kind for event in events] == ["darktable_library_synced"]
    assert json.loads(events[0].payload)["images"] == 17
    row = DarktableImage.get(DarktableImage.darktable_id == 2)
    assert (row.stars, row.altered, json.loads(row.tags)) == (
        4,
        True,
        ["portfolio", "wedding|ceremony"],
    )
    assert "darktable|exported" in json.loads(row.internal_tags)
    assert json.loads(row.exif)["camera"] == "Canon EOS R5"


def test_a_poll_of_an_unchanged_library_reads_nothing_and_writes_nothing(synced, catalogue):
    reader, sync = synced
    events, rows = Event.select().count(), DarktableImage.select().count()
    assert reader.read() is None
    # darktable writing elsewhere (the selection) changes the file, not an image.
    reader._next_full = 0.0  # even a full comparison finds nothing to write
    report = _poll(reader, sync)
    assert report is not None and (report.new, report.changed, report.removed) == (0, 0, 0)
    assert (Event.select().count(), DarktableImage.select().count()) == (events, rows)


def test_rating_labelling_tagging_and_rejecting_become_events(synced, darktable):
    reader, sync = synced
    darktable.write("UPDATE images SET flags = (flags & ~7) | 5 WHERE id = 6")
    darktable.write("INSERT INTO color_labels (imgid, color) VALUES (7, 2)")
    darktable.write(
        "INSERT INTO tagged_images (imgid, tagid, position)"
        " SELECT 11, id, 0 FROM data.tags WHERE name = 'street'"
    )
    darktable.write("UPDATE images SET flags = flags | 8 WHERE id = 13")
    report = _poll(reader, sync)
    assert report.changed == 4 and report.new == 0
    kinds = {(json.loads(e.payload)["darktable_id"], e.kind) for e in _events()[1:]}
    assert kinds == {(6, "rated"), (7, "labelled"), (11, "tagged"), (13, "rejected")}
    rated = _events("rated")[0]
    payload = json.loads(rated.payload)
    assert (payload["stars"], payload["was"], payload["in_darktable"]) == (5, 2, True)
    assert rated.path == "2024-06-01_wedding/IMG_0006.JPG"  # relative to the root it is in
    assert DarktableImage.get(DarktableImage.darktable_id == 6).rated_by_hand
    tagged = json.loads(_events("tagged")[0].payload)
    assert (tagged["added"], tagged["removed"]) == (["street"], [])


def test_an_edit_and_a_reedit_after_export(synced, darktable):
    reader, sync = synced
    now = darktable_time(time.time())
    # IMG_0005 was exported without edits: now an edit, after the export.
    darktable.write("UPDATE history_hash SET current_hash = x'0102' WHERE imgid = 5")
    darktable.write("UPDATE images SET change_timestamp = ?, history_end = 5 WHERE id = 5", (now,))
    _poll(reader, sync)
    kinds = [e.kind for e in _events()[1:]]
    assert kinds == ["edited", "reedited_after_export"]
    edited = json.loads(_events("edited")[0].payload)
    assert edited["altered"] and not edited["was_altered"] and edited["processed"]
    # Exported again: an export event, and no longer changed after export.
    darktable.write("UPDATE images SET export_timestamp = ? WHERE id = 5", (now + 1_000_000,))
    _poll(reader, sync)
    assert [e.kind for e in _events()[-1:]] == ["exported"]
    state = sync.state(5)
    assert state.exported_at is not None and not state.changed_after_export


def test_opening_in_the_darkroom_is_not_an_edit(synced, darktable):
    reader, sync = synced
    # IMG_0001 opened: auto-applied modules give a history and a basic hash, nothing altered.
    # darktable writes the history and its change time before the history hash.
    darktable.write(
        "UPDATE images SET history_end = 4, change_timestamp = ? WHERE id = 1",
        (darktable_time(time.time()),),
    )
    darktable.write(
        "INSERT INTO history_hash (imgid, basic_hash, current_hash) VALUES (1, x'aa', x'aa')"
    )
    report = _poll(reader, sync)
    assert report.changed == 1
    assert _events("edited") == []


def test_a_new_import_and_a_removal(synced, darktable):
    reader, sync = synced
    darktable.write(
        "INSERT INTO images (id, group_id, film_id, filename, flags, version, max_version,"
        " history_end, import_timestamp) SELECT 18, 18, film_id, 'IMG_0011.JPG', 1, 0, 0, 0, ?"
        " FROM images WHERE id = 1",
        (darktable_time(time.time()),),
    )
    darktable.write("DELETE FROM images WHERE id = 16")
    report = _poll(reader, sync)
    assert (report.new, report.removed) == (1, 1)
    kinds = {(json.loads(e.payload)["darktable_id"], e.kind) for e in _events()[1:]}
    assert kinds == {(18, "darktable_imported"), (16, "darktable_removed")}
    assert not DarktableImage.select().where(DarktableImage.darktable_id == 16).exists()


def test_an_emptied_library_keeps_the_snapshot(synced, darktable):
    reader, sync = synced
    darktable.write("DELETE FROM images")
    reader._next_full = 0.0
    report = _poll(reader, sync)
    assert report.removed == 0 and "keeping" in report.notes[0]
    assert DarktableImage.select().count() == 17


def test_another_library_starts_a_new_snapshot(synced, tmp_path, catalogue):
    other = copy_fixture(tmp_path / "other")
    other.write("DELETE FROM images WHERE id > 3")
    report = DarktableSync(catalogue.db).apply(LibraryReader(other.paths).read())
    assert report.first_sync and report.new == 3
    assert DarktableImage.select().count() == 3


def _rescan(catalogue, darktable, sync):
    scan(catalogue, darktable.photos, workers=1)
    sync.follow_file_events()


def test_a_sidecar_change_updates_the_state_before_library_db_does(synced, darktable, catalogue):
    reader, sync = synced
    sidecar = darktable.wedding("IMG_0006.JPG.xmp")
    text = sidecar.read_text().replace('xmp:Rating="2"', 'xmp:Rating="4"')
    time.sleep(0.01)
    sidecar.write_text(text)
    _rescan(catalogue, darktable, sync)
    rated = _events("rated")
    assert len(rated) == 1
    payload = json.loads(rated[0].payload)
    assert (payload["stars"], payload["was"], payload["via"]) == (4, 2, "sidecar")
    assert sync.state(6).stars == 4
    # library.db then says the same thing: no second event.
    darktable.write("UPDATE images SET flags = (flags & ~7) | 4 WHERE id = 6")
    report = _poll(reader, sync)
    assert report.changed == 1
    assert len(_events("rated")) == 1


def test_a_sidecar_older_than_the_last_library_read_is_ignored(synced, darktable, catalogue):
    _, sync = synced
    sidecar = darktable.wedding("IMG_0006.JPG.xmp")
    sidecar.write_text(sidecar.read_text().replace('xmp:Rating="2"', 'xmp:Rating="4"'))
    old = time.time() - 3600
    os.utime(sidecar, (old, old))
    _rescan(catalogue, darktable, sync)
    assert _events("rated") == []


def test_a_broken_sidecar_is_reported_and_the_rest_goes_on(synced, darktable, catalogue):
    _, sync = synced
    darktable.wedding("IMG_0006.JPG.xmp").write_text("<x:xmpmeta")
    sidecar = darktable.wedding("IMG_0007.JPG.xmp")
    sidecar.write_text(sidecar.read_text().replace('xmp:Rating="0"', 'xmp:Rating="3"'))
    _rescan(catalogue, darktable, sync)
    unreadable = _events("sidecar_unreadable")
    assert len(unreadable) == 1 and "not valid XMP" in json.loads(unreadable[0].payload)["reason"]
    assert [json.loads(e.payload)["darktable_id"] for e in _events("rated")] == [7]


def test_new_deleted_and_never_imported_files(synced, darktable, catalogue):
    _, sync = synced
    # A fresh photo darktable does not have yet.
    shutil.copy(darktable.street("DSC_0101.JPG"), darktable.street("DSC_0107.JPG"))
    # A photo deleted while darktable still has it: orphaned entry, and its sidecar left behind.
    darktable.street("DSC_0106.JPG").unlink()
    _rescan(catalogue, darktable, sync)
    fresh = _events("needs_processing")
    assert [e.path for e in fresh] == ["2024-07-15_street/DSC_0107.JPG"]
    assert json.loads(fresh[0].payload)["in_darktable"] is False
    orphaned = _events("darktable_orphaned")
    assert [json.loads(e.payload)["darktable_id"] for e in orphaned] == [16]
    assert [e.path for e in _events("sidecar_orphaned")] == ["2024-07-15_street/DSC_0106.JPG.xmp"]
    # IMG_0011 sits in a film roll folder and was never imported: said once.
    assert sync.find_not_imported() == 2  # IMG_0011, and the new DSC_0107
    assert sync.find_not_imported() == 0
    assert "2024-06-01_wedding/IMG_0011.JPG" in {e.path for e in _events("not_imported")}


def test_an_export_is_linked_to_the_file_it_wrote(synced, darktable, catalogue):
    reader, sync = synced
    now = time.time()
    darktable.write("UPDATE images SET export_timestamp = ? WHERE id = 13", (darktable_time(now),))
    _poll(reader, sync)
    exported = darktable.street("darktable_exported") / "DSC_0103.jpg"
    shutil.copy(darktable.street("DSC_0103.JPG"), exported)
    _rescan(catalogue, darktable, sync)
    written = _events("export_written")
    assert len(written) == 1
    payload = json.loads(written[0].payload)
    assert payload["darktable_id"] == 13 and payload["export_path"] == str(exported)
    assert _events("needs_processing") == []  # an export is not a photo to process


@pytest.mark.parametrize("file_first", [False, True], ids=["time-then-file", "file-then-time"])
def test_exporting_again_writes_exports_not_new_photos(synced, darktable, catalogue, file_first):
    """darktable exports a photo again as NAME_01.jpg, NAME_02.jpg (its "unique file name" on a
    conflict): each is an export of that photo, never a new photo to process."""
    reader, sync = synced
    exported = darktable.street("darktable_exported")
    names = ["DSC_0103.jpg", "DSC_0103_01.jpg", "DSC_0103_02.jpg"]
    for round_, name in enumerate(names):
        now = time.time() + round_
        if file_first:
            shutil.copy(darktable.street("DSC_0103.JPG"), exported / name)
            _rescan(catalogue, darktable, sync)
        darktable.write(
            "UPDATE images SET export_timestamp = ? WHERE id = 13", (darktable_time(now),)
        )
        _poll(reader, sync)
        if not file_first:
            shutil.copy(darktable.street("DSC_0103.JPG"), exported / name)
            _rescan(catalogue, darktable, sync)
    written = _events("export_written")
    assert [json.loads(e.payload)["export_path"] for e in written] == [
        str(exported / name) for name in names
    ]
    assert {json.loads(e.payload)["darktable_id"] for e in written} == {13}
    assert _events("needs_processing") == []


def test_a_re_export_left_from_before_is_not_a_new_photo(synced, darktable, catalogue):
    """IMG_0002 was exported before shootwatch followed the library; a copy darktable wrote
    then (IMG_0002_01.jpg) turning up is an export, not a photo to process."""
    _, sync = synced
    exported = darktable.wedding("darktable_exported")
    shutil.copy(darktable.wedding("IMG_0002.JPG"), exported / "IMG_0002_01.jpg")
    shutil.copy(darktable.wedding("IMG_0002.JPG"), exported / "IMG_0002_117.jpg")
    _rescan(catalogue, darktable, sync)
    assert _events("needs_processing") == []
    # a photo whose name merely ends in digits is still a new photo
    shutil.copy(darktable.wedding("IMG_0002.JPG"), darktable.wedding("IMG_0012.JPG"))
    _rescan(catalogue, darktable, sync)
    assert [e.path for e in _events("needs_processing")] == ["2024-06-01_wedding/IMG_0012.JPG"]


def test_two_images_rated_in_one_write_are_both_seen(synced, darktable):
    # One up, one down, in one transaction: the change detection's sums must not cancel.
    reader, sync = synced
    darktable.write("UPDATE images SET flags = (flags & ~7) | 4 WHERE id IN (6, 13)")
    report = _poll(reader, sync)
    assert report is not None and report.changed == 2
    darktable.write("UPDATE images SET flags = (flags & ~7) | 1 WHERE id IN (3, 7)")
    report = _poll(reader, sync)
    assert report is not None and report.changed == 2
    darktable.write("DELETE FROM color_labels WHERE imgid = 2 AND color = 0")
    darktable.write("INSERT INTO color_labels (imgid, color) VALUES (1, 1)")
    assert _poll(reader, sync).changed == 2


def test_the_first_imports_into_a_new_library_are_news(catalogue, tmp_path):
    fresh = copy_fixture(tmp_path / "new")
    fresh.write("DELETE FROM images")  # a library darktable has just created
    reader = LibraryReader(fresh.paths)
    sync = DarktableSync(catalogue.db)
    assert sync.apply(reader.read()).first_sync
    fresh.write(
        "INSERT INTO images (id, group_id, film_id, filename, flags, version, max_version,"
        " history_end) SELECT 1, 1, id, 'IMG_0001.JPG', 1, 0, 0, 0 FROM film_rolls LIMIT 1"
    )
    report = sync.apply(reader.read())
    assert not report.first_sync and report.new == 1
    assert [e.kind for e in _events()] == ["darktable_library_synced", "darktable_imported"]
    # The engine starts again on the same catalogue: nothing is news.
    again = DarktableSync(catalogue.db)
    assert not again.apply(LibraryReader(fresh.paths).read()).first_sync
    assert len(_events()) == 2


def test_a_library_not_written_since_the_last_read_is_not_even_queried(
    synced, darktable, monkeypatch
):
    reader, _ = synced
    assert reader.read() is None  # the sums, once: nothing changed; the stamp is kept

    def no_query(*args):
        raise AssertionError("library.db was queried although it was not written")

    monkeypatch.setattr(poller, "read_coarse_sums", no_query)
    assert reader.read() is None
    darktable.write("UPDATE images SET flags = flags | 8 WHERE id = 1")
    with pytest.raises(AssertionError, match="was queried"):
        reader.read()  # written: it is read again


def test_no_change_stamp_for_a_database_in_wal_mode(darktable):
    assert change_stamp(darktable.paths.library) is not None
    connection = sqlite3.connect(darktable.paths.library)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()
    assert change_stamp(darktable.paths.library) is None  # WAL keeps no change counter
    assert change_stamp(darktable.paths.library.parent / "missing.db") is None


def _darktable_session(base: Path) -> tuple[list[tuple], list[tuple]]:
    """A first sync, then changes in library.db, a sidecar and files, into a fresh catalogue:
    (snapshot rows, darktable events) at the end."""
    from core.store import open_catalogue

    darktable = copy_fixture(base)
    with open_catalogue(base / "catalogue.db") as catalogue:
        scan(catalogue, darktable.photos, workers=1)
        reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
        sync.follow_file_events()
        sync.apply(reader.read())
        darktable.write("UPDATE images SET flags = (flags & ~7) | 5 WHERE id = 6")
        darktable.write("UPDATE images SET flags = flags | 8 WHERE id = 13")
        darktable.write("DELETE FROM images WHERE id = 16")
        _poll(reader, sync)
        sidecar = darktable.wedding("IMG_0007.JPG.xmp")
        time.sleep(0.01)
        sidecar.write_text(sidecar.read_text().replace('xmp:Rating="', 'xmp:Rating="3" x:was="'))
        shutil.copy(darktable.street("DSC_0101.JPG"), darktable.street("DSC_0107.JPG"))
        darktable.street("DSC_0105.JPG").unlink()
        _rescan(catalogue, darktable, sync)
        images = catalogue.db.execute_sql(
            "SELECT darktable_id, stars, rejected, labels, seen_at IS NOT NULL"
            " FROM darktable_image ORDER BY darktable_id"
        ).fetchall()
        events = [
            (kind, path.replace(str(base), "BASE"))
            for kind, path in catalogue.db.execute_sql(
                "SELECT kind, path FROM event WHERE source = 'darktable' ORDER BY id"
            )
        ]
    return images, events


def test_written_one_row_a_transaction_the_snapshot_and_events_are_the_same(tmp_path, monkeypatch):
    """A first sync of a large library is written in transactions of about 0.1 s: the end,
    and the events, are what one transaction made."""
    from core.store import writing

    whole = _darktable_session(tmp_path / "whole")
    monkeypatch.setattr(writing, "WRITE_BUDGET_ROWS", 1)
    pieces = _darktable_session(tmp_path / "pieces")
    assert pieces == whole
    images, events = pieces
    assert len(images) == 16 and len(events) > 4


# --- tag names: data.db where darktable's --configdir put it --------------------------------


def _user_tags(image_id: int) -> list[str]:
    return json.loads(DarktableImage.get(DarktableImage.darktable_id == image_id).tags)


@pytest.mark.parametrize(
    "where",
    ["beside-library", "sibling-config-folder", "default-config-folder"],
)
def test_data_db_is_found_where_darktable_keeps_it(catalogue, darktable, where, tmp_path):
    """darktable run with --library lib/library.db --configdir config/ keeps data.db (and
    darktablerc) in config/; run with --library alone, in its default config folder."""
    library_db = darktable.paths.library
    data = darktable.paths.data
    if where == "beside-library":
        shutil.move(data, library_db.parent / "data.db")
    elif where == "sibling-config-folder":
        (data.parent / "darktablerc").write_text("database=library.db\n")
    else:
        default = Path(os.environ["XDG_CONFIG_HOME"]) / "darktable"
        default.mkdir(parents=True)
        shutil.move(data, default / "data.db")
        (default / "darktablerc").write_text("database=library.db\n")
    paths = LibraryPaths.beside(library_db)
    state, reason = poller.sync_once(catalogue.db, paths, explicit=True)
    assert (state, reason) == ("ok", None)
    assert _user_tags(2) == ["portfolio", "wedding|ceremony"]


def test_no_data_db_is_degraded_with_the_reason_and_names_learnt_later_replace_ids(
    catalogue, darktable
):
    config_data = darktable.paths.data
    hidden = config_data.with_name("elsewhere.db")
    shutil.move(config_data, hidden)  # no data.db anywhere shootwatch can know of
    paths = LibraryPaths.beside(darktable.paths.library)
    reader, sync = LibraryReader(paths), DarktableSync(catalogue.db)
    read = reader.read()
    sync.apply(read)
    assert read.problem is not None
    assert "data.db" in read.problem and "darktable.data" in read.problem
    assert all(tag.startswith("#") for tag in _user_tags(2))
    state, reason = poller.poll_now(paths, True, DarktableSync(catalogue.db).apply)
    assert state == "degraded" and "data.db" in reason
    # darktable's config folder turns up (or is named): the next poll learns the names, with
    # no change in library.db, and no "tagged" event for what is not a change of tags
    shutil.move(hidden, config_data)
    (config_data.parent / "darktablerc").write_text("database=library.db\n")
    read = reader.read()
    assert read is not None and read.problem is None
    sync.apply(read)
    assert _user_tags(2) == ["portfolio", "wedding|ceremony"]
    assert "darktable|exported" in json.loads(
        DarktableImage.get(DarktableImage.darktable_id == 2).internal_tags
    )
    assert _events("tagged") == []


def test_a_tag_renamed_in_darktable_is_renamed_here(synced, darktable):
    reader, sync = synced
    connection = sqlite3.connect(darktable.paths.data)
    with connection:
        connection.execute("UPDATE tags SET name = 'folio' WHERE name = 'portfolio'")
    connection.close()
    sync.apply(reader.read())
    assert _user_tags(2) == ["folio", "wedding|ceremony"]
