"""Every kind of change darktable makes to library.db, to one image, to a whole bucket of ids and
to images scattered over the library, is seen by the very next poll: after it, what shootwatch
knows of each image is what a fresh full read says."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from core.darktable.facts import ALTERED_SQL, darktable_time
from core.darktable.library import COARSE_BITS, read_schema
from core.darktable.poller import LibraryReader
from core.darktable.sync import DarktableSync
from tests.darktable_fixture import DarktableCopy, copy_fixture
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # each poll's changes written to a catalogue on either back end

COPIES = 60  # of the fixture's 17 images: 1,020 images
PER_IMAGE_TABLES = {  # darktable's rows per image, copied with their image
    "history_hash": "imgid",
    "color_labels": "imgid",
    "tagged_images": "imgid",
    "history": "imgid",
}
BUCKET = range(320, 384)  # 64 ids changed together: in one bucket of the first pass
SEED = 19


def grow(darktable: DarktableCopy, copies: int) -> int:
    """The fixture's images (and their film rolls and rows) copied until there are ``copies``
    times as many, ids shifted by the fixture's largest id per copy; returns the images."""
    connection = sqlite3.connect(darktable.paths.library, isolation_level=None)
    try:
        image_stride = connection.execute("SELECT max(id) FROM images").fetchone()[0]
        roll_stride = connection.execute("SELECT max(id) FROM film_rolls").fetchone()[0]
        connection.execute("BEGIN IMMEDIATE")

        def copy(table: str, shifted: dict[str, str], original: str) -> None:
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            values = ", ".join(shifted.get(column, column) for column in columns)
            connection.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values}"
                f" FROM {table}, temp.copies WHERE {original} ORDER BY k"
            )

        connection.execute("CREATE TEMP TABLE copies (k INTEGER PRIMARY KEY)")
        connection.executemany(
            "INSERT INTO temp.copies VALUES (?)", [(k,) for k in range(1, copies)]
        )
        rolls = {"id": f"id + {roll_stride} * k", "folder": "folder || '_' || k"}
        copy("film_rolls", rolls, f"id <= {roll_stride}")
        shifted = {
            "id": f"id + {image_stride} * k",
            "group_id": f"group_id + {image_stride} * k",
            "film_id": f"film_id + {roll_stride} * k",
        }
        copy("images", shifted, f"id <= {image_stride}")
        for table, column in PER_IMAGE_TABLES.items():
            copy(table, {column: f"{column} + {image_stride} * k"}, f"{column} <= {image_stride}")
        connection.execute("COMMIT")
        return connection.execute("SELECT count(*) FROM images").fetchone()[0]
    finally:
        connection.close()


def write(darktable: DarktableCopy, change: Callable[[sqlite3.Connection], None]) -> None:
    """One write transaction, as darktable makes them."""
    connection = sqlite3.connect(darktable.paths.library, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        change(connection)
        connection.execute("COMMIT")
    finally:
        connection.close()


# --- the kinds of change, each to the images given ----------------------------------------------


def rate(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany("UPDATE images SET flags = (flags & ~7) | ((flags & 7) % 5 + 1) WHERE id = ?",
                   [(i,) for i in ids])  # fmt: skip


def label(db: sqlite3.Connection, ids: list[int]) -> None:
    for image_id in ids:
        color = image_id % 5
        if not db.execute("DELETE FROM color_labels WHERE imgid = ? AND color = ?",
                          (image_id, color)).rowcount:  # fmt: skip
            db.execute("INSERT INTO color_labels VALUES (?, ?)", (image_id, color))


def tag(db: sqlite3.Connection, ids: list[int]) -> None:
    for image_id in ids:
        has = {t for (t,) in db.execute("SELECT tagid FROM tagged_images WHERE imgid = ?",
                                        (image_id,))}  # fmt: skip
        tag_id = min(set(range(1, 11)) - has)  # a tag data.db names, not on the image yet
        db.execute("INSERT INTO tagged_images VALUES (?, ?, ?)", (image_id, tag_id, 1 << 40))


def untag(db: sqlite3.Connection, ids: list[int]) -> None:
    # Every image of the fixture has tag 1 (darktable|format|jpg).
    db.executemany("DELETE FROM tagged_images WHERE imgid = ? AND tagid = 1", [(i,) for i in ids])


def add_history_step(db: sqlite3.Connection, ids: list[int]) -> None:
    """As darktable's darkroom: a history row, history_end and the change time, the hash."""
    now = darktable_time(1_800_000_000.0)
    for image_id in ids:
        end = db.execute("SELECT history_end FROM images WHERE id = ?", (image_id,)).fetchone()[0]
        db.execute("INSERT INTO history (imgid, num, module, operation, enabled)"
                   " VALUES (?, ?, 1, 'exposure', 1)", (image_id, end))  # fmt: skip
        db.execute("UPDATE images SET history_end = ?, change_timestamp = ? WHERE id = ?",
                   (end + 1, now + image_id, image_id))  # fmt: skip
        db.execute("INSERT OR REPLACE INTO history_hash (imgid, basic_hash, current_hash)"
                   " VALUES (?, X'01', randomblob(16))", (image_id,))  # fmt: skip


def undo_history(db: sqlite3.Connection, ids: list[int]) -> None:
    """The hash darktable writes after the rest, alone: edited becomes not edited, or back."""
    for image_id in ids:
        edited = db.execute(
            f"SELECT {ALTERED_SQL} FROM history_hash h WHERE h.imgid = ?", (image_id,)
        ).fetchone()
        if edited and edited[0]:
            db.execute(
                "UPDATE history_hash SET basic_hash = current_hash WHERE imgid = ?", (image_id,)
            )
        else:
            db.execute(
                "INSERT OR REPLACE INTO history_hash (imgid, basic_hash, current_hash)"
                " VALUES (?, X'01', X'02')",
                (image_id,),
            )


def remove(db: sqlite3.Connection, ids: list[int]) -> None:
    for table, column in (*PER_IMAGE_TABLES.items(), ("images", "id")):
        db.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in ids])


def add(db: sqlite3.Connection, ids: list[int]) -> None:
    """New images at these ids (each a copy of image 2, with its labels and tags)."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(images)")]
    values = ", ".join("?" if column == "id" else column for column in columns)
    for image_id in ids:
        db.execute(f"INSERT INTO images SELECT {values} FROM images WHERE id = 2", (image_id,))
        db.execute("INSERT INTO tagged_images SELECT ?, tagid, position FROM tagged_images"
                   " WHERE imgid = 2", (image_id,))  # fmt: skip
        db.execute("INSERT INTO color_labels VALUES (?, 3)", (image_id,))


def rename_film_roll(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany(
        "UPDATE film_rolls SET folder = folder || '_renamed'"
        " WHERE id = (SELECT film_id FROM images WHERE id = ?)",
        [(i,) for i in ids],
    )


KINDS: dict[str, Callable[[sqlite3.Connection, list[int]], None]] = {
    "rating": rate,
    "colour label": label,
    "tag added": tag,
    "tag removed": untag,
    "history step added": add_history_step,
    "history step undone": undo_history,
    "image removed": remove,
    "image added": add,
    "film roll renamed": rename_film_roll,
}


def chosen(kind: str, count: str, images: int) -> list[int]:
    """The ids changed: one, 64 in one bucket, or 100 scattered over the library (new ids
    for images added: after the last, or in gaps made before the first read)."""
    if kind == "image added":
        if count == "1":
            return [images + 1]
        if count == "64 in one bucket":
            first = ((images >> COARSE_BITS) + 1) << COARSE_BITS
            return list(range(first, first + 64))
        return sorted(random.Random(SEED).sample(range(1, images * 2), 100))
    if count == "1":
        return [BUCKET.start + 17]
    if count == "64 in one bucket":
        assert BUCKET.start >> COARSE_BITS == (BUCKET.stop - 1) >> COARSE_BITS
        return list(BUCKET)
    return sorted(random.Random(SEED).sample(range(1, images + 1), 100))


@pytest.fixture
def library(tmp_path: Path) -> tuple[DarktableCopy, int]:
    darktable = copy_fixture(tmp_path)
    return darktable, grow(darktable, COPIES)


def states(paths) -> dict[int, str]:
    """What a fresh full read says of every image: its signature."""
    read = LibraryReader(paths).read()
    return {state.darktable_id: state.signature for state in read.states}


def assert_noticed(catalogue, darktable: DarktableCopy, images: int, kind: str, ids: list[int]):
    if kind == "image added":  # made room for them before the first read: gaps among the ids
        write(darktable, lambda db: remove(db, [i for i in ids if i <= images]))
    reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
    sync.apply(reader.read())
    before = {i: sync.state(i) for i in ids}
    write(darktable, lambda db: KINDS[kind](db, ids))

    read = reader.read()

    assert read is not None, f"{kind} of {len(ids)} images not seen by the next poll"
    report = sync.apply(read)
    now = states(darktable.paths)
    known = {i: sync.state(i).signature for i in now if sync.state(i) is not None}
    assert known == now  # nothing missed, nothing invented
    assert set(sync._states) == set(now)  # nothing removed is kept
    if kind == "film roll renamed":
        assert read.buckets is None  # a folder renamed: every image read again
        assert report.changed >= len(ids)
        return
    assert read.buckets is not None  # found by the sums, not by a full read
    assert len(read.states) <= 8 * len(ids) + 8  # only the buckets of 8 that moved were read
    if kind == "image removed":
        assert report.removed == len(ids) and all(before[i] is not None for i in ids)
    elif kind == "image added":
        assert report.new == len(ids) and all(before[i] is None for i in ids)
    else:
        assert report.changed == len(ids)


@pytest.mark.parametrize("count", ["1", "64 in one bucket", "100 scattered"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_change_is_seen_by_the_next_poll(catalogue, library, kind, count):
    darktable, images = library
    assert_noticed(catalogue, darktable, images, kind, chosen(kind, count, images))


@pytest.mark.parametrize("count", ["1", "64 in one bucket", "100 scattered"])
@pytest.mark.parametrize("kind", ["colour label", "image removed"])
def test_changes_are_seen_in_a_table_without_an_index_on_its_image_ids(
    catalogue, library, kind, count
):
    """A darktable version without the index on color_labels: the sums group every row."""
    darktable, images = library
    write(darktable, lambda db: db.execute("DROP INDEX color_labels_idx"))
    assert ("color_labels", "imgid") not in read_schema(darktable.paths).keyed
    assert ("images", "id") in read_schema(darktable.paths).keyed
    assert_noticed(catalogue, darktable, images, kind, chosen(kind, count, images))


def test_changes_that_would_cancel_in_a_plain_sum_are_seen(catalogue, library):
    """Two images of one bucket of 8, one a star up and the other a star down, in one write."""
    darktable, _ = library
    reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
    sync.apply(reader.read())
    write(
        darktable,
        lambda db: db.execute("UPDATE images SET flags = (flags & ~7) | 2 WHERE id IN (321, 322)"),
    )
    sync.apply(reader.read())
    write(darktable, lambda db: (
        db.execute("UPDATE images SET flags = (flags & ~7) | 3 WHERE id = 321"),
        db.execute("UPDATE images SET flags = (flags & ~7) | 1 WHERE id = 322"),
    ))  # fmt: skip
    read = reader.read()
    assert read is not None and read.buckets is not None
    report = sync.apply(read)
    assert report.changed == 2
    assert (sync.state(321).stars, sync.state(322).stars) == (3, 1)


def test_a_write_that_changes_no_image_reads_no_image(catalogue, library):
    darktable, _ = library
    reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
    sync.apply(reader.read())
    write(darktable, lambda db: db.execute("INSERT OR REPLACE INTO selected_images VALUES (5)"))
    assert reader.read() is None
    write(darktable, lambda db: (
        db.execute("UPDATE images SET flags = flags + 4096 WHERE id = 400"),
        db.execute("UPDATE images SET flags = flags - 4096 WHERE id = 400"),
    ))  # fmt: skip
    assert reader.read() is None  # changed and changed back in one write: nothing to say


def test_a_film_roll_renamed_to_a_name_of_the_same_length_is_seen(catalogue, library):
    darktable, _ = library
    reader, sync = LibraryReader(darktable.paths), DarktableSync(catalogue.db)
    sync.apply(reader.read())
    write(darktable, lambda db: db.execute(
        "UPDATE film_rolls SET folder = replace(folder, '2024-06-01', '2024-06-02') WHERE id = 3"
    ))  # fmt: skip
    read = reader.read()
    assert read is not None, "a film roll renamed was not seen by the next poll"
    sync.apply(read)
    assert {i: sync.state(i).signature for i in sync._states} == states(darktable.paths)
