"""The darktable reader against a real darktable 4.2 library: every image of the fixture's
table classified as darktable classifies it, reads that leave no transaction open, and libraries
that are damaged, from another version, or missing their data.db."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import core.darktable.library as library
from core.darktable.facts import is_altered, sidecar_images, sidecar_name, unix_time
from core.darktable.library import (
    LibraryPaths,
    LibraryUnavailable,
    read_coarse_sums,
    read_film_rolls,
    read_fine_sums,
    read_images,
    read_schema,
    read_tag_names,
)
from core.darktable.sidecar import SidecarError, read_sidecar
from core.darktable.state import from_library
from tests.darktable_fixture import DarktableCopy, copy_fixture

# id: (file, version, stars, rejected, labels, user tags, altered, exported, changed after export)
EXPECTED = {
    1: ("IMG_0001.JPG", 0, 1, False, [], [], False, False, False),
    2: ("IMG_0002.JPG", 0, 4, False, ["red"], ["portfolio", "wedding|ceremony"], True, True, False),
    3: ("IMG_0003.JPG", 0, 3, False, ["yellow"], ["wedding|ceremony"], True, False, False),
    4: ("IMG_0004.JPG", 0, 5, False, ["green", "blue"], ["people|bride", "wedding|portraits"],
        True, True, False),
    5: ("IMG_0005.JPG", 0, 0, False, ["purple"], [], False, True, False),
    6: ("IMG_0006.JPG", 0, 2, False, [], [], False, False, False),
    7: ("IMG_0007.JPG", 0, 0, False, [], ["wedding|details"], False, False, False),
    8: ("IMG_0008.JPG", 0, 1, False, [], [], False, False, False),
    9: ("IMG_0009.JPG", 0, 0, True, [], [], False, False, False),
    10: ("IMG_0010.JPG", 0, 3, True, [], [], False, False, False),
    11: ("DSC_0101.JPG", 0, 1, False, [], [], False, False, False),
    12: ("DSC_0102.JPG", 0, 4, False, [], ["portfolio", "street"], True, True, True),
    13: ("DSC_0103.JPG", 0, 5, False, ["red"], [], False, False, False),
    14: ("DSC_0104.JPG", 0, 2, False, [], [], True, False, False),
    15: ("DSC_0105.JPG", 0, 1, False, [], [], False, False, False),
    16: ("DSC_0106.JPG", 0, 0, False, [], [], False, False, False),
    17: ("IMG_0003.JPG", 1, 2, False, ["yellow"], ["wedding|ceremony"], True, False, False),
}  # fmt: skip


@pytest.fixture
def darktable(tmp_path: Path) -> DarktableCopy:
    return copy_fixture(tmp_path)


def _states(paths: LibraryPaths) -> dict:
    schema = read_schema(paths)
    tags = read_tag_names(paths)
    return {image.id: from_library(image, tags) for image in read_images(paths, schema)}


def test_every_fixture_image_is_classified_as_darktable_classifies_it(darktable):
    states = _states(darktable.paths)
    assert sorted(states) == sorted(EXPECTED)
    for image_id, expected in EXPECTED.items():
        state = states[image_id]
        filename, version, stars, rejected, labels, tags, altered, exported, reedited = expected
        got = (
            state.filename,
            state.version,
            state.stars,
            state.rejected,
            [
                n
                for n in ("red", "yellow", "green", "blue", "purple")
                if n in state.enrichment()["labels"]
            ],
            list(state.tags),
            state.altered,
            state.exported_at is not None,
            state.changed_after_export,
        )
        assert got == (
            filename,
            version,
            stars,
            rejected,
            labels,
            tags,
            altered,
            exported,
            reedited,
        ), image_id
    # The film roll is the copy's folder, so the path is a real file.
    assert Path(states[2].path) == darktable.wedding("IMG_0002.JPG")
    assert Path(states[2].path).is_file()
    # IMG_0011 is on disk and was never imported.
    assert darktable.wedding("IMG_0011.JPG").is_file()
    assert "IMG_0011.JPG" not in {state.filename for state in states.values()}


def test_opened_in_darkroom_or_exported_unedited_is_not_altered(darktable):
    # history_end > 0 is not an edit: ids 5 (exported without edits) and 8 (opened, unchanged).
    states = _states(darktable.paths)
    assert states[5].history_end > 0 and not states[5].altered
    assert states[8].history_end > 0 and not states[8].altered
    # The history reset (DSC_0105): nothing left, and no change time.
    assert states[15].history_end == 0 and states[15].changed_at is None
    assert not states[15].altered


def test_both_reject_encodings(darktable):
    flags = dict(
        sqlite3.connect(darktable.paths.library).execute("SELECT id, flags FROM images").fetchall()
    )
    assert flags[9] & 7 == 6 and flags[9] & 8  # the Lua API's reject
    assert flags[10] & 7 == 3 and flags[10] & 8  # the r key: stars kept under the reject bit
    states = _states(darktable.paths)
    assert states[9].rejected and states[9].stars == 0
    assert states[10].rejected and states[10].stars == 3


def test_internal_tags_are_kept_apart(darktable):
    states = _states(darktable.paths)
    assert "darktable|exported" in states[2].internal_tags
    assert not any(tag.startswith("darktable|") for s in states.values() for tag in s.tags)
    assert "darktable|exported" not in states[3].internal_tags


def test_timestamps_are_microseconds_since_year_one():
    assert unix_time(62_135_596_800 * 1_000_000) == 0.0
    assert unix_time(-1) is None and unix_time(None) is None and unix_time(0) is None


def test_altered_rule_matches_darktable_including_nulls():
    a, b, c = b"a", b"b", b"c"
    assert not is_altered(a, None, a)  # equal to basic
    assert not is_altered(b, a, a)  # equal to auto
    assert is_altered(a, b, c)
    assert is_altered(None, None, c)  # nothing to compare with: altered (id 4 of the fixture)
    assert not is_altered(a, None, None)  # no current hash: basic


def test_duplicate_sidecar_names_both_ways(darktable):
    assert sidecar_name("IMG_0003.JPG", 0) == "IMG_0003.JPG.xmp"
    assert sidecar_name("IMG_0003.JPG", 1) == "IMG_0003_01.JPG.xmp"
    assert sidecar_images("IMG_0003_01.JPG.xmp") == [("IMG_0003_01.JPG", 0), ("IMG_0003.JPG", 1)]
    assert darktable.wedding("IMG_0003_01.JPG.xmp").is_file()


def test_sidecars_say_what_the_library_says(darktable):
    states = _states(darktable.paths)
    for state in states.values():
        sidecar = read_sidecar(Path(state.folder) / sidecar_name(state.filename, state.version))
        assert sidecar.rejected == state.rejected, state.darktable_id
        if not state.rejected:
            assert sidecar.stars == state.stars, state.darktable_id
        assert sidecar.labels == state.labels, state.darktable_id
        assert sidecar.tags == state.tags, state.darktable_id
        assert sidecar.altered == state.altered, state.darktable_id
        assert unix_time(sidecar.changed) == state.changed_at, state.darktable_id
        assert sidecar.history_end == state.history_end, state.darktable_id


def test_a_sidecar_with_entities_is_refused(tmp_path):
    bomb = tmp_path / "bomb.JPG.xmp"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&b;'
        "</x:xmpmeta>"
    )
    with pytest.raises(SidecarError, match="not valid XMP"):
        read_sidecar(bomb)
    broken = tmp_path / "broken.JPG.xmp"
    broken.write_text("<x:xmpmeta")
    with pytest.raises(SidecarError, match="not valid XMP"):
        read_sidecar(broken)


def _exclusive_lock_is_free(path: Path) -> None:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # fails with "database is locked" if a reader holds on
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_no_read_leaves_a_transaction_open(darktable):
    paths = darktable.paths
    schema = read_schema(paths)
    _exclusive_lock_is_free(paths.library)
    read_film_rolls(paths)
    _exclusive_lock_is_free(paths.library)
    read_coarse_sums(paths, schema)
    _exclusive_lock_is_free(paths.library)
    read_fine_sums(paths, schema)
    _exclusive_lock_is_free(paths.library)
    read_fine_sums(paths, schema, {"images": [0], "tagged_images": [0]})
    _exclusive_lock_is_free(paths.library)
    read_images(paths, schema)
    _exclusive_lock_is_free(paths.library)
    read_images(paths, schema, [2, 3, 17])
    _exclusive_lock_is_free(paths.library)
    read_tag_names(paths)
    _exclusive_lock_is_free(paths.data)


def test_the_lock_check_itself_fails_while_a_reader_holds_a_transaction(darktable):
    # Guard for the test above: it must be able to see an open read transaction.
    reader = sqlite3.connect(darktable.paths.library, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM images").fetchall()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _exclusive_lock_is_free(darktable.paths.library)
    finally:
        reader.close()


def test_reads_never_write(darktable):
    before = darktable.paths.library.read_bytes()
    _states(darktable.paths)
    read_coarse_sums(darktable.paths, read_schema(darktable.paths))
    read_fine_sums(darktable.paths, read_schema(darktable.paths))
    assert darktable.paths.library.read_bytes() == before
    assert not list(darktable.paths.library.parent.glob("library.db-*"))


def test_a_truncated_library_is_reported_as_damaged(darktable):
    data = darktable.paths.library.read_bytes()
    darktable.paths.library.write_bytes(data[: len(data) // 3])
    with pytest.raises(LibraryUnavailable) as caught:
        schema = read_schema(darktable.paths)
        read_images(darktable.paths, schema)
    assert caught.value.state == "corrupt"
    assert str(darktable.paths.library) in caught.value.reason


def test_a_file_that_is_not_a_database_is_reported_as_damaged(darktable):
    darktable.paths.library.write_bytes(b"this is not sqlite" * 1000)
    with pytest.raises(LibraryUnavailable) as caught:
        read_schema(darktable.paths)
    assert caught.value.state == "corrupt"


def test_a_missing_library_is_reported_as_missing(tmp_path):
    paths = LibraryPaths.beside(tmp_path / "nowhere" / "library.db")
    with pytest.raises(LibraryUnavailable) as caught:
        read_schema(paths)
    assert caught.value.state == "missing"
    assert paths.data == tmp_path / "nowhere" / "data.db"


def test_an_unknown_version_is_read_with_a_warning(darktable):
    darktable.write("UPDATE db_info SET value = '99' WHERE key = 'version'")
    darktable.write("ALTER TABLE images ADD COLUMN something_new INTEGER")
    schema = read_schema(darktable.paths)
    assert schema.version == 99
    assert "99" in schema.warning and "not checked" in schema.warning
    assert len(read_images(darktable.paths, schema)) == 17


def test_a_version_without_the_columns_it_needs_is_refused_clearly(darktable):
    darktable.write("UPDATE db_info SET value = '12' WHERE key = 'version'")
    darktable.write("ALTER TABLE images RENAME COLUMN flags TO old_flags")
    with pytest.raises(LibraryUnavailable) as caught:
        read_schema(darktable.paths)
    assert caught.value.state == "unsupported"
    assert "images.flags" in caught.value.reason


def test_a_version_without_optional_tables_still_reads(darktable):
    darktable.write("DROP TABLE history_hash")
    darktable.write("ALTER TABLE images DROP COLUMN export_timestamp")
    schema = read_schema(darktable.paths)
    states = {i.id: from_library(i, {}) for i in read_images(darktable.paths, schema)}
    assert len(states) == 17
    assert not any(state.altered for state in states.values())  # unknown, not invented
    assert all(state.exported_at is None for state in states.values())
    read_coarse_sums(darktable.paths, schema)
    read_fine_sums(darktable.paths, schema)


def test_a_missing_data_db_is_an_error_of_its_own(darktable):
    darktable.paths.data.unlink()
    schema = read_schema(darktable.paths)
    assert len(read_images(darktable.paths, schema)) == 17
    with pytest.raises(LibraryUnavailable) as caught:
        read_tag_names(darktable.paths)
    assert caught.value.state == "missing"


def test_a_library_darktable_keeps_locked_is_reported_as_locked(darktable):
    writer = sqlite3.connect(darktable.paths.library, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # darktable in the middle of a long write
    try:
        with pytest.raises(LibraryUnavailable) as caught:
            read_schema(darktable.paths)
        assert caught.value.state == "locked"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert read_schema(darktable.paths).version == 37


def test_large_reads_are_split_into_short_statements(darktable, monkeypatch):
    schema = read_schema(darktable.paths)
    whole = read_images(darktable.paths, schema)
    statements = []
    real_query = library.query
    monkeypatch.setattr(library, "READ_CHUNK", 5)
    monkeypatch.setattr(
        library, "query", lambda *a, **k: statements.append(a) or real_query(*a, **k)
    )
    assert read_images(darktable.paths, schema) == whole
    assert len(statements) == 4  # 5 + 5 + 5 + 2
    some = [1, 3, 4, 9, 10, 11, 17, 99]
    assert [i.id for i in read_images(darktable.paths, schema, some)] == [1, 3, 4, 9, 10, 11, 17]
